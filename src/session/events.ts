/**
 * @module session/events
 * Session events: what the store persists with a per-session sequence number and what the
 * socket sends to browsers, in that order. One union from the store to the React components.
 */
import type { Step, TokenUsage } from '../steps/types.js';
import type { Annotation, BranchRecord, Intervention, SessionRecord, StepLabel } from '../store/types.js';

export type SessionStatus = 'created' | 'running' | 'paused' | 'stopped' | 'finished' | 'failed' | 'interrupted';

/** What the agent is doing now, for the progress header. */
export type AgentActivity =
  | 'starting'
  | 'thinking'
  | 'writing'
  | 'reading_file'
  | 'editing_file'
  | 'running_command'
  | 'listing'
  | 'searching'
  | 'waiting_approval'
  | 'retrying'
  | 'idle';

export type SessionEventBody =
  | { type: 'session'; session: SessionRecord }
  | { type: 'status'; status: SessionStatus; activity: AgentActivity; message?: string }
  /** A step in progress: streamed thinking/text, tool input as it streams, terminal output. */
  | {
      type: 'partial';
      key: string;
      kind: 'thinking' | 'message' | 'tool_input' | 'output';
      text: string;
      tool?: string;
    }
  /** A finished step, already persisted (it replaces the partial with the same key, if any). */
  | { type: 'step'; step: Step; partial_key?: string }
  | { type: 'branch'; branch: BranchRecord }
  /** The branch being followed changed (rollback, branch, or switch): the trace shows this path. */
  | { type: 'head'; branch_id: string; head_step_id: string | null }
  | { type: 'intervention'; intervention: Intervention }
  | { type: 'annotation'; annotation: Annotation }
  | { type: 'label'; label: StepLabel }
  /** An annotator took their PRM label off a step. */
  | { type: 'label_removed'; step_id: string; annotator: string }
  | { type: 'usage'; total: TokenUsage };

export type SessionEvent = SessionEventBody & { seq: number; session_id: string; at: number };

/**
 * @module session/types
 * The controls an annotator has over a running session, as the server and the CLI call them.
 * Each control is refused with a ControlError a user can act on.
 */

import type { CheckpointReader } from '../checkpoints/types.js';
import { PotatoError } from '../errors.js';
import type { ToolCall } from '../steps/types.js';
import type { SessionRecord } from '../store/types.js';
import type { AnnotationOps } from './annotations.js';
import type { SessionCapability } from './driver.js';
import type { SessionEvent, SessionStatus } from './events.js';

export interface RollbackRequest {
  /** Step to roll back to (the workspace and context end after it); null: before step 0. */
  toStepId: string | null;
  reason?: string;
  /** Delivered in the first model request after the rollback. */
  instruction?: string;
  /** An edited tool call that runs first, recorded as the annotator's step. */
  editedToolCall?: Omit<ToolCall, 'id'>;
  /** Keep the old path and start a new branch (default: branching.enabled). */
  branch?: boolean;
  annotator: string;
}

/** An instruction given with a (re)start: recorded before the agent's first model request. */
export interface FirstInstruction {
  text: string;
  annotator: string;
}

export interface SessionControls {
  readonly id: string;
  /** What the session can do beyond these controls (approvals, for a backend that runs its own loop). */
  readonly capability: SessionCapability;
  status(): SessionStatus;
  /** Each control resolves once it is recorded (and shown); a refusal rejects with a ControlError. */
  pause(annotator: string): Promise<void>;
  resume(annotator: string): Promise<void>;
  instruct(text: string, annotator: string): Promise<void>;
  stop(annotator: string): Promise<void>;
  rollback(req: RollbackRequest): Promise<void>;
  /** Resolves when the agent loop has ended (stopped, finished, failed). */
  readonly done: Promise<void>;
}

export type ControlErrorCode =
  | 'disabled' // controls.*_enabled is false
  | 'invalid_state' // e.g. resume while running, any control on an ended session
  | 'reason_required'
  | 'branch_limit'
  | 'not_found'
  | 'bad_request';

export class ControlError extends PotatoError<ControlErrorCode> {
  override name = 'ControlError';
}

export type EventListener = (event: SessionEvent) => void;

/**
 * What the server needs from the engine: start sessions, find them, watch them, annotate and
 * label them (AnnotationOps), read their checkpoints, shut down.
 */
export interface SessionManager extends AnnotationOps {
  /** Start a session for a task; resolves once the session record exists (the agent runs on). */
  start(opts: { task: string; annotator: string }): Promise<SessionControls>;
  /** A live session's controls, or undefined when it is not running in this process. */
  get(sessionId: string): SessionControls | undefined;
  /** Continue an interrupted (or stopped) session from its last checkpoint on its current branch. */
  resumeSession(sessionId: string, annotator: string, instruction?: string): Promise<SessionControls>;
  /**
   * The controls of a session whether or not it runs in this process: an ended session is
   * rebuilt from the store without starting its agent, so it can be rolled back.
   */
  reopen(sessionId: string): Promise<SessionControls>;
  /**
   * The session's checkpoints, read-only (file tree and viewer), running or ended. Shared and
   * closed by the manager: the caller does not close it.
   */
  checkpoints(session: SessionRecord): CheckpointReader;
  /** Live events of a session after they are persisted; returns an unsubscribe function. */
  subscribe(sessionId: string, listener: EventListener): () => void;
  /**
   * Stop every running session and save it (SIGINT/SIGTERM), recorded as a shutdown with this
   * reason (not as an annotator's stop).
   */
  shutdown(reason?: string): Promise<void>;
}

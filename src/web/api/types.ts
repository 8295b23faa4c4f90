/**
 * @module web/api/types
 * The shapes the UI receives from the server (docs/api.md), built from the project's own
 * types so the server and the browser share one event union.
 */
import type { AnnotationScheme, LiveCodingAgentConfig } from '../../config/schema.ts';
import type { CutField, WireStep } from '../../server/wire.ts';
import type { SessionEvent, SessionStatus } from '../../session/events.ts';
import type { StepPayload, StepType, TokenUsage, ToolCall } from '../../steps/types.ts';
import type {
  Annotation,
  BranchRecord,
  Intervention,
  SessionRecord,
  StepLabel,
  StepLabelValue,
} from '../../store/types.ts';

/**
 * A step as the server sends it: large text fields may be previews (`payload_cut`, with the
 * full sizes in `cut_fields`); `api.step` fetches the whole step.
 */
export type Step = WireStep;

export type {
  Annotation,
  AnnotationScheme,
  BranchRecord,
  CutField,
  Intervention,
  SessionEvent,
  SessionRecord,
  SessionStatus,
  StepLabel,
  StepLabelValue,
  StepPayload,
  StepType,
  TokenUsage,
  ToolCall,
};

export interface UiConfig {
  project_name: string;
  backend: string;
  controls: LiveCodingAgentConfig['controls'];
  branching: LiveCodingAgentConfig['branching'];
  streaming: LiveCodingAgentConfig['streaming'];
  annotation_schemes: AnnotationScheme[];
}

/** A session in the list, with its counts so the list needs no extra request. */
export type { SessionSummary } from '../../server/summaries.ts';

export interface SessionSnapshot {
  session: SessionRecord;
  steps: Step[];
  branches: BranchRecord[];
  interventions: Intervention[];
  annotations: Annotation[];
  labels: StepLabel[];
  /** Every status the session took, with when: what its elapsed time counts (ProgressHeader). */
  status_changes: { at: number; status: SessionStatus }[];
  last_seq: number;
}

export interface RollbackBody {
  to_step_id: string | null;
  reason?: string;
  instruction?: string;
  edited_tool_call?: { name: string; input: Record<string, unknown> };
  branch?: boolean;
}

/**
 * A tool call waiting for the annotator (a backend that runs its own loop, permission_mode ask/restricted):
 * the `PendingApproval` of src/session/driver.ts, restated here because that module
 * pulls in Node types the browser build does not have.
 */
export interface PendingApproval {
  call_id: string;
  tool: string;
  input: Record<string, unknown>;
  /** The same words as the waiting_approval status message ("Bash wants to run: …"). */
  description: string;
  since: number;
}

/** POST /api/sessions/:id/approvals/:callId */
export interface ApprovalBody {
  allow: boolean;
  /** The input as edited; the tool runs with it. */
  input?: Record<string, unknown>;
  /** Told to the agent when the call is denied. */
  message?: string;
}

/** The content of an `approval` intervention (JSON). */
export interface ApprovalRecord {
  call_id: string;
  tool: string;
  allow: boolean;
  input?: Record<string, unknown>;
  message?: string;
}

/** GET /api/sessions/:id/result */
export interface SessionResult {
  workspace: string;
  base_commit: string | null;
  branches: { name: string; git_log: string; patch_url: string; apply_command: string }[];
}

/** GET /api/lead/sessions */
export interface LeadOverview {
  annotators: { annotator: string; sessions: number; rated: number; fully_labelled: number }[];
  sessions: import('../../server/summaries.ts').SessionSummary[];
  export_formats: string[];
}

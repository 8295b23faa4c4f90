/**
 * @module steps/types
 * The step: one agent action, the unit of everything else (trace, checkpoints, labels, exports).
 * A session is a tree of steps (parent pointers); a branch is a path from the root to a leaf.
 */

export type StepType =
  | 'thinking'
  | 'message'
  | 'file_read'
  | 'file_edit'
  | 'file_write'
  | 'bash_command'
  | 'directory_list'
  | 'file_search'
  | 'error';

/** Who produced the step: the agent, or the annotator (an edited tool call at a rollback). */
export type StepAuthor = 'agent' | 'annotator';

export interface ToolCall {
  /** Provider's tool-call id; the scripted and raw backends make one up when the provider has none. */
  id: string;
  /** One of the tool names in tools/specs.ts (file_read, file_edit, …). */
  name: string;
  input: Record<string, unknown>;
}

/** A closed range of 1-based line numbers. */
export type LineRange = [start: number, end: number];

/** Typed payload per step type. The exporters copy these fields as they are. */
export type StepPayload =
  | { type: 'thinking'; content: string; signature?: string }
  | { type: 'message'; content: string }
  | { type: 'file_read'; path: string; content: string; start_line: number; truncated: boolean }
  | {
      type: 'file_edit' | 'file_write';
      path: string;
      /** Unified diff of the change, paths relative to the workspace. */
      diff: string;
      /** Line ranges in the new file that the edit touched (for the checkpoint message). */
      modified_lines: LineRange[];
      created: boolean;
    }
  | {
      type: 'bash_command';
      command: string;
      output: string;
      exit_code: number | null;
      timed_out: boolean;
      truncated: boolean;
      /** Set when the command policy refused the command: nothing ran. */
      refused?: string;
    }
  | { type: 'directory_list'; path: string; entries: string[]; truncated: boolean }
  | { type: 'file_search'; pattern: string; path: string; matches: SearchMatch[]; truncated: boolean }
  | { type: 'error'; kind: ErrorKind; message: string };

export type ErrorKind =
  | 'tool_error' // a tool failed (file missing, edit text not found, path outside the workspace…)
  | 'bad_tool_call' // the model produced a malformed or unknown tool call
  | 'backend' // the model backend failed (unreachable, 401, …)
  | 'timeout' // sandbox.timeout reached
  | 'internal';

export interface SearchMatch {
  path: string;
  line: number;
  text: string;
}

export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
}

export interface Step {
  id: string;
  session_id: string;
  /** Parent step id; null only for the root of the tree. */
  parent_id: string | null;
  /** Index along its path from the root: step 0 is the first agent action. */
  step_idx: number;
  type: StepType;
  payload: StepPayload;
  author: StepAuthor;
  /** The model turn this step came from (several steps share one turn: thinking, text, tool calls). */
  turn_id: string | null;
  /** For tool steps: the call as the model made it, and the result text sent back to it. */
  tool_call: ToolCall | null;
  tool_result: string | null;
  tool_is_error: boolean;
  /** Commit holding the workspace after this step (the parent's when the step changed nothing). */
  checkpoint: string | null;
  /** True when this step made a new checkpoint commit. */
  changed_files: boolean;
  usage: TokenUsage | null;
  started_at: number;
  ended_at: number;
}

/**
 * What the model sees, in order: the task, then each step on the current path, with the
 * annotator's instructions where they were given. Backends turn this into their wire format.
 */
export type ContextItem =
  | { kind: 'task'; text: string }
  | { kind: 'instruction'; text: string }
  | { kind: 'step'; step: Step };

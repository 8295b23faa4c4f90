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
  | {
      type: 'thinking';
      content: string;
      /** Anthropic's signature over the thinking; it goes back to the API unchanged. */
      signature?: string;
      /** A redacted_thinking block: encrypted by the provider, shown as "redacted", sent back as it came. */
      redacted?: string;
      /** Set when this streamed in an attempt that failed and was retried: why it failed. Not sent back. */
      retried?: string;
      /** The turn was cut at the token limit while thinking. */
      truncated?: boolean;
    }
  | {
      type: 'message';
      /** The turn's consecutive text blocks, joined as they streamed. */
      content: string;
      /** The model declined (Anthropic stop_reason `refusal`, OpenAI `refusal` text). */
      refusal?: boolean;
      /** The answer was cut at the token limit (stop_reason `max_tokens` / finish_reason `length`). */
      truncated?: boolean;
      /** Sources the text cites, as the provider gave them (web search results, documents). */
      citations?: Citation[];
      retried?: string;
    }
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
      /** Set when the server died while the command ran: `output` is what had streamed by then. */
      cut?: string;
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

/**
 * Tokens as the provider finally reported them for one model turn (or summed over many).
 * `input_tokens` excludes the cached parts, which are counted apart (Anthropic's convention;
 * OpenAI's cached prompt tokens become `cache_read_input_tokens`).
 */
export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
  /** Input written to the prompt cache (Anthropic). Absent when the provider reports none. */
  cache_creation_input_tokens?: number;
  /** Input read from the prompt cache. Absent when the provider reports none. */
  cache_read_input_tokens?: number;
}

/** All input the model read: uncached, written to and read from the cache. */
export function inputTotal(u: TokenUsage): number {
  return u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
}

/** Adds two usages field by field; a cache field appears when either side has it. */
export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  const out: TokenUsage = {
    input_tokens: a.input_tokens + b.input_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
  };
  for (const k of ['cache_creation_input_tokens', 'cache_read_input_tokens'] as const) {
    if (a[k] !== undefined || b[k] !== undefined) out[k] = (a[k] ?? 0) + (b[k] ?? 0);
  }
  return out;
}

/** A source a text cites, as the provider sent it; `url` and `title` are what the trace links. */
export interface Citation {
  /** Provider's citation type: web_search_result_location, char_location, url_citation… */
  type: string;
  url?: string;
  title?: string;
  cited_text?: string;
  [field: string]: unknown;
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

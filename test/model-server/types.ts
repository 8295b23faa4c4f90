/**
 * @module test/model-server/types
 * The script a test feeds the model server: provider-neutral turns and failure injections,
 * and the requests the server recorded. Each provider module renders a turn in its own wire format.
 */

export type Provider = 'anthropic' | 'ollama' | 'openai';

export interface ScriptedToolCall {
  /** Made up when absent (toolu_…, call_…). */
  id?: string;
  name: string;
  input?: Record<string, unknown>;
  /** Sent as the arguments text instead of JSON.stringify(input): for malformed tool calls. */
  raw_arguments?: string;
}

/** One model turn: thinking, then text, then tool calls, as a model produces them. */
export interface ScriptedTurn {
  thinking?: string;
  /** Anthropic thinking signature; made up when thinking is set and this is absent. */
  signature?: string;
  text?: string;
  tool_calls?: ScriptedToolCall[];
  /** Defaults to tool_use when there are tool calls, end_turn otherwise. */
  stop_reason?: 'end_turn' | 'tool_use' | 'max_tokens';
  usage?: { input_tokens: number; output_tokens: number };
  /** Deltas are cut into pieces of this many characters (default 8): streaming gets exercised. */
  chunk_size?: number;
  /** Pause between wire chunks, to watch a stream arrive or abort it midway. */
  chunk_delay_ms?: number;
}

/** A failure answered instead of a turn, with the provider's own error body. */
export interface ScriptedFailure {
  status: 400 | 401 | 403 | 404 | 429 | 500 | 503 | 529;
  message?: string;
  /** Seconds for a Retry-After header (429). */
  retry_after?: number;
}

/** Replays a recorded stream from fixtures/<provider>/<name>.chunks.txt as it is. */
export interface FixtureReplay {
  fixture: string;
}

export type QueueItem = ScriptedTurn | { fail: ScriptedFailure } | FixtureReplay;

export interface RecordedRequest {
  provider: Provider | 'unknown';
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON body, or the raw text when it is not JSON, or null when there is none. */
  body: unknown;
}

/** What a provider module renders: the HTTP answer for one queued item. */
export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  /** Written one after another, with the turn's chunk_delay_ms between them. */
  chunks: string[];
  delay_ms?: number;
}

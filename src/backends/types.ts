/**
 * @module backends/types
 * The AgentBackend seam: a conversation plus tool specs in, a stream of typed model events out.
 * The controller owns the loop, the tools and the records, so pause, instruction and rollback
 * behave the same for every backend that exposes raw model turns.
 */

import { PotatoError } from '../errors.js';
import type { Citation, ContextItem, TokenUsage } from '../steps/types.js';

/** JSON-schema tool description, provider-neutral. */
export interface ToolSpec {
  name: string;
  description: string;
  input_schema: { type: 'object'; properties: Record<string, unknown>; required?: string[] };
}

/**
 * Why a model turn ended, in the provider-neutral words the controller acts on:
 * - `tool_calls`: run the calls and ask again; `end_turn`: the agent is done;
 * - `max_tokens`: the answer was cut at the configured limit; `context_window`: the conversation
 *   no longer fits the model; `refusal`: the model declined; `content_filter`: the provider's
 *   filter cut the answer; `stop`: any other provider reason (stop sequence, pause).
 */
export type FinishReason =
  | 'tool_calls'
  | 'end_turn'
  | 'max_tokens'
  | 'context_window'
  | 'refusal'
  | 'content_filter'
  | 'stop';

/**
 * The stream parts of one model turn, after the AI SDK's: every text, thinking and tool-input
 * part carries the `id` of its block, each block has start, deltas and an end, and a failed
 * attempt is an `error` part. A switch over `type` is exhaustive. `src/backends/parts.ts` opens
 * and closes blocks for the backends and assembles them again for the controller.
 */
export type ModelEvent =
  | { type: 'thinking-start'; id: string }
  | { type: 'thinking-delta'; id: string; text: string }
  /** `signature` and `redacted` are the provider's opaque data, sent back to it unchanged. */
  | { type: 'thinking-end'; id: string; signature?: string; redacted?: string }
  /** `refusal`: the text of this block is the model declining (OpenAI's `refusal` deltas). */
  | { type: 'text-start'; id: string; refusal?: boolean }
  | { type: 'text-delta'; id: string; text: string }
  | { type: 'text-citation'; id: string; citation: Citation }
  | { type: 'text-end'; id: string }
  | { type: 'tool-input-start'; id: string; name: string }
  | { type: 'tool-input-delta'; id: string; delta: string }
  | { type: 'tool-input-end'; id: string }
  /** A complete tool call; `input` is the parsed object, or `error` says why it could not be parsed. */
  | { type: 'tool-call'; id: string; name: string; input: Record<string, unknown>; error?: string }
  /** The turn's usage so far, as the provider reports it (cumulative: the last one counts). */
  | { type: 'usage'; usage: TokenUsage }
  /** Transient condition worth showing (e.g. "rate limited, retrying in 2 s"); not a failure. */
  | { type: 'status'; message: string }
  /**
   * The attempt failed after it streamed: what it streamed is void, a new attempt follows
   * (a failure that ends the turn is thrown as a BackendError instead).
   */
  | { type: 'error'; message: string }
  | { type: 'finish'; reason: FinishReason };

export interface TurnRequest {
  system: string;
  context: ContextItem[];
  tools: ToolSpec[];
  signal: AbortSignal;
}

export interface AgentBackend {
  /** Config name: scripted | ollama | anthropic | openai | claude_agent_sdk. */
  readonly name: string;
  /** Preflight at session start: throws BackendError with an actionable message. */
  check(): Promise<void>;
  /** One model turn. Throws BackendError for failures that end the turn. */
  turn(req: TurnRequest): AsyncIterable<ModelEvent>;
}

/** A backend failure a user can act on (unreachable host, missing model, bad key…). */
export class BackendError extends PotatoError<
  'unreachable' | 'model_missing' | 'auth' | 'rate_limited' | 'server' | 'bad_response' | 'config'
> {
  override name = 'BackendError';
}

/**
 * @module backends/types
 * The AgentBackend seam: a conversation plus tool specs in, a stream of typed model events out.
 * The controller owns the loop, the tools and the records, so pause, instruction and rollback
 * behave the same for every backend that exposes raw model turns.
 */
import type { ContextItem, TokenUsage } from '../steps/types.js';

/** JSON-schema tool description, provider-neutral. */
export interface ToolSpec {
  name: string;
  description: string;
  input_schema: { type: 'object'; properties: Record<string, unknown>; required?: string[] };
}

/** Start/delta/end parts, as in the AI SDK's stream parts; the switch over `type` is exhaustive. */
export type ModelEvent =
  | { type: 'thinking-start' }
  | { type: 'thinking-delta'; text: string }
  | { type: 'thinking-end'; signature?: string }
  | { type: 'text-start' }
  | { type: 'text-delta'; text: string }
  | { type: 'text-end' }
  | { type: 'tool-input-start'; id: string; name: string }
  | { type: 'tool-input-delta'; id: string; delta: string }
  /** A complete tool call; `input` is the parsed object, or `error` says why it could not be parsed. */
  | { type: 'tool-call'; id: string; name: string; input: Record<string, unknown>; error?: string }
  | { type: 'usage'; usage: TokenUsage }
  /** Transient condition worth showing (e.g. "rate limited, retrying in 2 s"); not a failure. */
  | { type: 'status'; message: string }
  | { type: 'finish'; reason: 'tool_calls' | 'end_turn' | 'max_tokens' | 'stop' };

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
export class BackendError extends Error {
  constructor(
    message: string,
    readonly code: 'unreachable' | 'model_missing' | 'auth' | 'rate_limited' | 'server' | 'bad_response' | 'config',
  ) {
    super(message);
    this.name = 'BackendError';
  }
}

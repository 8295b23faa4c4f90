/**
 * @module backends/anthropic
 * The Anthropic backend: one streamed Messages API call per model turn, with tool use,
 * extended thinking (deltas and signature) and our own retries on 429/5xx so the annotator
 * sees "rate limited, retrying" instead of a failure. Errors become BackendErrors a user can act on.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { RawConfig } from '../../config/schema.js';
import { readApiKey, redact } from '../api-key.js';
import { parseToolInput, pickTools } from '../context.js';
import { DEFAULT_RETRY, type FailureInfo, openWithRetry, type RetryPolicy, retryAfterFrom } from '../retry.js';
import { type AgentBackend, BackendError, type ModelEvent, type TurnRequest } from '../types.js';
import { toAnthropicMessages } from './messages.js';

export type AnthropicSection = NonNullable<RawConfig['live_coding_agent']['anthropic']>;

export interface AnthropicBackendOptions {
  /** Where api_key_env is looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Backoff timing; maxRetries defaults to the section's max_retries. */
  retry?: Partial<RetryPolicy>;
  /** streaming.show_thinking: extended thinking is requested only when this is on (default true). */
  showThinking?: boolean;
}

const DEFAULT_URL = 'https://api.anthropic.com';

export function createAnthropicBackend(section: AnthropicSection, opts: AnthropicBackendOptions = {}): AgentBackend {
  const env = opts.env ?? process.env;
  const policy: RetryPolicy = { ...DEFAULT_RETRY, maxRetries: section.max_retries, ...opts.retry };
  const baseURL = section.base_url ?? DEFAULT_URL;
  const thinking = section.thinking_budget_tokens > 0 && opts.showThinking !== false;
  if (thinking && section.thinking_budget_tokens >= section.max_tokens) {
    throw new BackendError(
      `anthropic.thinking_budget_tokens (${section.thinking_budget_tokens}) must be less than anthropic.max_tokens ` +
        `(${section.max_tokens}): raise max_tokens or lower the budget.`,
      'config',
    );
  }
  let client: Anthropic | undefined;
  let key: string | undefined;
  const getClient = () => {
    key = readApiKey(env, section.api_key_env, 'The anthropic backend');
    // Our retries, not the SDK's: they report progress as status events.
    client ??= new Anthropic({ apiKey: key, baseURL, maxRetries: 0 });
    return client;
  };
  const fail = (error: unknown) =>
    toBackendError(error, { model: section.model, baseURL, envName: section.api_key_env, key });

  return {
    name: 'anthropic',
    async check() {
      const c = getClient();
      try {
        await c.models.retrieve(section.model);
      } catch (error) {
        throw fail(error);
      }
    },
    async *turn(req: TurnRequest): AsyncGenerator<ModelEvent> {
      const c = getClient();
      const system = section.system_prompt ? `${req.system}\n\n${section.system_prompt}` : req.system;
      const tools = pickTools(req.tools, section.tools).map((t, i, all) => ({
        name: t.name,
        description: t.description,
        input_schema: t.input_schema,
        ...(i === all.length - 1 ? { cache_control: { type: 'ephemeral' as const } } : {}),
      }));
      const messages = toAnthropicMessages(req.context);
      const think = thinking && thinkingAllowed(messages);
      const params: Anthropic.MessageCreateParamsStreaming = {
        model: section.model,
        max_tokens: section.max_tokens,
        system: system ? [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }] : undefined,
        messages,
        tools: tools.length ? tools : undefined,
        stream: true,
        // Extended thinking only accepts the default temperature.
        ...(think
          ? { thinking: { type: 'enabled', budget_tokens: section.thinking_budget_tokens } }
          : { temperature: section.temperature }),
      };
      try {
        const stream = yield* openWithRetry(
          () => c.messages.create(params, { signal: req.signal }),
          failureInfo,
          policy,
          req.signal,
        );
        yield* translate(stream, req.signal);
      } catch (error) {
        if (req.signal.aborted) return;
        throw fail(error);
      }
    },
  };
}

/**
 * With extended thinking on, the API rejects a tool-use continuation whose assistant turn does
 * not start with a signed thinking block (e.g. a tool call the annotator wrote at a rollback):
 * such a turn is asked for without thinking.
 */
function thinkingAllowed(messages: Anthropic.MessageParam[]): boolean {
  const last = [...messages].reverse().find((m) => m.role === 'assistant');
  if (!last || !Array.isArray(last.content)) return true;
  const usesTools = last.content.some((b) => b.type === 'tool_use');
  return !usesTools || last.content[0]?.type === 'thinking';
}

function failureInfo(error: unknown): FailureInfo | null {
  if (error instanceof Anthropic.APIError && typeof error.status === 'number') {
    return { status: error.status, retryAfterSeconds: retryAfterFrom(error.headers) };
  }
  return null;
}

type Block =
  | { kind: 'thinking'; signature: string }
  | { kind: 'text' }
  | { kind: 'tool'; id: string; name: string; json: string }
  | { kind: 'other' };

async function* translate(
  stream: AsyncIterable<Anthropic.RawMessageStreamEvent>,
  signal: AbortSignal,
): AsyncGenerator<ModelEvent> {
  const blocks = new Map<number, Block>();
  const usage = { input_tokens: 0, output_tokens: 0 };
  let stop: string | null = null;
  for await (const event of stream) {
    // Chunks already buffered would still arrive after an abort: nothing after it counts.
    if (signal.aborted) return;
    switch (event.type) {
      case 'message_start': {
        const u = event.message.usage;
        usage.input_tokens = u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
        usage.output_tokens = u.output_tokens;
        break;
      }
      case 'content_block_start': {
        const b = event.content_block;
        if (b.type === 'thinking') {
          blocks.set(event.index, { kind: 'thinking', signature: b.signature ?? '' });
          yield { type: 'thinking-start' };
          if (b.thinking) yield { type: 'thinking-delta', text: b.thinking };
        } else if (b.type === 'text') {
          blocks.set(event.index, { kind: 'text' });
          yield { type: 'text-start' };
          if (b.text) yield { type: 'text-delta', text: b.text };
        } else if (b.type === 'tool_use') {
          blocks.set(event.index, { kind: 'tool', id: b.id, name: b.name, json: '' });
          yield { type: 'tool-input-start', id: b.id, name: b.name };
        } else {
          // redacted_thinking, server tools…: nothing the trace can show.
          blocks.set(event.index, { kind: 'other' });
        }
        break;
      }
      case 'content_block_delta': {
        const block = blocks.get(event.index);
        const d = event.delta;
        if (d.type === 'thinking_delta') yield { type: 'thinking-delta', text: d.thinking };
        else if (d.type === 'signature_delta' && block?.kind === 'thinking') block.signature += d.signature;
        else if (d.type === 'text_delta') yield { type: 'text-delta', text: d.text };
        else if (d.type === 'input_json_delta' && block?.kind === 'tool') {
          if (d.partial_json === '') break;
          block.json += d.partial_json;
          yield { type: 'tool-input-delta', id: block.id, delta: d.partial_json };
        }
        break;
      }
      case 'content_block_stop': {
        const block = blocks.get(event.index);
        if (block?.kind === 'thinking') yield { type: 'thinking-end', signature: block.signature || undefined };
        else if (block?.kind === 'text') yield { type: 'text-end' };
        else if (block?.kind === 'tool') {
          const parsed = parseToolInput(block.json);
          yield {
            type: 'tool-call',
            id: block.id,
            name: block.name,
            input: parsed.input,
            ...(parsed.error ? { error: parsed.error } : {}),
          };
        }
        break;
      }
      case 'message_delta':
        usage.output_tokens = event.usage.output_tokens;
        stop = event.delta.stop_reason;
        break;
      case 'message_stop':
        break;
    }
  }
  if (signal.aborted) return;
  yield { type: 'usage', usage };
  yield { type: 'finish', reason: finishReason(stop) };
}

function finishReason(stop: string | null): 'tool_calls' | 'end_turn' | 'max_tokens' | 'stop' {
  if (stop === 'tool_use') return 'tool_calls';
  if (stop === 'end_turn') return 'end_turn';
  if (stop === 'max_tokens') return 'max_tokens';
  return 'stop';
}

interface ErrorContext {
  model: string;
  baseURL: string;
  envName: string;
  key: string | undefined;
}

/** What the API said, e.g. "not_found_error: model: claude-x". */
function apiMessage(error: InstanceType<typeof Anthropic.APIError>): string {
  const body = error.error as { error?: { type?: string; message?: string } } | undefined;
  const inner = body?.error;
  if (inner?.message) return inner.type ? `${inner.type}: ${inner.message}` : inner.message;
  return error.message;
}

export function toBackendError(error: unknown, ctx: ErrorContext): BackendError {
  if (error instanceof BackendError) return error;
  const make = (message: string, code: BackendError['code']) => new BackendError(redact(message, ctx.key), code);
  if (error instanceof Anthropic.APIConnectionError) {
    return make(
      `nothing answers at ${ctx.baseURL} (${error.cause instanceof Error ? error.cause.message : error.message}): ` +
        'check the network, or anthropic.base_url if you use a proxy.',
      'unreachable',
    );
  }
  if (error instanceof Anthropic.APIError && typeof error.status === 'number') {
    const said = apiMessage(error);
    const status = error.status;
    if (status === 401) {
      return make(
        `the Anthropic API rejected the key in ${ctx.envName} (401 ${said}): set a valid key in ${ctx.envName}.`,
        'auth',
      );
    }
    if (status === 403) return make(`the key in ${ctx.envName} may not use this (403 ${said}).`, 'auth');
    if (status === 404) {
      return make(
        `model ${ctx.model} was not found at ${ctx.baseURL} (404 ${said}): check anthropic.model (e.g. claude-sonnet-4-20250514).`,
        'model_missing',
      );
    }
    if (status === 429)
      return make(`rate limited by the Anthropic API and out of retries (429 ${said}).`, 'rate_limited');
    if (status >= 500) return make(`the Anthropic API failed (${status} ${said}) and retries ran out.`, 'server');
    return make(`the Anthropic API refused the request (${status} ${said}).`, 'bad_response');
  }
  const message = error instanceof Error ? error.message : String(error);
  return make(
    `the Anthropic stream from ${ctx.baseURL} broke (${message}): check the network (and anthropic.base_url if you use a proxy), then continue the session.`,
    'bad_response',
  );
}

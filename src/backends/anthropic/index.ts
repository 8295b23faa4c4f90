/**
 * @module backends/anthropic
 * The Anthropic backend: one streamed Messages API call per model turn, with tool use,
 * extended thinking (deltas and signature) and our own retries on 429/5xx so the annotator
 * sees "rate limited, retrying" instead of a failure. Errors become BackendErrors a user can act on.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { RawConfig } from '../../config/schema.js';
import type { Citation, TokenUsage } from '../../steps/types.js';
import { readApiKey, redact } from '../api-key.js';
import { pickTools } from '../context.js';
import { PartWriter } from '../parts.js';
import { DEFAULT_RETRY, type FailureInfo, type RetryPolicy, retryAfterFrom, streamWithRetry } from '../retry.js';
import { type AgentBackend, BackendError, type FinishReason, type ModelEvent, type TurnRequest } from '../types.js';
import { mergeUsage } from '../usage.js';
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
        yield* streamWithRetry(
          async function* () {
            yield* translate(await c.messages.create(params, { signal: req.signal }), req.signal);
          },
          failureInfo,
          policy,
          req.signal,
        );
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
  const first = last.content[0]?.type;
  return !usesTools || first === 'thinking' || first === 'redacted_thinking';
}

/** Error types the Messages API documents as transient (it sends them as HTTP 500/529 too). */
const TRANSIENT = new Set(['overloaded_error', 'api_error']);

/** The `{type:'error', error:{type, message}}` body of an error, from a response or a stream event. */
function errorBody(error: InstanceType<typeof Anthropic.APIError>): { type?: string; message?: string } | undefined {
  return (error.error as { error?: { type?: string; message?: string } } | undefined)?.error;
}

function failureInfo(error: unknown): FailureInfo | null {
  if (!(error instanceof Anthropic.APIError)) return null;
  if (typeof error.status === 'number')
    return { status: error.status, retryAfterSeconds: retryAfterFrom(error.headers) };
  // An `event: error` inside the stream has no status: its type says whether to retry.
  const body = errorBody(error);
  if (!body?.type) return null;
  return { streamError: { type: body.type, message: body.message ?? '', retryable: TRANSIENT.has(body.type) } };
}

async function* translate(
  stream: AsyncIterable<Anthropic.RawMessageStreamEvent>,
  signal: AbortSignal,
): AsyncGenerator<ModelEvent> {
  const w = new PartWriter();
  /** What each content block index is: its part id, or a tool call's id. */
  const blocks = new Map<number, { kind: 'part' | 'tool' | 'other'; id: string }>();
  let usage: TokenUsage = { input_tokens: 0, output_tokens: 0 };
  let started = false;
  let stop: string | null = null;
  let stopped = false;
  for await (const event of stream) {
    // Chunks already buffered would still arrive after an abort: nothing after it counts.
    if (signal.aborted) return;
    switch (event.type) {
      case 'message_start': {
        // One stream carries one message: a second one is a broken stream, never a continuation.
        if (started) {
          throw new BackendError(
            'the Anthropic stream broke the protocol: a second message_start arrived in the same stream ' +
              `(after ${stopped ? 'message_stop' : 'the first message had begun'}); nothing of it was used. ` +
              'A proxy between Potato Live and the API may be joining responses: check anthropic.base_url.',
            'bad_response',
          );
        }
        started = true;
        usage = mergeUsage(usage, event.message.usage);
        break;
      }
      case 'content_block_start': {
        const b = event.content_block;
        const id = String(event.index);
        if (b.type === 'thinking') {
          blocks.set(event.index, { kind: 'part', id });
          yield* w.start('thinking', id);
          yield* w.delta(id, b.thinking);
          if (b.signature) w.signature(id, b.signature);
        } else if (b.type === 'redacted_thinking') {
          blocks.set(event.index, { kind: 'other', id });
          yield* w.redacted(id, b.data);
        } else if (b.type === 'text') {
          blocks.set(event.index, { kind: 'part', id });
          yield* w.start('text', id);
          yield* w.delta(id, b.text);
          for (const c of b.citations ?? []) yield* w.citation(id, citationOf(c));
        } else if (b.type === 'tool_use') {
          blocks.set(event.index, { kind: 'tool', id: b.id });
          yield* w.toolStart(b.id, b.name);
        } else {
          // Server tools (web search and its results) run at Anthropic: nothing for the controller to run.
          blocks.set(event.index, { kind: 'other', id });
        }
        break;
      }
      case 'content_block_delta': {
        const block = blocks.get(event.index);
        if (!block) break;
        const d = event.delta;
        if (d.type === 'thinking_delta' || d.type === 'text_delta') {
          yield* w.delta(block.id, d.type === 'thinking_delta' ? d.thinking : d.text);
        } else if (d.type === 'signature_delta') w.signature(block.id, d.signature);
        else if (d.type === 'citations_delta') yield* w.citation(block.id, citationOf(d.citation));
        else if (d.type === 'input_json_delta' && block.kind === 'tool') yield* w.toolDelta(block.id, d.partial_json);
        break;
      }
      case 'content_block_stop': {
        const block = blocks.get(event.index);
        if (block?.kind === 'part') yield* w.end(block.id);
        else if (block?.kind === 'tool') yield* w.toolEnd(block.id);
        break;
      }
      case 'message_delta':
        // Its usage is cumulative for the whole message (input and cache counts included when given).
        usage = mergeUsage(usage, event.usage);
        stop = event.delta.stop_reason;
        break;
      case 'message_stop':
        stopped = true;
        break;
    }
  }
  if (signal.aborted) return;
  yield* w.closeAll();
  yield { type: 'usage', usage };
  yield { type: 'finish', reason: finishReason(stop) };
}

/** The citation as the API sent it; a null title is left out. */
function citationOf(c: Anthropic.TextCitation): Citation {
  const out: Citation = { ...(c as unknown as Record<string, unknown>), type: c.type };
  if (out.title === null) delete out.title;
  return out;
}

function finishReason(stop: string | null): FinishReason {
  switch (stop) {
    case 'tool_use':
      return 'tool_calls';
    case 'end_turn':
      return 'end_turn';
    case 'max_tokens':
      return 'max_tokens';
    case 'model_context_window_exceeded':
      return 'context_window';
    case 'refusal':
      return 'refusal';
    default:
      return 'stop';
  }
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
  if (error instanceof Anthropic.APIError) {
    const body = errorBody(error);
    if (body?.type) {
      const said = `${body.type}${body.message ? `: ${body.message}` : ''}`;
      return TRANSIENT.has(body.type)
        ? make(
            `the Anthropic API failed in the middle of its answer (${said}) and retries ran out: ` +
              'the service is busy; continue the session later.',
            'server',
          )
        : make(`the Anthropic API stopped its answer with an error (${said}).`, 'bad_response');
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return make(
    `the Anthropic stream from ${ctx.baseURL} broke (${message}): check the network (and anthropic.base_url if you use a proxy), then continue the session.`,
    'bad_response',
  );
}

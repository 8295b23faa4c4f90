/**
 * @module backends/openai
 * Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, LM Studio, OpenAI itself):
 * streamed turns with tool calls accumulated by index, reasoning_content as thinking where the
 * server streams it, usage from the final chunk, and our retries on 429/5xx.
 */
import OpenAI from 'openai';
import type { RawConfig } from '../../config/schema.js';
import type { TokenUsage } from '../../steps/types.js';
import { readApiKey, redact } from '../api-key.js';
import { pickTools } from '../context.js';
import { PartWriter } from '../parts.js';
import { DEFAULT_RETRY, type FailureInfo, type RetryPolicy, retryAfterFrom, streamWithRetry } from '../retry.js';
import { type AgentBackend, BackendError, type FinishReason, type ModelEvent, type TurnRequest } from '../types.js';
import { toOpenAIMessages } from './messages.js';

export type OpenAISection = NonNullable<RawConfig['live_coding_agent']['openai']>;

export interface OpenAIBackendOptions {
  env?: NodeJS.ProcessEnv;
  retry?: Partial<RetryPolicy>;
}

/** Local servers ignore the key, but the client insists on one. */
const NO_KEY = 'no-key';

export function createOpenAIBackend(section: OpenAISection, opts: OpenAIBackendOptions = {}): AgentBackend {
  const env = opts.env ?? process.env;
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  let client: OpenAI | undefined;
  let key: string | undefined;
  const getClient = () => {
    key = section.api_key_env ? readApiKey(env, section.api_key_env, 'The openai backend') : NO_KEY;
    client ??= new OpenAI({ apiKey: key, baseURL: section.base_url, maxRetries: 0 });
    return client;
  };
  const fail = (error: unknown) => toBackendError(error, section, key);

  return {
    name: 'openai',
    async check() {
      const c = getClient();
      try {
        await c.models.list();
      } catch (error) {
        throw fail(error);
      }
    },
    async *turn(req: TurnRequest): AsyncGenerator<ModelEvent> {
      const c = getClient();
      const system = section.system_prompt ? `${req.system}\n\n${section.system_prompt}` : req.system;
      const tools = pickTools(req.tools, section.tools).map((t) => ({
        type: 'function' as const,
        function: { name: t.name, description: t.description, parameters: t.input_schema },
      }));
      const params: OpenAI.Chat.ChatCompletionCreateParamsStreaming = {
        model: section.model,
        messages: toOpenAIMessages(system, req.context, section.send_reasoning_as),
        ...(section.temperature !== undefined ? { temperature: section.temperature } : {}),
        ...(section.max_tokens_param === 'none' ? {} : { [section.max_tokens_param]: section.max_tokens }),
        stream: true,
        stream_options: { include_usage: true },
        ...(tools.length ? { tools } : {}),
      };
      try {
        yield* streamWithRetry(
          async function* () {
            yield* translate(await c.chat.completions.create(params, { signal: req.signal }), req.signal);
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

/** Error types (or codes) in a stream's error chunk that say "try again". */
const TRANSIENT = new Set(['server_error', 'api_error', 'overloaded_error', 'service_unavailable', 'internal_error']);

/** The `{message, type, code}` object of an error response or of an error chunk in a stream. */
function errorObject(error: InstanceType<typeof OpenAI.APIError>): { message?: string; type?: string; code?: unknown } {
  return error.error && typeof error.error === 'object' ? (error.error as { message?: string; type?: string }) : {};
}

function failureInfo(error: unknown): FailureInfo | null {
  if (!(error instanceof OpenAI.APIError)) return null;
  if (typeof error.status === 'number')
    return { status: error.status, retryAfterSeconds: retryAfterFrom(error.headers) };
  // A chunk `{"error": {...}}` inside the stream has no status: its type or code says whether to retry.
  const body = errorObject(error);
  const type = String(body.type ?? body.code ?? 'error');
  const retryable =
    TRANSIENT.has(type) || TRANSIENT.has(String(body.code)) || (typeof body.code === 'number' && body.code >= 500);
  return { streamError: { type, message: body.message ?? error.message, retryable } };
}

type Delta = OpenAI.Chat.ChatCompletionChunk.Choice.Delta & {
  /** vLLM, llama.cpp, DeepSeek, LM Studio. */
  reasoning_content?: string | null;
  /** OpenRouter, Groq, and vLLM's newer field. */
  reasoning?: string | null;
  /** Web-search models annotate the text with the pages it cites. */
  annotations?: {
    type: string;
    url_citation?: { url: string; title?: string; start_index?: number; end_index?: number };
  }[];
};

interface PendingCall {
  id: string;
  name: string;
  args: string;
  started: boolean;
}

/** Usage with cached prompt tokens apart (OpenAI: prompt_tokens_details; DeepSeek: prompt_cache_hit_tokens). */
function usageOf(u: OpenAI.CompletionUsage & { prompt_cache_hit_tokens?: number }): TokenUsage {
  const cached = u.prompt_tokens_details?.cached_tokens ?? u.prompt_cache_hit_tokens ?? 0;
  const usage: TokenUsage = { input_tokens: u.prompt_tokens - cached, output_tokens: u.completion_tokens };
  if (cached > 0) usage.cache_read_input_tokens = cached;
  return usage;
}

async function* translate(
  stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>,
  signal: AbortSignal,
): AsyncGenerator<ModelEvent> {
  const w = new PartWriter();
  const calls = new Map<number, PendingCall>();
  let finish: string | null = null;
  let refused = false;
  let usage: TokenUsage | null = null;

  for await (const chunk of stream) {
    if (signal.aborted) return;
    if (chunk.usage) usage = usageOf(chunk.usage);
    const choice = chunk.choices[0];
    if (!choice) continue;
    const delta = choice.delta as Delta;
    yield* w.write('thinking', delta.reasoning_content ?? delta.reasoning ?? '');
    yield* w.write('text', delta.content ?? '');
    if (delta.refusal) {
      refused = true;
      yield* w.write('refusal', delta.refusal);
    }
    for (const a of delta.annotations ?? []) {
      if (a.type === 'url_citation' && a.url_citation) yield* w.citeCurrent({ type: a.type, ...a.url_citation });
    }
    for (const part of delta.tool_calls ?? []) {
      yield* w.closeCurrent();
      let call = calls.get(part.index);
      if (!call) {
        call = { id: part.id ?? `call_${part.index}_${Date.now().toString(36)}`, name: '', args: '', started: false };
        calls.set(part.index, call);
      }
      if (part.id && !call.started) call.id = part.id;
      if (part.function?.name) call.name += part.function.name;
      const args = part.function?.arguments ?? '';
      // Some servers send the name after the first arguments: start once the name is known.
      if (!call.started && call.name) {
        call.started = true;
        yield* w.toolStart(call.id, call.name);
        yield* w.toolDelta(call.id, call.args + args);
      } else if (call.started) {
        yield* w.toolDelta(call.id, args);
      }
      call.args += args;
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  if (signal.aborted) return;
  yield* w.closeAll();
  for (const call of [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c)) {
    if (!call.started) yield* w.toolStart(call.id, '');
    yield* w.toolEnd(call.id);
  }
  if (usage) yield { type: 'usage', usage };
  yield { type: 'finish', reason: finishReason(finish, calls.size > 0, refused) };
}

function finishReason(reason: string | null, hadCalls: boolean, refused: boolean): FinishReason {
  if (reason === 'length') return 'max_tokens';
  if (reason === 'content_filter') return 'content_filter';
  if (refused) return 'refusal';
  // Several local servers answer "stop" even when the turn ends in tool calls.
  if (hadCalls || reason === 'tool_calls' || reason === 'function_call') return 'tool_calls';
  if (reason === 'stop' || reason === null) return 'end_turn';
  return 'stop';
}

function toBackendError(error: unknown, section: OpenAISection, key: string | undefined): BackendError {
  if (error instanceof BackendError) return error;
  const make = (message: string, code: BackendError['code']) => new BackendError(redact(message, key), code);
  const url = section.base_url;
  if (error instanceof OpenAI.APIConnectionError) {
    return make(
      `nothing answers at ${url}: is the server (vLLM, llama.cpp, LM Studio…) running, and is openai.base_url right?`,
      'unreachable',
    );
  }
  if (error instanceof OpenAI.APIError && typeof error.status === 'number') {
    const said =
      error.error && typeof error.error === 'object' && 'message' in error.error
        ? String(error.error.message)
        : error.message;
    const status = error.status;
    if (status === 400 && /unsupported (parameter|value)/i.test(said)) {
      return make(`${url} refused the request (400 ${said}): ${unsupportedHint(said)}.`, 'bad_response');
    }
    if (status === 401 || status === 403) {
      const hint = section.api_key_env
        ? `set a valid key in ${section.api_key_env}`
        : 'the server wants a key: name its environment variable in openai.api_key_env';
      return make(`${url} refused the request (${status} ${said}): ${hint}.`, 'auth');
    }
    if (status === 404) {
      return make(
        `model ${section.model} was not found at ${url} (404 ${said}): check openai.model against ${url}/models.`,
        'model_missing',
      );
    }
    if (status === 429) return make(`rate limited by ${url} and out of retries (429 ${said}).`, 'rate_limited');
    if (status >= 500) return make(`${url} failed (${status} ${said}) and retries ran out.`, 'server');
    return make(`${url} refused the request (${status} ${said}).`, 'bad_response');
  }
  if (error instanceof OpenAI.APIError) {
    const info = failureInfo(error)?.streamError;
    if (info) {
      return info.retryable
        ? make(
            `${url} failed in the middle of its answer (${info.type}: ${info.message}) and retries ran out: continue the session later.`,
            'server',
          )
        : make(`${url} stopped its answer with an error (${info.type}: ${info.message}).`, 'bad_response');
    }
  }
  return make(
    `the stream from ${url} broke (${error instanceof Error ? error.message : String(error)}): check that the server is still running and reachable, then continue the session.`,
    'bad_response',
  );
}

/** What to change in the config when the server rejects a parameter we sent. */
function unsupportedHint(said: string): string {
  if (/max_completion_tokens/.test(said) && /'max_tokens'/.test(said)) {
    return 'set openai.max_tokens_param: max_completion_tokens';
  }
  if (/'max_completion_tokens'/.test(said)) return 'set openai.max_tokens_param: max_tokens (or none)';
  if (/temperature/.test(said)) return 'remove openai.temperature from the config, so the model uses its default';
  if (/reasoning/.test(said)) return 'set openai.send_reasoning_as: none (or the field this server reads)';
  return 'check the openai section against what this server accepts (docs/backends.md lists each server)';
}

/**
 * @module backends/openai
 * Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, LM Studio, OpenAI itself):
 * streamed turns with tool calls accumulated by index, reasoning_content as thinking where the
 * server streams it, usage from the final chunk, and our retries on 429/5xx.
 */
import OpenAI from 'openai';
import type { RawConfig } from '../../config/schema.js';
import { readApiKey, redact } from '../api-key.js';
import { parseToolInput, pickTools } from '../context.js';
import { DEFAULT_RETRY, type FailureInfo, openWithRetry, type RetryPolicy, retryAfterFrom } from '../retry.js';
import { type AgentBackend, BackendError, type ModelEvent, type TurnRequest } from '../types.js';
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
        messages: toOpenAIMessages(system, req.context),
        temperature: section.temperature,
        max_tokens: section.max_tokens,
        stream: true,
        stream_options: { include_usage: true },
        ...(tools.length ? { tools } : {}),
      };
      try {
        const stream = yield* openWithRetry(
          () => c.chat.completions.create(params, { signal: req.signal }),
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

function failureInfo(error: unknown): FailureInfo | null {
  if (error instanceof OpenAI.APIError && typeof error.status === 'number') {
    return { status: error.status, retryAfterSeconds: retryAfterFrom(error.headers) };
  }
  return null;
}

interface PendingCall {
  id: string;
  name: string;
  args: string;
  started: boolean;
}

async function* translate(
  stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>,
  signal: AbortSignal,
): AsyncGenerator<ModelEvent> {
  let open: 'thinking' | 'text' | null = null;
  const calls = new Map<number, PendingCall>();
  let finish: string | null = null;
  let usage: { input_tokens: number; output_tokens: number } | null = null;

  function* switchTo(kind: 'thinking' | 'text' | null): Generator<ModelEvent> {
    if (open === kind) return;
    if (open === 'thinking') yield { type: 'thinking-end' };
    if (open === 'text') yield { type: 'text-end' };
    if (kind === 'thinking') yield { type: 'thinking-start' };
    if (kind === 'text') yield { type: 'text-start' };
    open = kind;
  }

  for await (const chunk of stream) {
    if (signal.aborted) return;
    if (chunk.usage) usage = { input_tokens: chunk.usage.prompt_tokens, output_tokens: chunk.usage.completion_tokens };
    const choice = chunk.choices[0];
    if (!choice) continue;
    const delta = choice.delta as OpenAI.Chat.ChatCompletionChunk.Choice.Delta & {
      reasoning_content?: string | null;
      reasoning?: string | null;
    };
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (reasoning) {
      yield* switchTo('thinking');
      yield { type: 'thinking-delta', text: reasoning };
    }
    if (delta.content) {
      yield* switchTo('text');
      yield { type: 'text-delta', text: delta.content };
    }
    for (const part of delta.tool_calls ?? []) {
      yield* switchTo(null);
      let call = calls.get(part.index);
      if (!call) {
        call = { id: part.id ?? `call_${part.index}_${Date.now().toString(36)}`, name: '', args: '', started: false };
        calls.set(part.index, call);
      }
      if (part.id) call.id = call.started ? call.id : part.id;
      if (part.function?.name) call.name += part.function.name;
      if (part.function?.arguments) call.args += part.function.arguments;
      // Some servers send the name after the first arguments: start once the name is known.
      if (!call.started && call.name) {
        call.started = true;
        yield { type: 'tool-input-start', id: call.id, name: call.name };
        if (call.args) yield { type: 'tool-input-delta', id: call.id, delta: call.args };
      } else if (call.started && part.function?.arguments) {
        yield { type: 'tool-input-delta', id: call.id, delta: part.function.arguments };
      }
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  if (signal.aborted) return;
  yield* switchTo(null);
  for (const call of [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c)) {
    if (!call.name) {
      yield {
        type: 'tool-call',
        id: call.id,
        name: '',
        input: {},
        error: 'the model sent a tool call without a function name',
      };
      continue;
    }
    const parsed = parseToolInput(call.args);
    yield {
      type: 'tool-call',
      id: call.id,
      name: call.name,
      input: parsed.input,
      ...(parsed.error ? { error: parsed.error } : {}),
    };
  }
  if (usage) yield { type: 'usage', usage };
  yield { type: 'finish', reason: finishReason(finish, calls.size > 0) };
}

function finishReason(reason: string | null, hadCalls: boolean): 'tool_calls' | 'end_turn' | 'max_tokens' | 'stop' {
  if (reason === 'length') return 'max_tokens';
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
  return make(
    `the stream from ${url} broke (${error instanceof Error ? error.message : String(error)}): check that the server is still running and reachable, then continue the session.`,
    'bad_response',
  );
}

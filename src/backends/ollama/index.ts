/**
 * @module backends/ollama
 * The Ollama backend: streamed /api/chat turns with tools, thinking when the model has the
 * capability (message.thinking), options from the config (temperature, num_predict, num_ctx).
 * check() says exactly what to do when nothing answers or the model is not pulled.
 */
import { type ChatRequest, type ChatResponse, Ollama, type Tool } from 'ollama';
import type { RawConfig } from '../../config/schema.js';
import { PartWriter } from '../parts.js';
import { DEFAULT_RETRY, type FailureInfo, type RetryPolicy, streamWithRetry } from '../retry.js';
import { type AgentBackend, BackendError, type ModelEvent, type TurnRequest } from '../types.js';
import { toOllamaMessages } from './messages.js';

export type OllamaSection = NonNullable<RawConfig['live_coding_agent']['ollama']>;

export interface OllamaBackendOptions {
  retry?: Partial<RetryPolicy>;
  /** streaming.show_thinking: ask thinking-capable models to think (default true). */
  showThinking?: boolean;
}

/** The client's ResponseError is not exported; its shape is stable. */
interface ResponseError extends Error {
  status_code: number;
  error: string;
}

function isResponseError(error: unknown): error is ResponseError {
  return (
    error instanceof Error && error.name === 'ResponseError' && typeof (error as ResponseError).status_code === 'number'
  );
}

/** `qwen2.5-coder` and `qwen2.5-coder:latest` name the same model. */
function sameModel(a: string, b: string): boolean {
  const norm = (s: string) => (s.includes(':') ? s : `${s}:latest`);
  return norm(a) === norm(b);
}

export function createOllamaBackend(section: OllamaSection, opts: OllamaBackendOptions = {}): AgentBackend {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const host = section.host.replace(/\/+$/, '');
  const client = new Ollama({ host });
  const notPulled = () =>
    new BackendError(
      `model ${section.model} is not pulled on ${host}: run \`ollama pull ${section.model}\``,
      'model_missing',
    );
  const unreachable = () => new BackendError(`nothing answers at ${host}: is \`ollama serve\` running?`, 'unreachable');
  /** Learned in check() from /api/show; asking a model without the capability to think is an error. */
  let canThink = false;

  const fail = (error: unknown): BackendError => {
    if (error instanceof BackendError) return error;
    if (isResponseError(error)) {
      if (error.status_code === 404) return notPulled();
      if (error.status_code === 401 || error.status_code === 403) {
        return new BackendError(
          `${host} refused the request (${error.status_code} ${error.error}): Ollama itself takes no key, so a proxy ` +
            'in front of it asks for one; point ollama.host at the Ollama server itself.',
          'auth',
        );
      }
      if (error.status_code === 429)
        return new BackendError(`${host} is rate limiting and retries ran out (429 ${error.error}).`, 'rate_limited');
      if (error.status_code >= 500)
        return new BackendError(`${host} failed (${error.status_code} ${error.error}) and retries ran out.`, 'server');
      return new BackendError(`${host} refused the request (${error.status_code} ${error.error}).`, 'bad_response');
    }
    if (error instanceof TypeError && /fetch failed/i.test(error.message)) return unreachable();
    return new BackendError(
      `the stream from ${host} broke (${error instanceof Error ? error.message : String(error)}): check that \`ollama serve\` is still running (a crash or running out of memory ends the stream), then continue the session.`,
      'bad_response',
    );
  };

  return {
    name: 'ollama',
    async check() {
      let names: string[];
      try {
        names = (await client.list()).models.map((m) => m.name);
      } catch (error) {
        throw fail(error);
      }
      if (!names.some((n) => sameModel(n, section.model))) throw notPulled();
      try {
        const info = await client.show({ model: section.model });
        canThink = (info.capabilities ?? []).includes('thinking');
      } catch {
        // Older servers: no capabilities, so no thinking request; the chat itself still works.
      }
    },
    async *turn(req: TurnRequest): AsyncGenerator<ModelEvent> {
      const system = section.system_prompt ? `${req.system}\n\n${section.system_prompt}` : req.system;
      // Ollama's Tool type narrows property schemas more than JSON Schema does; the wire takes any.
      const tools = req.tools.map((t) => ({
        type: 'function',
        function: { name: t.name, description: t.description, parameters: t.input_schema },
      })) as Tool[];
      const request: ChatRequest & { stream: true } = {
        model: section.model,
        messages: toOllamaMessages(system, req.context),
        tools,
        stream: true,
        ...(canThink && opts.showThinking !== false ? { think: true } : {}),
        options: { temperature: section.temperature, num_predict: section.max_tokens, num_ctx: section.num_ctx },
      };
      try {
        yield* streamWithRetry(
          async function* () {
            const stream = await client.chat(request);
            // The client has its own abort, not a signal parameter.
            const onAbort = () => stream.abort();
            req.signal.addEventListener('abort', onAbort, { once: true });
            try {
              yield* translate(stream, req.signal);
            } finally {
              req.signal.removeEventListener('abort', onAbort);
            }
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

function failureInfo(error: unknown): FailureInfo | null {
  return isResponseError(error) ? { status: error.status_code } : null;
}

let idCounter = 0;

async function* translate(stream: AsyncIterable<ChatResponse>, signal: AbortSignal): AsyncGenerator<ModelEvent> {
  const w = new PartWriter();
  let calls = 0;
  for await (const chunk of stream) {
    if (signal.aborted) return;
    const m = chunk.message;
    yield* w.write('thinking', m?.thinking ?? '');
    yield* w.write('text', m?.content ?? '');
    for (const call of m?.tool_calls ?? []) {
      yield* w.closeCurrent();
      calls += 1;
      idCounter += 1;
      const id = (call as { id?: string }).id ?? `call_${Date.now().toString(36)}_${idCounter}`;
      const raw: unknown = call.function?.arguments;
      // Ollama parses arguments itself; servers that mimic it may pass the model's text through.
      yield* w.toolCall(id, call.function?.name ?? '', typeof raw === 'string' ? raw : JSON.stringify(raw ?? {}));
    }
    if (chunk.done) {
      yield* w.closeAll();
      yield {
        type: 'usage',
        usage: { input_tokens: chunk.prompt_eval_count ?? 0, output_tokens: chunk.eval_count ?? 0 },
      };
      const reason = chunk.done_reason === 'length' ? 'max_tokens' : calls > 0 ? 'tool_calls' : 'end_turn';
      yield { type: 'finish', reason };
      return;
    }
  }
}

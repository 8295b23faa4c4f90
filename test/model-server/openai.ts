/**
 * @module test/model-server/openai
 * The OpenAI chat-completions wire format: `data:` chunks with delta.content,
 * delta.reasoning_content (as vLLM and llama.cpp stream thinking), delta.tool_calls by index,
 * a finish_reason chunk, a usage chunk with empty choices when asked for, then `data: [DONE]`.
 */
import { argumentsText, makeId, pieces } from './split.js';
import type { ScriptedFailure, ScriptedTurn, WireResponse } from './types.js';

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
const CREATED = 1_748_779_200;

interface ChatRequest {
  model?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

function finishReason(turn: ScriptedTurn): string {
  if (turn.stop_reason === 'max_tokens') return 'length';
  if (turn.stop_reason === 'end_turn') return 'stop';
  return turn.tool_calls?.length ? 'tool_calls' : 'stop';
}

export function renderTurn(turn: ScriptedTurn, request: ChatRequest): WireResponse {
  const model = request.model ?? 'local-model';
  const id = makeId('chatcmpl-');
  const usage = turn.usage ?? { input_tokens: 100, output_tokens: 20 };
  const wireUsage = {
    prompt_tokens: usage.input_tokens,
    completion_tokens: usage.output_tokens,
    total_tokens: usage.input_tokens + usage.output_tokens,
  };
  const calls = (turn.tool_calls ?? []).map((c) => ({
    id: c.id ?? makeId('call_'),
    name: c.name,
    args: argumentsText(c),
  }));
  if (request.stream !== true) {
    const message: Record<string, unknown> = { role: 'assistant', content: turn.text ?? null, refusal: null };
    if (turn.thinking !== undefined) message.reasoning_content = turn.thinking;
    if (calls.length) {
      message.tool_calls = calls.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: c.args },
      }));
    }
    const body = {
      id,
      object: 'chat.completion',
      created: CREATED,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(turn) }],
      usage: wireUsage,
    };
    return { status: 200, headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify(body)] };
  }
  const withUsage = request.stream_options?.include_usage === true;
  const data = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created: CREATED,
      model,
      system_fingerprint: null,
      choices,
      ...(withUsage ? { usage: null } : {}),
      ...extra,
    })}\n\n`;
  const delta = (d: Record<string, unknown>) => data([{ index: 0, delta: d, logprobs: null, finish_reason: null }]);
  const size = turn.chunk_size;
  const chunks: string[] = [delta({ role: 'assistant', content: '' })];
  for (const p of pieces(turn.thinking ?? '', size)) chunks.push(delta({ reasoning_content: p }));
  for (const p of pieces(turn.text ?? '', size)) chunks.push(delta({ content: p }));
  calls.forEach((call, index) => {
    chunks.push(
      delta({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }),
    );
    for (const p of pieces(call.args, size))
      chunks.push(delta({ tool_calls: [{ index, function: { arguments: p } }] }));
  });
  chunks.push(data([{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason(turn) }]));
  if (withUsage) chunks.push(data([], { usage: wireUsage }));
  chunks.push('data: [DONE]\n\n');
  return { status: 200, headers: SSE_HEADERS, chunks };
}

const CODES: Record<number, [type: string, code: string | null, message: string]> = {
  400: ['invalid_request_error', null, 'Invalid request'],
  401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided.'],
  403: ['invalid_request_error', 'unsupported_country_region_territory', 'Forbidden'],
  429: ['requests', 'rate_limit_exceeded', 'Rate limit reached for requests'],
  500: ['server_error', null, 'The server had an error while processing your request.'],
  503: ['server_error', null, 'The server is overloaded or not ready yet.'],
  529: ['server_error', null, 'Overloaded'],
};

export function renderFailure(failure: ScriptedFailure, request: ChatRequest): WireResponse {
  const [type, code, fallback] =
    failure.status === 404
      ? [
          'invalid_request_error',
          'model_not_found',
          `The model \`${request.model ?? ''}\` does not exist or you do not have access to it.`,
        ]
      : (CODES[failure.status] ?? ['server_error', null, 'error']);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': makeId('req_') };
  if (failure.retry_after !== undefined) headers['retry-after'] = String(failure.retry_after);
  const body = { error: { message: failure.message ?? fallback, type, param: null, code } };
  return { status: failure.status, headers, chunks: [JSON.stringify(body)] };
}

/** OpenAI's 400 for a parameter its reasoning models do not take (message, param and code as it sends them). */
export function renderUnsupported(param: 'max_tokens' | 'temperature', value: unknown): WireResponse {
  const error =
    param === 'max_tokens'
      ? {
          message:
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
          type: 'invalid_request_error',
          param,
          code: 'unsupported_parameter',
        }
      : {
          message: `Unsupported value: 'temperature' does not support ${String(value)} with this model. Only the default (1) value is supported.`,
          type: 'invalid_request_error',
          param,
          code: 'unsupported_value',
        };
  return { status: 400, headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ error })] };
}

export function renderFixture(lines: Record<string, unknown>[]): WireResponse {
  return {
    status: 200,
    headers: SSE_HEADERS,
    chunks: [...lines.map((l) => `data: ${JSON.stringify(l)}\n\n`), 'data: [DONE]\n\n'],
  };
}

export function renderModels(models: string[]): WireResponse {
  const body = {
    object: 'list',
    data: models.map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'local' })),
  };
  return { status: 200, headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify(body)] };
}

/**
 * @module test/model-server/anthropic
 * The Anthropic Messages API wire format: server-sent events for a streamed turn
 * (message_start, content_block_start/delta/stop, message_delta, message_stop), the JSON
 * message for a non-streamed one, and the `{type:'error', error:{type, message}}` bodies.
 */
import { argumentsText, makeId, pieces } from './split.js';
import type { ScriptedFailure, ScriptedTurn, WireResponse } from './types.js';

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'api_error',
  529: 'overloaded_error',
};

const ERROR_MESSAGES: Record<number, string> = {
  401: 'invalid x-api-key',
  429: 'Number of request tokens has exceeded your per-minute rate limit',
  500: 'Internal server error',
  503: 'Service unavailable',
  529: 'Overloaded',
};

export function sse(event: Record<string, unknown>): string {
  return `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** The content blocks of the final message, in order. */
function blocks(turn: ScriptedTurn): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (turn.thinking !== undefined) {
    out.push({ type: 'thinking', thinking: turn.thinking, signature: turn.signature ?? makeSignature() });
  }
  if (turn.text !== undefined) out.push({ type: 'text', text: turn.text });
  for (const call of turn.tool_calls ?? []) {
    out.push({ type: 'tool_use', id: call.id ?? makeId('toolu_'), name: call.name, raw: argumentsText(call) });
  }
  return out;
}

function makeSignature(): string {
  return Buffer.from(makeId('sig_')).toString('base64');
}

function stopReason(turn: ScriptedTurn): string {
  return turn.stop_reason ?? (turn.tool_calls?.length ? 'tool_use' : 'end_turn');
}

export function renderTurn(turn: ScriptedTurn, request: { model?: string; stream?: boolean }): WireResponse {
  const model = request.model ?? 'claude-sonnet-4-20250514';
  const usage = turn.usage ?? { input_tokens: 100, output_tokens: 20 };
  const id = makeId('msg_');
  const content = blocks(turn);
  if (!request.stream) {
    const message = {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: content.map((b) =>
        b.type === 'tool_use' ? { type: 'tool_use', id: b.id, name: b.name, input: safeParse(String(b.raw)) } : b,
      ),
      stop_reason: stopReason(turn),
      stop_sequence: null,
      usage,
    };
    return { status: 200, headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify(message)] };
  }
  const size = turn.chunk_size;
  const chunks: string[] = [
    sse({
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.input_tokens, output_tokens: 1 },
      },
    }),
    sse({ type: 'ping' }),
  ];
  content.forEach((block, index) => {
    if (block.type === 'thinking') {
      chunks.push(
        sse({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }),
      );
      for (const p of pieces(String(block.thinking), size)) {
        chunks.push(sse({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: p } }));
      }
      chunks.push(
        sse({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: block.signature } }),
      );
    } else if (block.type === 'text') {
      chunks.push(sse({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
      for (const p of pieces(String(block.text), size)) {
        chunks.push(sse({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } }));
      }
    } else {
      chunks.push(
        sse({
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        }),
      );
      for (const p of pieces(String(block.raw), size)) {
        chunks.push(sse({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } }));
      }
    }
    chunks.push(sse({ type: 'content_block_stop', index }));
  });
  chunks.push(
    sse({
      type: 'message_delta',
      delta: { stop_reason: stopReason(turn), stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    }),
    sse({ type: 'message_stop' }),
  );
  return { status: 200, headers: SSE_HEADERS, chunks };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

export function renderFailure(failure: ScriptedFailure, request: { model?: string }): WireResponse {
  const type = ERROR_TYPES[failure.status] ?? 'api_error';
  const message =
    failure.message ??
    (failure.status === 404 ? `model: ${request.model ?? ''}` : (ERROR_MESSAGES[failure.status] ?? type));
  const headers: Record<string, string> = { 'content-type': 'application/json', 'request-id': makeId('req_') };
  if (failure.retry_after !== undefined) headers['retry-after'] = String(failure.retry_after);
  return { status: failure.status, headers, chunks: [JSON.stringify({ type: 'error', error: { type, message } })] };
}

/** A recorded stream: one JSON event per line, the event name is its `type`. */
export function renderFixture(lines: Record<string, unknown>[]): WireResponse {
  return { status: 200, headers: SSE_HEADERS, chunks: lines.map(sse) };
}

/** GET /v1/models/{id}: the model exists unless the test said otherwise. */
export function renderModel(id: string): WireResponse {
  const body = { type: 'model', id, display_name: id, created_at: '2025-05-14T00:00:00Z' };
  return { status: 200, headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify(body)] };
}

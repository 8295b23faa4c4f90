import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderTurn as anthropicTurn } from './anthropic.js';
import { renderTurn as ollamaTurn } from './ollama.js';
import { renderTurn as openaiTurn } from './openai.js';
import { type ModelServer, readFixture, startModelServer } from './server.js';
import type { ScriptedTurn, WireResponse } from './types.js';

/** The structure of a JSON value: keys and value kinds, no values (ids, text and counts differ). */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length ? [shape(value[0])] : [];
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, shape(v)]),
    );
  }
  return value === null ? 'null' : typeof value;
}

/** Shapes in order, with runs of the same shape (a stream of deltas) collapsed into one. */
function shapes(chunks: unknown[]): string[] {
  const out: string[] = [];
  for (const c of chunks) {
    const s = JSON.stringify(shape(c));
    if (out.at(-1) !== s) out.push(s);
  }
  return out;
}

function parseWire(wire: WireResponse, kind: 'sse' | 'ndjson'): unknown[] {
  const text = wire.chunks.join('');
  if (kind === 'ndjson')
    return text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
    .map((l) => JSON.parse(l.slice(6)));
}

describe('the scripted turns have the shape of the recorded streams', () => {
  it('anthropic: thinking + text + tool_use', () => {
    const turn: ScriptedTurn = {
      thinking: 'hmm, a thought',
      text: 'Looking',
      tool_calls: [{ name: 'file_read', input: { path: 'a' } }],
    };
    const rendered = parseWire(anthropicTurn(turn, { model: 'm', stream: true }), 'sse');
    expect(shapes(rendered)).toEqual(shapes(readFixture('anthropic', 'thinking-tool-use')));
  });

  it('anthropic: text that ends the turn', () => {
    const rendered = parseWire(anthropicTurn({ text: 'All done here.' }, { model: 'm', stream: true }), 'sse');
    expect(shapes(rendered)).toEqual(shapes(readFixture('anthropic', 'text-end-turn')));
  });

  it('ollama: thinking, content, a tool call, the done chunk', () => {
    const turn: ScriptedTurn = {
      thinking: 'think think',
      text: 'Reading',
      tool_calls: [{ name: 'file_read', input: { path: 'a' } }],
    };
    const rendered = parseWire(ollamaTurn(turn, { model: 'm', stream: true }), 'ndjson');
    expect(shapes(rendered)).toEqual(shapes(readFixture('ollama', 'thinking-tool-call')));
  });

  it('openai: text, a tool call by index, finish and usage', () => {
    const turn: ScriptedTurn = {
      text: 'Reading',
      tool_calls: [{ name: 'file_read', input: { path: 'src/parser.py' } }],
    };
    const rendered = parseWire(
      openaiTurn(turn, { model: 'm', stream: true, stream_options: { include_usage: true } }),
      'sse',
    );
    expect(shapes(rendered)).toEqual(shapes(readFixture('openai', 'tool-call-usage')));
  });
});

describe('startModelServer', () => {
  let server: ModelServer;
  beforeEach(async () => {
    server = await startModelServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it('records every request, answers unknown paths with 404, and says when no turn is queued', async () => {
    const unknown = await fetch(`${server.url}/v1/whatever`, { method: 'POST', body: '{"a":1}' });
    expect(unknown.status).toBe(404);
    const empty = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true }),
    });
    expect(empty.status).toBe(400);
    expect(await empty.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'model server: no turn queued for anthropic (request 1)' },
    });
    expect(server.requests.map((r) => [r.provider, r.path, r.body])).toEqual([
      ['unknown', '/v1/whatever', { a: 1 }],
      ['anthropic', '/v1/messages', { model: 'm', stream: true }],
    ]);
  });

  it('answers queued items in order, per provider', async () => {
    server.fail('openai', 503);
    server.enqueue('openai', { text: 'second' });
    server.enqueue('anthropic', { text: 'other provider' });
    const post = () =>
      fetch(`${server.openaiUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'local-model', stream: false }),
      });
    const first = await post();
    expect(first.status).toBe(503);
    expect(((await first.json()) as { error: { type: string } }).error.type).toBe('server_error');
    const second = (await (await post()).json()) as { choices: { message: { content: string } }[] };
    expect(second.choices[0]!.message.content).toBe('second');
    expect(server.pending('openai')).toBe(0);
    expect(server.pending('anthropic')).toBe(1);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ModelServer, startModelServer } from '../../../test/model-server/server.js';
import { asContext, collect, stepsFromTurn, TOOLS } from '../../../test/model-server/steps.js';
import { liveCodingAgentSchema } from '../../config/schema.js';
import type { ContextItem } from '../../steps/types.js';
import type { ModelEvent } from '../types.js';
import { createOpenAIBackend } from './index.js';

type Json = Record<string, unknown> & { messages: Record<string, unknown>[] };
const fast = { baseDelayMs: 5, maxDelayMs: 20 };
const KEY = 'sk-local-abcdef0123456789';

function section(baseUrl: string, extra: Record<string, unknown> = {}) {
  return liveCodingAgentSchema.parse({
    backend: 'openai',
    openai: { base_url: baseUrl, model: 'local-model', ...extra },
  }).openai!;
}

function turn(backend: ReturnType<typeof createOpenAIBackend>, context: ContextItem[]) {
  return collect(
    backend.turn({ system: 'You are a coding agent.', context, tools: TOOLS, signal: new AbortController().signal }),
  );
}

let server: ModelServer;
beforeEach(async () => {
  server = await startModelServer();
});
afterEach(async () => {
  await server.close();
});

describe('openai backend against the scripted chat-completions server', () => {
  it('runs a three-turn exchange with reasoning, streamed tool calls, an instruction and the end', async () => {
    const backend = createOpenAIBackend(section(server.openaiUrl, { tools: ['file_read', 'file_edit'] }), {
      retry: fast,
    });
    server.enqueue(
      'openai',
      {
        thinking: 'Read the parser.',
        tool_calls: [
          { id: 'call_a', name: 'file_read', input: { path: 'src/parser.py' } },
          { id: 'call_b', name: 'file_read', input: { path: 'tests/test_parser.py' } },
        ],
        usage: { input_tokens: 500, output_tokens: 60 },
      },
      { text: 'Editing.', tool_calls: [{ id: 'call_c', name: 'file_edit', input: { path: 'src/parser.py' } }] },
      { text: 'All green.' },
    );
    const task: ContextItem = { kind: 'task', text: 'Fix the failing test' };
    const first = await turn(backend, [task]);
    expect(first.filter((e) => e.type === 'tool-input-delta').length).toBeGreaterThan(2);
    const calls = first.filter((e) => e.type === 'tool-call');
    expect(calls).toEqual([
      { type: 'tool-call', id: 'call_a', name: 'file_read', input: { path: 'src/parser.py' } },
      { type: 'tool-call', id: 'call_b', name: 'file_read', input: { path: 'tests/test_parser.py' } },
    ]);
    expect(first.flatMap((e) => (e.type === 'thinking-delta' ? [e.text] : [])).join('')).toBe('Read the parser.');
    expect(first.slice(-2)).toEqual([
      { type: 'usage', usage: { input_tokens: 500, output_tokens: 60 } },
      { type: 'finish', reason: 'tool_calls' },
    ]);

    const context2: ContextItem[] = [
      task,
      ...asContext(stepsFromTurn(first, 't1', (_n, input) => `contents of ${input.path}`)),
      { kind: 'instruction', text: 'Use a migration instead' },
    ];
    const second = await turn(backend, context2);
    const third = await turn(backend, [...context2, ...asContext(stepsFromTurn(second, 't2', () => 'edited'))]);
    expect(third.at(-1)).toEqual({ type: 'finish', reason: 'end_turn' });

    const bodies = server.modelRequests('openai').map((r) => r.body as Json);
    expect(bodies[0]).toMatchObject({ model: 'local-model', stream: true, stream_options: { include_usage: true } });
    expect((bodies[0]!.tools as { function: { name: string } }[]).map((t) => t.function.name)).toEqual([
      'file_read',
      'file_edit',
    ]);
    expect(bodies[1]!.messages).toEqual([
      { role: 'system', content: 'You are a coding agent.' },
      { role: 'user', content: 'Fix the failing test' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'file_read', arguments: '{"path":"src/parser.py"}' } },
          {
            id: 'call_b',
            type: 'function',
            function: { name: 'file_read', arguments: '{"path":"tests/test_parser.py"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', content: 'contents of src/parser.py' },
      { role: 'tool', tool_call_id: 'call_b', content: 'contents of tests/test_parser.py' },
      { role: 'user', content: 'Use a migration instead' },
    ]);
    expect(bodies[2]!.messages.slice(6)).toEqual([
      {
        role: 'assistant',
        content: 'Editing.',
        tool_calls: [
          { id: 'call_c', type: 'function', function: { name: 'file_edit', arguments: '{"path":"src/parser.py"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_c', content: 'edited' },
    ]);
  });

  it('sends the key from api_key_env, or a placeholder when none is configured', async () => {
    server.enqueue('openai', { text: 'a' }, { text: 'b' });
    await turn(
      createOpenAIBackend(section(server.openaiUrl, { api_key_env: 'LOCAL_KEY' }), { env: { LOCAL_KEY: KEY } }),
      [{ kind: 'task', text: 'x' }],
    );
    await turn(createOpenAIBackend(section(server.openaiUrl)), [{ kind: 'task', text: 'x' }]);
    const [a, b] = server.modelRequests('openai');
    expect(a!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(b!.headers.authorization).toBe('Bearer no-key');
    const unset = createOpenAIBackend(section(server.openaiUrl, { api_key_env: 'LOCAL_KEY' }), { env: {} });
    await expect(unset.check()).rejects.toThrow(/LOCAL_KEY is not set/);
  });

  it('maps 401 and 404 to errors a user can act on, without the key', async () => {
    const backend = createOpenAIBackend(section(server.openaiUrl, { api_key_env: 'LOCAL_KEY' }), {
      env: { LOCAL_KEY: KEY },
    });
    server.fail('openai', 401);
    const auth = await turn(backend, [{ kind: 'task', text: 'x' }]).catch((e: Error) => e);
    expect(auth).toMatchObject({ code: 'auth' });
    expect((auth as Error).message).toContain('LOCAL_KEY');
    expect((auth as Error).message).not.toContain(KEY);
    server.fail('openai', 404);
    await expect(turn(backend, [{ kind: 'task', text: 'x' }])).rejects.toMatchObject({
      code: 'model_missing',
      message: expect.stringContaining('model local-model was not found'),
    });
  });

  it('retries a 500 then a 429 and streams the turn', async () => {
    const backend = createOpenAIBackend(section(server.openaiUrl), { retry: fast });
    server.fail('openai', 500);
    server.fail('openai', 429);
    server.enqueue('openai', { text: 'ok' });
    const events = await turn(backend, [{ kind: 'task', text: 'x' }]);
    expect(events.filter((e) => e.type === 'status')).toEqual([
      { type: 'status', message: 'server error (500), retrying in 5 ms' },
      { type: 'status', message: 'rate limited (429), retrying in 10 ms' },
    ]);
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'end_turn' });
  });

  it('reports a refused connection as unreachable, in check() and in a turn', async () => {
    await server.close();
    const backend = createOpenAIBackend(section(server.openaiUrl), { retry: fast });
    await expect(backend.check()).rejects.toThrow(`nothing answers at ${server.openaiUrl}`);
    await expect(turn(backend, [{ kind: 'task', text: 'x' }])).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('turns arguments that are not JSON into a tool-call event with an error', async () => {
    const backend = createOpenAIBackend(section(server.openaiUrl));
    server.enqueue('openai', { tool_calls: [{ id: 'call_x', name: 'file_edit', raw_arguments: "{'path': 'a.py'}" }] });
    const events = await turn(backend, [{ kind: 'task', text: 'x' }]);
    const call = events.find((e) => e.type === 'tool-call') as Extract<ModelEvent, { type: 'tool-call' }>;
    expect(call).toMatchObject({ id: 'call_x', name: 'file_edit', input: {} });
    expect(call.error).toMatch(/not valid JSON/);
  });

  it('replays a recorded stream fixture', async () => {
    const backend = createOpenAIBackend(section(server.openaiUrl));
    server.enqueue('openai', { fixture: 'tool-call-usage' });
    const events = await turn(backend, [{ kind: 'task', text: 'x' }]);
    expect(events).toContainEqual({
      type: 'tool-call',
      id: 'call_3bD9kQ2',
      name: 'file_read',
      input: { path: 'src/parser.py' },
    });
    expect(events.slice(-2)).toEqual([
      { type: 'usage', usage: { input_tokens: 356, output_tokens: 42 } },
      { type: 'finish', reason: 'tool_calls' },
    ]);
  });
});

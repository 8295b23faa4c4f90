import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ModelServer, startModelServer } from '../../../test/model-server/server.js';
import { asContext, collect, makeStep, stepsFromTurn, TOOLS } from '../../../test/model-server/steps.js';
import { liveCodingAgentSchema } from '../../config/schema.js';
import type { ContextItem } from '../../steps/types.js';
import { BackendError, type ModelEvent } from '../types.js';
import { createAnthropicBackend } from './index.js';

const KEY = 'sk-ant-test-0123456789abcdef';
const env = { TEST_ANTHROPIC_KEY: KEY };
const fast = { baseDelayMs: 5, maxDelayMs: 20 };

/** The parts of a recorded Messages API request body these tests read (parsed JSON off the wire). */
interface MessagesBody {
  thinking?: unknown;
  temperature?: number;
  tools: { name: string }[];
  system: { text: string }[];
  messages: { role: string; content: Record<string, unknown>[] }[];
}

function section(server: ModelServer, extra: Record<string, unknown> = {}) {
  return liveCodingAgentSchema.parse({
    backend: 'anthropic',
    anthropic: { api_key_env: 'TEST_ANTHROPIC_KEY', base_url: server.anthropicUrl, ...extra },
  }).anthropic!;
}

function turn(backend: ReturnType<typeof createAnthropicBackend>, context: ContextItem[]) {
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

describe('anthropic backend against the scripted Messages API', () => {
  it('runs a three-turn exchange: thinking + file_read, an instruction, an edit, the end', async () => {
    const backend = createAnthropicBackend(section(server, { thinking_budget_tokens: 2048 }), { env, retry: fast });
    server.enqueue(
      'anthropic',
      {
        thinking: 'The test fails on the new config; read the parser.',
        signature: 'c2lnLTE=',
        tool_calls: [{ id: 'toolu_read1', name: 'file_read', input: { path: 'src/parser.py' } }],
        usage: { input_tokens: 321, output_tokens: 45 },
      },
      {
        text: 'Adding a migration.',
        tool_calls: [{ id: 'toolu_edit1', name: 'file_edit', input: { path: 'src/parser.py', old: 'a', new: 'b' } }],
      },
      { text: 'Done: the test passes.' },
    );
    const task: ContextItem = { kind: 'task', text: 'Fix the failing test in tests/test_parser.py' };

    const first = await turn(backend, [task]);
    expect(first.map((e) => e.type)).toEqual([
      'thinking-start',
      ...Array(first.filter((e) => e.type === 'thinking-delta').length).fill('thinking-delta'),
      'thinking-end',
      'tool-input-start',
      ...Array(first.filter((e) => e.type === 'tool-input-delta').length).fill('tool-input-delta'),
      'tool-input-end',
      'tool-call',
      'usage',
      'finish',
    ]);
    const thought = first.filter((e) => e.type === 'thinking-delta').map((e) => (e as { text: string }).text);
    expect(thought.length).toBeGreaterThan(1);
    expect(thought.join('')).toBe('The test fails on the new config; read the parser.');
    expect(first).toContainEqual({ type: 'thinking-end', id: '0', signature: 'c2lnLTE=' });
    expect(first).toContainEqual({
      type: 'tool-call',
      id: 'toolu_read1',
      name: 'file_read',
      input: { path: 'src/parser.py' },
    });
    expect(first).toContainEqual({ type: 'usage', usage: { input_tokens: 321, output_tokens: 45 } });
    expect(first.at(-1)).toEqual({ type: 'finish', reason: 'tool_calls' });

    const steps1 = stepsFromTurn(first, 't1', () => 'def parse(text):\n    return text\n');
    const context2: ContextItem[] = [
      task,
      ...asContext(steps1),
      { kind: 'instruction', text: 'Use a migration instead' },
    ];
    const second = await turn(backend, context2);
    expect(second.at(-1)).toEqual({ type: 'finish', reason: 'tool_calls' });
    const steps2 = stepsFromTurn(second, 't2', () => 'edited src/parser.py');
    const third = await turn(backend, [...context2, ...asContext(steps2)]);
    expect(
      third
        .filter((e) => e.type === 'text-delta')
        .map((e) => (e as { text: string }).text)
        .join(''),
    ).toBe('Done: the test passes.');
    expect(third.at(-1)).toEqual({ type: 'finish', reason: 'end_turn' });

    const bodies = server.modelRequests('anthropic').map((r) => r.body as MessagesBody);
    expect(bodies).toHaveLength(3);
    expect(bodies[0]!.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    expect(bodies[0]!.temperature).toBeUndefined();
    expect(bodies[0]!.tools.map((t) => t.name)).toEqual(TOOLS.map((t) => t.name));
    expect(bodies[0]!.system[0]!.text).toBe('You are a coding agent.');

    // Turn 2 sees: the task, the signed thinking + tool_use, then one user message with the
    // tool result first and the instruction after it.
    const m = bodies[1]!.messages;
    expect(m.map((x) => x.role)).toEqual(['user', 'assistant', 'user']);
    expect(m[0]!.content[0]!.text).toBe('Fix the failing test in tests/test_parser.py');
    expect(m[1]!.content).toEqual([
      { type: 'thinking', thinking: 'The test fails on the new config; read the parser.', signature: 'c2lnLTE=' },
      { type: 'tool_use', id: 'toolu_read1', name: 'file_read', input: { path: 'src/parser.py' } },
    ]);
    expect(m[2]!.content[0]).toMatchObject({
      type: 'tool_result',
      tool_use_id: 'toolu_read1',
      content: 'def parse(text):\n    return text\n',
      is_error: false,
    });
    expect(m[2]!.content[1]).toMatchObject({ type: 'text', text: 'Use a migration instead' });

    const m3 = bodies[2]!.messages;
    expect(m3.map((x) => x.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user']);
    expect(m3[3]!.content).toEqual([
      { type: 'text', text: 'Adding a migration.' },
      { type: 'tool_use', id: 'toolu_edit1', name: 'file_edit', input: { path: 'src/parser.py', old: 'a', new: 'b' } },
    ]);
    expect(m3[4]!.content[0]).toMatchObject({
      type: 'tool_result',
      tool_use_id: 'toolu_edit1',
      content: 'edited src/parser.py',
    });
    // This SDK version sends the key as a bearer token.
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('sends only the configured tools and the configured temperature without thinking', async () => {
    const backend = createAnthropicBackend(
      section(server, { tools: ['file_read', 'bash_command'], temperature: 0.3 }),
      {
        env,
      },
    );
    server.enqueue('anthropic', { text: 'hi' });
    await turn(backend, [{ kind: 'task', text: 'x' }]);
    const body = server.modelRequests('anthropic')[0]!.body as MessagesBody;
    expect(body.tools.map((t) => t.name)).toEqual(['file_read', 'bash_command']);
    expect(body.temperature).toBe(0.3);
    expect(body.thinking).toBeUndefined();
  });

  it('retries a 500 and a 429, saying so in status events, then streams the turn', async () => {
    const backend = createAnthropicBackend(section(server), { env, retry: fast });
    server.fail('anthropic', 500);
    server.fail('anthropic', 429, { retry_after: 0 });
    server.enqueue('anthropic', { text: 'recovered' });
    const events = await turn(backend, [{ kind: 'task', text: 'x' }]);
    const statuses = events.filter((e) => e.type === 'status').map((e) => (e as { message: string }).message);
    expect(statuses).toEqual(['server error (500), retrying in 5 ms', 'rate limited (429), retrying in 0 ms']);
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'end_turn' });
    expect(server.modelRequests('anthropic')).toHaveLength(3);
  });

  it('gives up after max_retries with a server error', async () => {
    const backend = createAnthropicBackend(section(server, { max_retries: 1 }), { env, retry: fast });
    server.fail('anthropic', 503, { times: 2 });
    await expect(turn(backend, [{ kind: 'task', text: 'x' }])).rejects.toMatchObject({ code: 'server' });
    expect(server.modelRequests('anthropic')).toHaveLength(2);
  });

  it('maps 401 to an auth error that names the variable and never shows the key', async () => {
    const backend = createAnthropicBackend(section(server), { env, retry: fast });
    server.fail('anthropic', 401);
    const error = await turn(backend, [{ kind: 'task', text: 'x' }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'auth' });
    expect((error as Error).message).toContain('TEST_ANTHROPIC_KEY');
    expect((error as Error).message).not.toContain(KEY);
  });

  it('check() reports a missing model and a missing key', async () => {
    const backend = createAnthropicBackend(section(server, { model: 'claude-nope' }), { env });
    server.fail('anthropic', 404);
    const error = await backend.check().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'model_missing' });
    expect((error as Error).message).toContain('model claude-nope was not found');

    await createAnthropicBackend(section(server), { env }).check();
    expect(server.requests.at(-1)!.path).toBe('/v1/models/claude-sonnet-4-20250514');

    const noKey = createAnthropicBackend(section(server), { env: {} });
    await expect(noKey.check()).rejects.toThrow(/TEST_ANTHROPIC_KEY is not set/);
  });

  it('reports a refused connection as unreachable', async () => {
    const backend = createAnthropicBackend(section(server), { env, retry: fast });
    await server.close();
    const error = await turn(backend, [{ kind: 'task', text: 'x' }]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'unreachable' });
    expect((error as Error).message).toContain(`nothing answers at ${server.anthropicUrl}`);
  });

  it('turns a malformed tool call into a tool-call event with an error', async () => {
    const backend = createAnthropicBackend(section(server), { env });
    server.enqueue('anthropic', {
      tool_calls: [{ id: 'toolu_bad', name: 'file_read', raw_arguments: '{"path": "src/' }],
    });
    const events = await turn(backend, [{ kind: 'task', text: 'x' }]);
    const call = events.find((e) => e.type === 'tool-call') as Extract<ModelEvent, { type: 'tool-call' }>;
    expect(call.id).toBe('toolu_bad');
    expect(call.input).toEqual({});
    expect(call.error).toMatch(/not valid JSON/);

    // Sent back to the model as an error result for that call.
    server.enqueue('anthropic', { text: 'retrying properly' });
    const steps = stepsFromTurn(events, 't1');
    await turn(backend, [{ kind: 'task', text: 'x' }, ...asContext(steps)]);
    const m = (server.modelRequests('anthropic')[1]!.body as MessagesBody).messages;
    expect(m[2]!.content[0]).toMatchObject({ type: 'tool_result', tool_use_id: 'toolu_bad', is_error: true });
  });

  it('replays a recorded stream fixture', async () => {
    const backend = createAnthropicBackend(section(server), { env });
    server.enqueue('anthropic', { fixture: 'thinking-tool-use' });
    const events = await turn(backend, [{ kind: 'task', text: 'x' }]);
    expect(events).toContainEqual({
      type: 'tool-call',
      id: 'toolu_01A09q90qw90lq917835lq9',
      name: 'file_read',
      input: { path: 'src/parser.py' },
    });
    expect(events).toContainEqual({ type: 'usage', usage: { input_tokens: 412, output_tokens: 89 } });
  });

  it('stops quietly when the turn is aborted mid-stream', async () => {
    const backend = createAnthropicBackend(section(server), { env });
    server.enqueue('anthropic', { text: 'a long answer that streams slowly', chunk_size: 2, chunk_delay_ms: 20 });
    const controller = new AbortController();
    const events: ModelEvent[] = [];
    for await (const e of backend.turn({
      system: '',
      context: [{ kind: 'task', text: 'x' }],
      tools: TOOLS,
      signal: controller.signal,
    })) {
      events.push(e);
      if (e.type === 'text-delta') controller.abort();
    }
    expect(events.some((e) => e.type === 'finish')).toBe(false);
  });

  it('asks without thinking when the last tool-use turn has no signed thinking (an annotator-written call)', async () => {
    const backend = createAnthropicBackend(section(server, { thinking_budget_tokens: 1024 }), { env });
    server.enqueue('anthropic', { text: 'a' }, { text: 'b' });
    const edited = makeStep({
      author: 'annotator',
      turn_id: 'a1',
      tool_call: { id: 'toolu_annot', name: 'file_read', input: { path: 'README.md' } },
      tool_result: '# readme',
      payload: { type: 'file_read', path: 'README.md', content: '# readme', start_line: 1, truncated: false },
    });
    const signed = makeStep({ turn_id: 't1', payload: { type: 'thinking', content: 'hm', signature: 'c2ln' } });
    const byModel = makeStep({ ...edited, id: 'm', turn_id: 't1', author: 'agent' });
    await turn(backend, [{ kind: 'task', text: 'x' }, ...asContext([edited])]);
    await turn(backend, [{ kind: 'task', text: 'x' }, ...asContext([signed, byModel])]);
    const [plain, withThinking] = server.modelRequests('anthropic').map((r) => r.body as Record<string, unknown>);
    expect(plain!.thinking).toBeUndefined();
    expect(plain!.temperature).toBe(0.1);
    expect(withThinking!.thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ModelServer, startModelServer } from '../../../test/model-server/server.js';
import { asContext, collect, stepsFromTurn, TOOLS } from '../../../test/model-server/steps.js';
import { liveCodingAgentSchema } from '../../config/schema.js';
import type { ContextItem } from '../../steps/types.js';
import type { ModelEvent } from '../types.js';
import { createOllamaBackend } from './index.js';

type Json = Record<string, unknown> & { messages: Record<string, unknown>[] };
const fast = { baseDelayMs: 5, maxDelayMs: 20 };

function section(host: string, extra: Record<string, unknown> = {}) {
  return liveCodingAgentSchema.parse({ backend: 'ollama', ollama: { host, ...extra } }).ollama!;
}

function turn(backend: ReturnType<typeof createOllamaBackend>, context: ContextItem[]) {
  return collect(
    backend.turn({ system: 'You are a coding agent.', context, tools: TOOLS, signal: new AbortController().signal }),
  );
}

let server: ModelServer;
beforeEach(async () => {
  server = await startModelServer({
    ollamaModels: ['qwen2.5-coder:32b', 'qwen3:8b'],
    ollamaCapabilities: { 'qwen3:8b': ['completion', 'tools', 'thinking'] },
  });
});
afterEach(async () => {
  await server.close();
});

describe('ollama backend against the scripted /api/chat', () => {
  it('runs a three-turn exchange with thinking, tool calls, an instruction and the end', async () => {
    const backend = createOllamaBackend(
      section(server.ollamaUrl, { temperature: 0.4, max_tokens: 1000, num_ctx: 8192 }),
      {
        retry: fast,
      },
    );
    server.enqueue(
      'ollama',
      {
        thinking: 'Read the parser first.',
        text: 'Reading.',
        tool_calls: [{ name: 'file_read', input: { path: 'src/parser.py' } }],
        usage: { input_tokens: 356, output_tokens: 42 },
      },
      { tool_calls: [{ name: 'file_edit', input: { path: 'src/parser.py', old: 'a', new: 'b' } }] },
      { text: 'Fixed.' },
    );
    const task: ContextItem = { kind: 'task', text: 'Fix the failing test' };
    const first = await turn(backend, [task]);
    const types = first.map((e) => e.type);
    expect(types[0]).toBe('thinking-start');
    expect(types).toContain('thinking-end');
    expect(types.indexOf('thinking-end')).toBeLessThan(types.indexOf('text-start'));
    expect(types.slice(-6)).toEqual([
      'tool-input-start',
      'tool-input-delta',
      'tool-input-end',
      'tool-call',
      'usage',
      'finish',
    ]);
    const call = first.find((e) => e.type === 'tool-call') as Extract<ModelEvent, { type: 'tool-call' }>;
    expect(call).toMatchObject({ name: 'file_read', input: { path: 'src/parser.py' } });
    expect(call.id).toBeTruthy();
    expect(first).toContainEqual({ type: 'usage', usage: { input_tokens: 356, output_tokens: 42 } });
    expect(first.at(-1)).toEqual({ type: 'finish', reason: 'tool_calls' });

    const context2: ContextItem[] = [
      task,
      ...asContext(stepsFromTurn(first, 't1', () => 'def parse(): pass')),
      { kind: 'instruction', text: 'Use a migration instead' },
    ];
    const second = await turn(backend, context2);
    const third = await turn(backend, [...context2, ...asContext(stepsFromTurn(second, 't2', () => 'edited'))]);
    expect(third.at(-1)).toEqual({ type: 'finish', reason: 'end_turn' });

    const bodies = server.modelRequests('ollama').map((r) => r.body as Json);
    expect(bodies[0]!.options).toEqual({ temperature: 0.4, num_predict: 1000, num_ctx: 8192 });
    expect(bodies[0]!.stream).toBe(true);
    expect(bodies[1]!.messages).toEqual([
      { role: 'system', content: 'You are a coding agent.' },
      { role: 'user', content: 'Fix the failing test' },
      {
        role: 'assistant',
        content: 'Reading.',
        thinking: 'Read the parser first.',
        tool_calls: [{ function: { name: 'file_read', arguments: { path: 'src/parser.py' } } }],
      },
      { role: 'tool', content: 'def parse(): pass', tool_name: 'file_read' },
      { role: 'user', content: 'Use a migration instead' },
    ]);
    expect(bodies[2]!.messages.slice(5)).toEqual([
      {
        role: 'assistant',
        content: '',
        tool_calls: [{ function: { name: 'file_edit', arguments: { path: 'src/parser.py', old: 'a', new: 'b' } } }],
      },
      { role: 'tool', content: 'edited', tool_name: 'file_edit' },
    ]);
  });

  it('check() passes for a pulled model and asks thinking-capable models to think', async () => {
    const plain = createOllamaBackend(section(server.ollamaUrl));
    await plain.check();
    expect(server.requests.map((r) => r.path)).toEqual(['/api/tags', '/api/show']);
    const thinker = createOllamaBackend(section(server.ollamaUrl, { model: 'qwen3:8b' }));
    await thinker.check();
    server.enqueue('ollama', { text: 'a' }, { text: 'b' });
    await turn(plain, [{ kind: 'task', text: 'x' }]);
    await turn(thinker, [{ kind: 'task', text: 'x' }]);
    const [a, b] = server.modelRequests('ollama').map((r) => r.body as Json);
    expect(a!.think).toBeUndefined();
    expect(b!.think).toBe(true);
  });

  it('check() says to pull a missing model', async () => {
    const backend = createOllamaBackend(section(server.ollamaUrl, { model: 'llama3.3:70b' }));
    await expect(backend.check()).rejects.toThrow(
      `model llama3.3:70b is not pulled on ${server.ollamaUrl}: run \`ollama pull llama3.3:70b\``,
    );
  });

  it('a turn with a model that is not pulled fails with the same advice', async () => {
    const backend = createOllamaBackend(section(server.ollamaUrl, { model: 'gone:1b' }));
    await expect(turn(backend, [{ kind: 'task', text: 'x' }])).rejects.toMatchObject({
      code: 'model_missing',
      message: `model gone:1b is not pulled on ${server.ollamaUrl}: run \`ollama pull gone:1b\``,
    });
  });

  it('says ollama serve is not running when nothing answers', async () => {
    const url = server.ollamaUrl;
    await server.close();
    const backend = createOllamaBackend(section(url));
    await expect(backend.check()).rejects.toThrow(`nothing answers at ${url}: is \`ollama serve\` running?`);
    await expect(turn(backend, [{ kind: 'task', text: 'x' }])).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('retries a 500 with a status event, then streams', async () => {
    const backend = createOllamaBackend(section(server.ollamaUrl), { retry: fast });
    server.fail('ollama', 500);
    server.enqueue('ollama', { text: 'ok' });
    const events = await turn(backend, [{ kind: 'task', text: 'x' }]);
    expect(events[0]).toEqual({ type: 'status', message: 'server error (500), retrying in 5 ms' });
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'end_turn' });
  });

  it('turns arguments that are not JSON into a tool-call event with an error', async () => {
    const backend = createOllamaBackend(section(server.ollamaUrl));
    server.enqueue('ollama', { tool_calls: [{ name: 'bash_command', raw_arguments: '{"command": "ls' }] });
    const events = await turn(backend, [{ kind: 'task', text: 'x' }]);
    const call = events.find((e) => e.type === 'tool-call') as Extract<ModelEvent, { type: 'tool-call' }>;
    expect(call.name).toBe('bash_command');
    expect(call.error).toMatch(/not valid JSON/);
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'tool_calls' });
  });

  it('replays a recorded NDJSON fixture', async () => {
    const backend = createOllamaBackend(section(server.ollamaUrl));
    server.enqueue('ollama', { fixture: 'thinking-tool-call' });
    const events = await turn(backend, [{ kind: 'task', text: 'x' }]);
    const thinking = events.flatMap((e) => (e.type === 'thinking-delta' ? [e.text] : [])).join('');
    expect(thinking).toBe('The test fails; read the parser.');
    expect(events).toContainEqual({ type: 'usage', usage: { input_tokens: 356, output_tokens: 42 } });
  });
});

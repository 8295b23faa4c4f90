/**
 * @module test/backends/streams
 * The fixture corpus (test/model-server/fixtures/<provider>/*.chunks.txt, written from each
 * provider's documented stream shapes) replayed by the scripted model server into real engine
 * sessions: for each stream, the steps stored, the usage stored (per step, per session, in the
 * export), the session's end reason, and the exact body of the request that follows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { stepsToMessages } from '../../src/export/formats/dpo.js';
import { collect, sessionLines } from '../../src/export/index.js';
import type { Step } from '../../src/steps/types.js';
import type { SessionRecord } from '../../src/store/types.js';
import { ended, waitForEvent } from '../engine/harness.js';
import { exportSchema } from '../export/schemas.js';
import type { ModelServerOptions, Provider, QueueItem, RecordedRequest } from '../model-server/server.js';
import { type BackendRig, startRig } from './harness.js';

const TASK = 'Fix the failing test in tests/test_parser.py';
const validTrajectory = exportSchema('trajectories');

let rig: BackendRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

interface Replayed {
  session: SessionRecord;
  steps: Step[];
  chats: RecordedRequest[];
  /** The flattened trajectories export line of the session. */
  exported: Record<string, unknown>;
}

async function replay(
  provider: Provider,
  items: QueueItem[],
  opts: { agent?: Record<string, unknown>; server?: ModelServerOptions } = {},
): Promise<Replayed> {
  rig = await startRig(
    provider,
    { output: { export_formats: ['trajectories'] }, live_coding_agent: opts.agent ?? {} },
    opts.server,
  );
  // The engine's backend section comes from the rig; extra keys for it are merged here.
  rig.server.enqueue(provider, ...items);
  const s = await rig.engine.manager.start({ task: TASK, annotator: 'ann' });
  await waitForEvent(rig.engine, s.id, ended);
  const { store } = rig.engine;
  const [line] = await collect(sessionLines(store, s.id, 'trajectories', { flattenBranches: true }));
  const exported = JSON.parse(line!) as Record<string, unknown>;
  expect(validTrajectory(exported) ? [] : validTrajectory.errors).toEqual([]);
  return {
    session: (await store.getSession(s.id))!,
    steps: await store.listSteps(s.id),
    chats: rig.chats(),
    exported,
  };
}

const kinds = (steps: Step[]) => steps.map((s) => `${s.step_idx}:${s.type}`);
const fixture = (name: string): QueueItem => ({ fixture: name });
type Json = Record<string, unknown>;
const body = (r: RecordedRequest | undefined) => r?.body as Json;
const messages = (r: RecordedRequest | undefined) => body(r).messages as Json[];

describe('Anthropic Messages streams', () => {
  const section = (extra: Json = {}) => ({ anthropic: extra });

  it('a refusal is a labelable message step and the end reason quotes it', async () => {
    const r = await replay('anthropic', [fixture('refusal')]);
    expect(kinds(r.steps)).toEqual(['1:message']);
    expect(r.steps[0]!.payload).toEqual({ type: 'message', content: "I can't help with that request.", refusal: true });
    expect([r.session.status, r.session.end_reason]).toEqual([
      'finished',
      `the model refused to continue: "I can't help with that request."`,
    ]);
    expect(r.chats).toHaveLength(1);
  });

  it('max_tokens keeps the cut answer, marked, and says which config key to raise; the cut call does not run', async () => {
    const r = await replay('anthropic', [fixture('max-tokens')]);
    expect(kinds(r.steps)).toEqual(['1:message']);
    expect(r.steps[0]!.payload).toEqual({
      type: 'message',
      content: 'The parser splits each line on the first equals sign, so a line with a colon',
      truncated: true,
    });
    expect(r.session.status).toBe('failed');
    expect(r.session.end_reason).toBe(
      "the model's answer was cut at the token limit; its 1 tool call was not run: raise " +
        'live_coding_agent.anthropic.max_tokens (now 8192) in the config, then roll back to the last step or resume the session',
    );
    expect(r.steps[0]!.usage).toEqual({ input_tokens: 2210, output_tokens: 64 });
  });

  it("keeps message_delta's cumulative usage, cache writes and reads apart, per step, session and export", async () => {
    const r = await replay('anthropic', [fixture('usage-cache')]);
    const usage = {
      input_tokens: 9632,
      output_tokens: 61,
      cache_creation_input_tokens: 1250,
      cache_read_input_tokens: 4096,
    };
    expect(kinds(r.steps)).toEqual(['1:message']);
    expect(r.steps[0]!.usage).toEqual(usage);
    expect(r.session.usage).toEqual(usage);
    expect(r.exported.usage).toEqual(usage);
    expect([r.session.status, r.session.end_reason]).toEqual(['finished', 'the agent finished its work']);
  });

  it('sends signed thinking back unchanged with thinking still on', async () => {
    const r = await replay('anthropic', [fixture('thinking-tool-use'), { text: 'Done.' }], {
      agent: section({ thinking_budget_tokens: 1024 }),
    });
    expect(kinds(r.steps)).toEqual(['1:thinking', '2:message', '3:file_read', '4:message']);
    expect(r.steps[0]!.payload).toEqual({
      type: 'thinking',
      content: 'The test fails on the new config format; I should read the parser first.',
      signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxmuUQ8nQ7VKqp1cTYiMH0rR0R3jY3GqM3l',
    });
    const next = r.chats[1];
    expect(body(next).thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect(messages(next)[1]).toEqual({
      role: 'assistant',
      content: [
        {
          type: 'thinking',
          thinking: 'The test fails on the new config format; I should read the parser first.',
          signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxmuUQ8nQ7VKqp1cTYiMH0rR0R3jY3GqM3l',
        },
        { type: 'text', text: 'Let me look at src/parser.py.' },
        { type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'file_read', input: { path: 'src/parser.py' } },
      ],
    });
  });

  it('stores redacted thinking, sends it back as it came, and keeps extended thinking on', async () => {
    const r = await replay('anthropic', [fixture('redacted-thinking'), { text: 'Done.' }], {
      agent: section({ thinking_budget_tokens: 1024 }),
    });
    expect(kinds(r.steps)).toEqual(['1:thinking', '2:file_read', '3:message']);
    const data = (r.steps[0]!.payload as { redacted?: string }).redacted;
    expect(data).toMatch(/^EmwKAhgBEgy3va3pzix/);
    expect(r.steps[0]!.payload).toEqual({ type: 'thinking', content: '', redacted: data });
    const next = r.chats[1];
    expect(body(next).thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect(messages(next)[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'redacted_thinking', data },
        { type: 'tool_use', id: 'toolu_01RdRead', name: 'file_read', input: { path: 'src/parser.py' } },
      ],
    });
    // The export says it was redacted without carrying the provider's encrypted data.
    const steps = r.exported.steps as Json[];
    expect(steps[0]).toMatchObject({ type: 'thinking', content: '', redacted: true });
    expect(JSON.stringify(r.exported)).not.toContain(data);
  });

  it('keeps a signature-only thinking block and sends it back with its empty text', async () => {
    const r = await replay('anthropic', [fixture('signature-only-thinking'), { text: 'Done.' }], {
      agent: section({ thinking_budget_tokens: 1024 }),
    });
    expect(kinds(r.steps)).toEqual(['1:thinking', '2:file_read', '3:message']);
    const signature = 'EqoBCkgIARABGAIiQL2vdsBdN1BnYhsSsYkTfZQQwRX3V5Ysu8o0Jp9a';
    expect(r.steps[0]!.payload).toEqual({ type: 'thinking', content: '', signature });
    const next = r.chats[1];
    expect(body(next).thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect((messages(next)[1]!.content as Json[])[0]).toEqual({ type: 'thinking', thinking: '', signature });
  });

  it('joins a web-search answer of many text blocks into one message with its citations', async () => {
    const r = await replay('anthropic', [fixture('web-search-citations')]);
    expect(kinds(r.steps)).toEqual(['1:message']);
    const p = r.steps[0]!.payload as { content: string; citations?: Json[] };
    expect(p.content).toBe(
      "I'll check the documentation.\n\nPython's own format accepts both separators: keys and values may be separated " +
        'by = or :, and style guides keep lines short.',
    );
    expect(p.citations?.map((c) => [c.type, c.url, c.title])).toEqual([
      [
        'web_search_result_location',
        'https://docs.python.org/3/library/configparser.html',
        'configparser — Configuration file parser',
      ],
      ['web_search_result_location', 'https://peps.python.org/pep-0008/', 'PEP 8'],
    ]);
    expect(p.citations?.[0]?.cited_text).toBe('Values can be separated from keys by = or :');
  });

  it('runs parallel tool calls with streamed inputs and answers both in one user message', async () => {
    const r = await replay('anthropic', [fixture('parallel-tool-use'), { text: 'Done.' }]);
    expect(kinds(r.steps)).toEqual(['1:message', '2:file_read', '3:file_read', '4:message']);
    expect(r.steps.slice(1, 3).map((s) => s.tool_call)).toEqual([
      { id: 'toolu_01PtA', name: 'file_read', input: { path: 'tests/test_parser.py' } },
      { id: 'toolu_01PtB', name: 'file_read', input: { path: 'src/parser.py' } },
    ]);
    const [, assistant, user] = messages(r.chats[1]);
    expect(assistant).toEqual({
      role: 'assistant',
      content: [
        { type: 'text', text: 'Reading the test and the parser.' },
        { type: 'tool_use', id: 'toolu_01PtA', name: 'file_read', input: { path: 'tests/test_parser.py' } },
        { type: 'tool_use', id: 'toolu_01PtB', name: 'file_read', input: { path: 'src/parser.py' } },
      ],
    });
    expect((user!.content as Json[]).map((b) => [b.type, b.tool_use_id, b.is_error])).toEqual([
      ['tool_result', 'toolu_01PtA', false],
      ['tool_result', 'toolu_01PtB', false],
    ]);
  });

  it('retries an overloaded_error event that comes before any output', async () => {
    const r = await replay('anthropic', [fixture('error-before-output'), { text: 'Recovered.' }]);
    expect(kinds(r.steps)).toEqual(['1:message']);
    expect(r.steps[0]!.payload).toEqual({ type: 'message', content: 'Recovered.' });
    expect(r.chats).toHaveLength(2);
    expect(body(r.chats[1])).toEqual(body(r.chats[0]));
    expect(r.session.status).toBe('finished');
  });

  it('keeps "Hello" from an attempt that failed mid-stream as a retried attempt, and retries the same request', async () => {
    const r = await replay('anthropic', [fixture('error-after-output'), { text: 'Hello again.' }]);
    expect(kinds(r.steps)).toEqual(['1:message', '2:message']);
    expect(r.steps[0]!.payload).toEqual({
      type: 'message',
      content: 'Hello',
      retried: 'overloaded_error mid-stream: Overloaded',
    });
    expect(r.steps[1]!.payload).toEqual({ type: 'message', content: 'Hello again.' });
    // The retried attempt is not part of the conversation: the retry asks the same question,
    // and the training formats built from the steps leave it out too.
    expect(body(r.chats[1])).toEqual(body(r.chats[0]));
    expect(stepsToMessages(r.steps)).toEqual([{ role: 'assistant', content: 'Hello again.' }]);
    expect(r.session.status).toBe('finished');
  });

  it('says in words that retries ran out, keeping what streamed', async () => {
    const r = await replay('anthropic', [fixture('error-after-output'), fixture('error-after-output')], {
      agent: section({ max_retries: 1 }),
    });
    expect(kinds(r.steps)).toEqual(['1:message', '2:message', '3:error']);
    expect(r.steps[0]!.payload).toMatchObject({ content: 'Hello', retried: 'overloaded_error mid-stream: Overloaded' });
    expect(r.steps[1]!.payload).toEqual({ type: 'message', content: 'Hello' });
    expect(r.session.status).toBe('failed');
    expect(r.session.end_reason).toBe(
      'the Anthropic API failed in the middle of its answer (overloaded_error: Overloaded) and retries ran out: ' +
        'the service is busy; continue the session later.',
    );
  });

  it('fails on a second message_start in one stream and never runs its tool call', async () => {
    const r = await replay('anthropic', [fixture('spliced-message')]);
    expect(kinds(r.steps)).toEqual(['1:message', '2:error']);
    expect(r.steps[0]!.payload).toEqual({ type: 'message', content: 'Looking at the parser.' });
    expect(r.session.status).toBe('failed');
    expect(r.session.end_reason).toMatch(/^the Anthropic stream broke the protocol: a second message_start arrived/);
    expect(r.chats).toHaveLength(1);
  });
});

describe('OpenAI chat-completions streams', () => {
  const section = (extra: Json) => ({ openai: extra });

  it('sends max_completion_tokens and no temperature by default', async () => {
    const r = await replay('openai', [{ text: 'Done.' }], {
      server: { openaiUnsupported: ['max_tokens', 'temperature'] },
    });
    expect(r.session.status).toBe('finished');
    const sent = body(r.chats[0]);
    expect(sent.max_completion_tokens).toBe(4096);
    expect('max_tokens' in sent).toBe(false);
    expect('temperature' in sent).toBe(false);
  });

  it('a 400 for an unsupported parameter names the config key to change', async () => {
    const r = await replay('openai', [], {
      agent: section({ max_tokens_param: 'max_tokens', temperature: 0.2 }),
      server: { openaiUnsupported: ['max_tokens'] },
    });
    expect(body(r.chats[0]).max_tokens).toBe(4096);
    expect(kinds(r.steps)).toEqual(['1:error']);
    expect(r.session.status).toBe('failed');
    expect(r.session.end_reason).toBe(
      `${rig!.server.openaiUrl} refused the request (400 Unsupported parameter: 'max_tokens' is not supported with this ` +
        "model. Use 'max_completion_tokens' instead.): set openai.max_tokens_param: max_completion_tokens.",
    );
  });

  it('a refusal streamed in delta.refusal is a message step and the end reason', async () => {
    const r = await replay('openai', [fixture('refusal')]);
    expect(kinds(r.steps)).toEqual(['1:message']);
    expect(r.steps[0]!.payload).toEqual({
      type: 'message',
      content: "I'm sorry, I can't help with that.",
      refusal: true,
    });
    expect([r.session.status, r.session.end_reason]).toEqual([
      'finished',
      `the model refused to continue: "I'm sorry, I can't help with that."`,
    ]);
    expect(r.steps[0]!.usage).toEqual({ input_tokens: 812, output_tokens: 11 });
  });

  it('finish_reason length keeps the cut answer, marked, and names openai.max_tokens', async () => {
    const r = await replay('openai', [fixture('length')]);
    expect(r.steps.map((s) => s.payload)).toEqual([
      {
        type: 'message',
        content: 'The parser splits each line on the first equals sign, so',
        truncated: true,
      },
    ]);
    expect(r.session.status).toBe('failed');
    expect(r.session.end_reason).toContain('raise live_coding_agent.openai.max_tokens (now 4096) in the config');
  });

  it('counts cached prompt tokens apart from the rest of the input', async () => {
    const r = await replay('openai', [fixture('usage-cached')]);
    const usage = { input_tokens: 5536, output_tokens: 61, cache_read_input_tokens: 4096 };
    expect(r.steps[0]!.usage).toEqual(usage);
    expect(r.session.usage).toEqual(usage);
    expect(r.exported.usage).toEqual(usage);
  });

  it('passes reasoning_content back with the tool call when the server needs it (DeepSeek)', async () => {
    const r = await replay('openai', [fixture('reasoning-tool-call'), { text: 'Done.' }], {
      agent: section({ send_reasoning_as: 'reasoning_content', max_tokens_param: 'max_tokens' }),
    });
    expect(kinds(r.steps)).toEqual(['1:thinking', '2:file_read', '3:message']);
    expect(r.steps[0]!.payload).toEqual({ type: 'thinking', content: 'The test fails on a colon; read the parser.' });
    expect(r.steps[0]!.usage).toEqual({ input_tokens: 256, output_tokens: 58, cache_read_input_tokens: 768 });
    const assistant = messages(r.chats[1])[2];
    expect(assistant).toEqual({
      role: 'assistant',
      content: null,
      reasoning_content: 'The test fails on a colon; read the parser.',
      tool_calls: [
        {
          id: 'call_00_Rs4read',
          type: 'function',
          function: { name: 'file_read', arguments: '{"path":"src/parser.py"}' },
        },
      ],
    });
    expect(messages(r.chats[1])[3]).toMatchObject({ role: 'tool', tool_call_id: 'call_00_Rs4read' });
  });

  it('sends no reasoning back by default (OpenAI has no such field)', async () => {
    const r = await replay('openai', [fixture('reasoning-tool-call'), { text: 'Done.' }]);
    const assistant = messages(r.chats[1])[2]!;
    expect(Object.keys(assistant).sort()).toEqual(['content', 'role', 'tool_calls']);
  });

  it('keeps url_citation annotations on the message', async () => {
    const r = await replay('openai', [fixture('citations')]);
    expect(r.steps[0]!.payload).toEqual({
      type: 'message',
      content: 'Keys and values may be separated by = or :.',
      citations: [
        {
          type: 'url_citation',
          url: 'https://docs.python.org/3/library/configparser.html',
          title: 'configparser',
          start_index: 0,
          end_index: 42,
        },
      ],
    });
  });

  it('runs parallel tool calls whose arguments interleave, and answers each', async () => {
    const r = await replay('openai', [fixture('parallel-tool-calls'), { text: 'Done.' }]);
    expect(kinds(r.steps)).toEqual(['1:file_read', '2:file_read', '3:message']);
    expect(r.steps.slice(0, 2).map((s) => s.tool_call)).toEqual([
      { id: 'call_Pt6a', name: 'file_read', input: { path: 'tests/test_parser.py' } },
      { id: 'call_Pt6b', name: 'file_read', input: { path: 'src/parser.py' } },
    ]);
    const sent = messages(r.chats[1]);
    expect(sent.slice(3).map((m) => [m.role, m.tool_call_id])).toEqual([
      ['tool', 'call_Pt6a'],
      ['tool', 'call_Pt6b'],
    ]);
  });

  it('retries a server_error chunk before any output', async () => {
    const r = await replay('openai', [fixture('error-before-output'), { text: 'Recovered.' }]);
    expect(r.steps.map((s) => s.payload)).toEqual([{ type: 'message', content: 'Recovered.' }]);
    expect(body(r.chats[1])).toEqual(body(r.chats[0]));
  });

  it('retries a server_error chunk after "Hello", keeping it as a retried attempt', async () => {
    const r = await replay('openai', [fixture('error-after-output'), { text: 'Hello again.' }]);
    expect(r.steps.map((s) => s.payload)).toEqual([
      {
        type: 'message',
        content: 'Hello',
        retried:
          'server_error mid-stream: The server had an error while processing your request. Sorry about that! ' +
          'You can retry your request, or contact us through our help center if the error persists.',
      },
      { type: 'message', content: 'Hello again.' },
    ]);
    expect(body(r.chats[1])).toEqual(body(r.chats[0]));
    expect(r.session.status).toBe('finished');
  });
});

describe('Ollama /api/chat streams', () => {
  it('done_reason length keeps the cut answer and names ollama.max_tokens', async () => {
    const r = await replay('ollama', [fixture('length')]);
    expect(r.steps.map((s) => s.payload)).toEqual([
      { type: 'message', content: 'The parser splits each line on the first equals', truncated: true },
    ]);
    expect(r.steps[0]!.usage).toEqual({ input_tokens: 1400, output_tokens: 64 });
    expect(r.session.status).toBe('failed');
    expect(r.session.end_reason).toContain('raise live_coding_agent.ollama.max_tokens (now 4096) in the config');
  });

  it('runs two tool calls of one chunk and sends both results back', async () => {
    const r = await replay('ollama', [fixture('parallel-tool-calls'), { text: 'Done.' }]);
    expect(kinds(r.steps)).toEqual(['1:message', '2:file_read', '3:file_read', '4:message']);
    const sent = messages(r.chats[1]);
    expect(sent[2]).toMatchObject({
      role: 'assistant',
      content: 'Reading both.',
      tool_calls: [
        { function: { name: 'file_read', arguments: { path: 'tests/test_parser.py' } } },
        { function: { name: 'file_read', arguments: { path: 'src/parser.py' } } },
      ],
    });
    expect(sent.slice(3).map((m) => [m.role, m.tool_name])).toEqual([
      ['tool', 'file_read'],
      ['tool', 'file_read'],
    ]);
  });

  it('sends thinking back on the assistant message', async () => {
    const r = await replay('ollama', [fixture('thinking-tool-call'), { text: 'Done.' }]);
    expect(kinds(r.steps)).toEqual(['1:thinking', '2:message', '3:file_read', '4:message']);
    expect(messages(r.chats[1])[2]).toMatchObject({
      role: 'assistant',
      thinking: 'The test fails; read the parser.',
      content: 'Reading it now.',
    });
  });

  it('an error line after "Hello" keeps "Hello" and ends the session with the message in words', async () => {
    const r = await replay('ollama', [fixture('error-after-output')]);
    expect(kinds(r.steps)).toEqual(['1:message', '2:error']);
    expect(r.steps[0]!.payload).toEqual({ type: 'message', content: 'Hello' });
    expect(r.session.status).toBe('failed');
    expect(r.session.end_reason).toBe(
      `the stream from ${rig!.server.ollamaUrl} broke (an error was encountered while running the model: unexpected EOF): ` +
        'check that `ollama serve` is still running (a crash or running out of memory ends the stream), then continue the session.',
    );
  });
});

/**
 * @module test/backends/session
 * Each raw-model backend (anthropic, ollama, openai) runs whole sessions through the engine,
 * its real client library and the scripted model server: a multi-step fix of the demo repo
 * with checkpoints, usage and export; pause, instruction, rollback and stop as the provider's
 * wire sees them; and every failure (refused connection, missing model, 401, 500, malformed
 * tool call) ending in a clear status with an error step, never a crash.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, sessionLines } from '../../src/export/index.js';
import type { SessionEvent } from '../../src/session/events.js';
import type { SessionControls } from '../../src/session/types.js';
import type { Step } from '../../src/steps/types.js';
import { DEMO, ended, waitForEvent } from '../engine/harness.js';
import type { Provider, ScriptedTurn } from '../model-server/server.js';
import {
  type BackendRig,
  KEY,
  KEY_ENV,
  MODEL,
  PROVIDERS,
  startRig,
  toolCalls,
  toolResults,
  userTexts,
} from './harness.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' });
const demoFile = (p: string) => readFileSync(join(DEMO, 'repo', p), 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const read = (path: string): ScriptedTurn['tool_calls'] => [{ name: 'file_read', input: { path } }];
const bash = (command: string): ScriptedTurn['tool_calls'] => [{ name: 'bash_command', input: { command } }];
const FIX: ScriptedTurn['tool_calls'] = [
  {
    name: 'file_edit',
    input: {
      path: 'src/parser.py',
      old_text: '        key, value = line.split("=", 1)\n',
      new_text: '        key, value = line.replace(":", "=", 1).split("=", 1)\n',
    },
  },
];
/** A first turn that streams for about half a second, so a control lands while it streams. */
const SLOW_FIRST: ScriptedTurn = {
  text: 'Reading the test first, then the parser, then running the suite.',
  chunk_size: 8,
  chunk_delay_ms: 60,
  tool_calls: read('tests/test_parser.py'),
};

const typesOf = (steps: Step[]) => steps.map((s) => `${s.step_idx}:${s.type}`);
const payload = <T extends Step['payload']['type']>(step: Step | undefined, type: T) => {
  expect(step?.payload.type).toBe(type);
  return step!.payload as Step['payload'] & { type: T };
};

/** The flattened trajectories line(s) of a session, as `potato export` writes them. */
async function trajectory(rig: BackendRig, id: string): Promise<Record<string, unknown>[]> {
  return (await collect(sessionLines(rig.engine.store, id, 'trajectories', { flattenBranches: true }))).map((l) =>
    JSON.parse(l),
  );
}

let rig: BackendRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function run(
  provider: Provider,
  turns: (ScriptedTurn | { fail: { status: 401 | 404 | 500 } })[],
): Promise<{ r: BackendRig; s: SessionControls }> {
  rig = await startRig(provider, { output: { export_formats: ['trajectories'] } });
  rig.server.enqueue(provider, ...turns);
  const s = await rig.engine.manager.start({ task: 'Fix the failing test in tests/test_parser.py', annotator: 'ann' });
  await waitForEvent(rig.engine, s.id, ended);
  return { r: rig, s };
}

describe.each(PROVIDERS)('the %s backend in a real session', (provider) => {
  it('reads, edits and runs the tests through the real client, with checkpoints, usage and export', async () => {
    const { r, s } = await run(provider, [
      { text: 'I will read the failing test first.', tool_calls: read('tests/test_parser.py'), usage: u(1000, 40) },
      { tool_calls: read('src/parser.py'), usage: u(1200, 30) },
      { tool_calls: bash('python3 -m unittest'), usage: u(1500, 25) },
      { thinking: 'The parser only splits on "=".', tool_calls: FIX, usage: u(1800, 60) },
      { tool_calls: bash('python3 -m unittest'), usage: u(2000, 20) },
      { text: 'Both tests pass now.', usage: u(2100, 15) },
    ]);
    const { store } = r.engine;
    const session = (await store.getSession(s.id))!;
    expect([session.status, session.end_reason]).toEqual(['finished', 'the agent finished its work']);
    expect(session.backend).toBe(provider);
    const steps = await store.listSteps(s.id);
    expect(typesOf(steps)).toEqual([
      '1:message',
      '2:file_read',
      '3:file_read',
      '4:bash_command',
      '5:thinking',
      '6:file_edit',
      '7:bash_command',
      '8:message',
    ]);
    expect(payload(steps[0], 'message').content).toBe('I will read the failing test first.');
    // A read gives the lines of the file (no trailing newline).
    expect(payload(steps[1], 'file_read').content).toBe(demoFile('tests/test_parser.py').trimEnd());
    expect(payload(steps[2], 'file_read').content).toBe(demoFile('src/parser.py').trimEnd());
    const failing = payload(steps[3], 'bash_command');
    expect([failing.exit_code, failing.output]).toEqual([1, expect.stringMatching(/FAILED \(errors=1\)/)]);
    expect(payload(steps[4], 'thinking').content).toBe('The parser only splits on "=".');
    expect(payload(steps[5], 'file_edit').diff).toContain('+        key, value = line.replace(":", "=", 1)');
    const passing = payload(steps[6], 'bash_command');
    expect([passing.exit_code, passing.output]).toEqual([0, expect.stringMatching(/Ran 2 tests[\s\S]*\nOK/)]);
    // The tool results the model got back are the ones recorded.
    expect(steps[3]!.tool_result).toContain('FAILED (errors=1)');
    expect(steps.filter((st) => st.tool_is_error)).toEqual([]);

    // One checkpoint commit for the one changing step, on top of the initial state.
    const ws = session.workspace;
    const log = git(ws, 'log', '--format=%s').trim().split('\n');
    expect(log).toEqual([
      '[potato-checkpoint] Step 6: Edit src/parser.py',
      '[potato-checkpoint] Step 0: Initial state',
    ]);
    expect(git(ws, 'log', '-1', '--format=%B')).toContain('- Agent reasoning: The parser only splits on "=".');
    expect(steps[5]!.checkpoint).toBe(git(ws, 'rev-parse', 'HEAD').trim());
    expect(steps.filter((st) => st.changed_files).map((st) => st.step_idx)).toEqual([6]);
    expect(readFileSync(join(ws, 'src/parser.py'), 'utf8')).toContain('line.replace(":", "=", 1)');

    // Usage: the session adds up every turn, as the provider reported it.
    expect(session.usage).toEqual(u(9600, 190));
    expect(steps[0]!.usage).toEqual(u(1000, 40)); // text + call: on the text step
    expect(steps[2]!.usage).toEqual(u(1200, 30)); // call only: on the call's step
    expect(steps[4]!.usage).toEqual(u(1800, 60)); // thinking + call: on the thinking step
    expect(steps[7]!.usage).toEqual(u(2100, 15));
    // Per step: each turn's usage is on one step of that turn, so the steps add up to the session.
    const perStep = steps.reduce(
      (t, st) => u(t.input_tokens + (st.usage?.input_tokens ?? 0), t.output_tokens + (st.usage?.output_tokens ?? 0)),
      u(0, 0),
    );
    expect(perStep).toEqual(session.usage);
    const usageEvents = (await store.eventsAfter(s.id, 0)).filter((e) => e.type === 'usage');
    expect(usageEvents.at(-1)).toMatchObject({ total: u(9600, 190) });

    // The wire: six model requests, the last holding all five calls each answered by its result.
    const chats = r.chats();
    expect(chats).toHaveLength(6);
    const last = chats[5]!.body;
    const calls = toolCalls(provider, last);
    expect(calls.map((c) => c.name)).toEqual(['file_read', 'file_read', 'bash_command', 'file_edit', 'bash_command']);
    expect(calls[3]!.input).toEqual(FIX![0]!.input);
    const results = toolResults(provider, last);
    expect(results).toHaveLength(5);
    if (provider === 'ollama') expect(results.map((x) => x.ref)).toEqual(calls.map((c) => c.name));
    else expect(results.map((x) => x.ref)).toEqual(calls.map((c) => c.id));
    expect(results[2]!.content).toContain('FAILED (errors=1)');
    expect(results[4]!.content).toMatch(/\nOK/);
    expect(userTexts(provider, chats[0]!.body)).toEqual(['Fix the failing test in tests/test_parser.py']);
    expect((chats[0]!.body as { model: string }).model).toBe(MODEL[provider]);
    // The key went to the provider, and nowhere else.
    // (this Anthropic SDK sends it as a bearer token, not x-api-key)
    if (provider !== 'ollama') expect(chats[0]!.headers.authorization).toBe(`Bearer ${KEY}`);

    // Exported as soon as it ended: one trajectory line with every step and its tool result.
    const exported = readFileSync(join(r.engine.config.output.path, 'trajectories', `${s.id}.jsonl`), 'utf8')
      .trim()
      .split('\n');
    expect(exported).toHaveLength(1);
    expect(exported[0]).not.toContain(KEY);
    expect(JSON.stringify(await store.eventsAfter(s.id, 0))).not.toContain(KEY);
    if (provider !== 'ollama') expect(session.backend_settings.api_key_env).toBe(KEY_ENV);
    const line = JSON.parse(exported[0]!);
    expect(line).toEqual((await trajectory(r, s.id))[0]);
    // Token usage is kept in the trajectory: per step, and summed over the branch's steps.
    expect(line.usage).toEqual(session.usage);
    expect(line.steps.map((st: { usage?: unknown }) => st.usage ?? null)).toEqual(steps.map((st) => st.usage));
    expect([line.session_id, line.branch, line.task]).toEqual([
      s.id,
      'branch-A',
      'Fix the failing test in tests/test_parser.py',
    ]);
    expect(line.steps.map((st: { step_idx: number; type: string }) => `${st.step_idx}:${st.type}`)).toEqual(
      typesOf(steps),
    );
    expect(line.steps[3]).toMatchObject({ type: 'bash_command', exit_code: 1, tool_name: 'bash_command' });
    expect(line.steps[5]).toMatchObject({ type: 'file_edit', path: 'src/parser.py', checkpoint: steps[5]!.checkpoint });
  });

  it('holds a pause, delivers an instruction in the next request, rolls back and stops', async () => {
    rig = await startRig(provider);
    const r = rig;
    const { store } = r.engine;
    r.server.enqueue(
      provider,
      SLOW_FIRST,
      { tool_calls: read('src/parser.py') },
      { tool_calls: FIX },
      { tool_calls: bash('python3 -m unittest') },
      { text: 'Done.' },
    );
    const s = await r.engine.manager.start({ task: 'Fix the failing test', annotator: 'ann' });
    await until('the first model request', () => r.chats().length === 1);
    await s.pause('ann');
    await waitForEvent(r.engine, s.id, (e) => e.type === 'status' && e.status === 'paused');
    // The turn's text step is in; its tool call waits for the resume.
    expect(typesOf(await store.listSteps(s.id))).toEqual(['1:message']);
    await sleep(800);
    expect(typesOf(await store.listSteps(s.id))).toEqual(['1:message']);
    expect(r.chats()).toHaveLength(1);
    expect(s.status()).toBe('paused');

    const instruction = 'Do not touch the tests; fix the parser.';
    await s.instruct(instruction, 'ann');
    await s.resume('ann');
    await waitForEvent(r.engine, s.id, ended);
    const steps = await store.listSteps(s.id);
    expect(typesOf(steps)).toEqual([
      '1:message',
      '2:file_read',
      '3:file_read',
      '4:file_edit',
      '5:bash_command',
      '6:message',
    ]);
    // The next request carried the instruction as a user message, after the turn's tool result.
    const chats = r.chats();
    expect(userTexts(provider, chats[0]!.body)).not.toContain(instruction);
    const next = chats[1]!.body as { messages: { role: string }[] };
    expect(userTexts(provider, next).at(-1)).toBe(instruction);
    expect(next.messages.at(-1)!.role).toBe('user');
    expect(toolResults(provider, next)).toHaveLength(1);
    expect((await store.listInterventions(s.id)).map((i) => i.type)).toEqual(['pause', 'instruction', 'resume']);
    const ws = (await store.getSession(s.id))!.workspace;
    expect(readFileSync(join(ws, 'src/parser.py'), 'utf8')).not.toBe(demoFile('src/parser.py'));

    // Roll back to step 3 (the parser read): the edit is undone, and the model sees steps 1-3 only.
    r.server.enqueue(provider, {
      text: 'Let me think about this again, slowly, one line at a time, before touching anything.',
      chunk_size: 4,
      chunk_delay_ms: 100,
    });
    const before = chats.length;
    await s.rollback({ toStepId: steps[2]!.id, reason: 'edited before asking', annotator: 'ann' });
    expect(readFileSync(join(ws, 'src/parser.py'), 'utf8')).toBe(demoFile('src/parser.py'));
    await until('the request after the rollback', () => r.chats().length === before + 1);
    const afterRollback = r.chats()[before]!.body;
    expect(toolCalls(provider, afterRollback).map((c) => c.name)).toEqual(['file_read', 'file_read']);
    expect(toolResults(provider, afterRollback)).toHaveLength(2);
    expect(toolResults(provider, afterRollback)[1]!.content).toContain('def parse_config');
    expect(userTexts(provider, afterRollback)).toContain(instruction);

    // Stop while that turn streams: the session ends as stopped, by the annotator.
    await s.stop('ann');
    const session = (await store.getSession(s.id))!;
    expect([session.status, session.end_reason]).toEqual(['stopped', 'stopped by the annotator']);
    expect(s.status()).toBe('stopped');
    expect((await store.listInterventions(s.id)).at(-1)?.type).toBe('stop');
    expect(r.server.pending(provider)).toBe(0);
    expect((await store.listBranches(s.id)).map((b) => b.name)).toEqual(['branch-A', 'branch-B']);
  });
});

function u(input_tokens: number, output_tokens: number) {
  return { input_tokens, output_tokens };
}

/** The failed session's last step is an error step that says the same as its end_reason. */
async function expectFailedWith(r: BackendRig, id: string, reason: RegExp): Promise<Step> {
  const session = (await r.engine.store.getSession(id))!;
  expect(session.status).toBe('failed');
  expect(session.end_reason).toMatch(reason);
  const last = (await r.engine.store.listSteps(id)).at(-1)!;
  expect(last.payload).toEqual({ type: 'error', kind: 'backend', message: session.end_reason });
  const [line, ...more] = await trajectory(r, id);
  expect(more).toEqual([]);
  expect((line!.steps as Record<string, unknown>[]).at(-1)).toMatchObject({
    type: 'error',
    kind: 'backend',
    message: session.end_reason,
  });
  return last;
}

const REFUSED: Record<Provider, RegExp> = {
  anthropic: /^nothing answers at http:\/\/127\.0\.0\.1:\d+ \(.+\): check the network, or anthropic\.base_url/,
  ollama: /^nothing answers at http:\/\/127\.0\.0\.1:\d+: is `ollama serve` running\?$/,
  openai:
    /^nothing answers at http:\/\/127\.0\.0\.1:\d+\/v1: is the server .* running, and is openai\.base_url right\?$/,
};

const BROKEN: Record<Provider, RegExp> = {
  anthropic:
    /^the Anthropic stream from http:\/\/127\.0\.0\.1:\d+ broke \(terminated\): check the network .*then continue the session\.$/,
  ollama:
    /^the stream from http:\/\/127\.0\.0\.1:\d+ broke \(terminated\): check that `ollama serve` is still running .*then continue the session\.$/,
  openai:
    /^the stream from http:\/\/127\.0\.0\.1:\d+\/v1 broke \(terminated\): check that the server is still running and reachable, then continue the session\.$/,
};

const MISSING: Record<Provider, RegExp> = {
  anthropic:
    /^model claude-sonnet-4-20250514 was not found at http:\/\/127\.0\.0\.1:\d+ \(404 not_found_error: model: claude-sonnet-4-20250514\): check anthropic\.model/,
  ollama: /^model qwen2\.5-coder:32b is not pulled on http:\/\/127\.0\.0\.1:\d+: run `ollama pull qwen2\.5-coder:32b`$/,
  openai:
    /^model local-model was not found at http:\/\/127\.0\.0\.1:\d+\/v1 \(404 The model `local-model` does not exist.*\): check openai\.model/,
};

const UNAUTHORIZED: Record<Provider, RegExp> = {
  anthropic:
    /^the Anthropic API rejected the key in POTATO_BACKEND_TEST_KEY \(401 authentication_error: invalid x-api-key\): set a valid key in POTATO_BACKEND_TEST_KEY\.$/,
  ollama:
    /^http:\/\/127\.0\.0\.1:\d+ refused the request \(401 unauthorized\): Ollama itself takes no key, .*point ollama\.host at the Ollama server itself\.$/,
  openai:
    /^http:\/\/127\.0\.0\.1:\d+\/v1 refused the request \(401 Incorrect API key provided\.\): set a valid key in POTATO_BACKEND_TEST_KEY\.$/,
};

describe.each(PROVIDERS)('the %s backend when things go wrong', (provider) => {
  it('fails the session with "nothing answers" when the server goes away mid-session', async () => {
    rig = await startRig(provider);
    const r = rig;
    r.server.enqueue(provider, SLOW_FIRST, { text: 'never streamed' });
    const s = await r.engine.manager.start({ task: 'Fix the failing test', annotator: 'ann' });
    await until('the first model request', () => r.chats().length === 1);
    await s.pause('ann');
    await waitForEvent(r.engine, s.id, (e) => e.type === 'status' && e.status === 'paused');
    await r.server.close();
    await s.resume('ann');
    await waitForEvent(r.engine, s.id, ended);
    await expectFailedWith(r, s.id, REFUSED[provider]);
    // The step before the failure ran: its result is kept.
    expect(typesOf(await r.engine.store.listSteps(s.id))).toEqual(['1:message', '2:file_read', '3:error']);
    expect(s.status()).toBe('failed');
  });

  it('fails the session, saying what to do, when the stream breaks off mid-answer', async () => {
    rig = await startRig(provider);
    const r = rig;
    r.server.enqueue(provider, { ...SLOW_FIRST, chunk_delay_ms: 80 });
    const s = await r.engine.manager.start({ task: 'Fix the failing test', annotator: 'ann' });
    await until('the first model request', () => r.chats().length === 1);
    await sleep(250);
    await r.server.close();
    await waitForEvent(r.engine, s.id, ended);
    // A cut stream is a failure, never a turn that "finished" with half a message.
    await expectFailedWith(r, s.id, BROKEN[provider]);
    // What the annotator saw stream before the cut stays in the event log, even across a shutdown.
    await r.engine.manager.shutdown();
    const seen = (await r.engine.store.eventsAfter(s.id, 0))
      .flatMap((e) => (e.type === 'partial' && e.kind === 'message' ? [e.text] : []))
      .join('');
    expect(seen.length).toBeGreaterThan(0);
    expect(SLOW_FIRST.text!.startsWith(seen)).toBe(true);
  });

  it('refuses to start when nothing answers, saying so', async () => {
    rig = await startRig(provider);
    await rig.server.close();
    const s = await rig.engine.manager.start({ task: 'Fix the failing test', annotator: 'ann' });
    await waitForEvent(rig.engine, s.id, ended);
    // No model turn ran; the session and its trajectory still say why.
    expect(await rig.engine.store.listSteps(s.id)).toHaveLength(1);
    await expectFailedWith(rig, s.id, REFUSED[provider]);
    const said = (await rig.engine.store.eventsAfter(s.id, 0)).find(
      (e): e is Extract<SessionEvent, { type: 'status' }> => e.type === 'status' && e.status === 'failed',
    );
    expect(said?.message).toMatch(REFUSED[provider]);
  });

  it('fails the session when the model is missing', async () => {
    const { r, s } = await run(provider, [{ tool_calls: read('src/parser.py') }, { fail: { status: 404 } }]);
    await expectFailedWith(r, s.id, MISSING[provider]);
    expect(typesOf(await r.engine.store.listSteps(s.id))).toEqual(['1:file_read', '2:error']);
    // 404 is not retried.
    expect(r.chats()).toHaveLength(2);
  });

  it('fails the session on a 401, saying which key to fix', async () => {
    const { r, s } = await run(provider, [{ tool_calls: read('src/parser.py') }, { fail: { status: 401 } }]);
    const step = await expectFailedWith(r, s.id, UNAUTHORIZED[provider]);
    expect(JSON.stringify(step)).not.toContain(KEY);
    expect(r.chats()).toHaveLength(2);
  });

  it('continues a session that failed on a 401 once the key works, without the error in the context', async () => {
    const { r, s } = await run(provider, [{ tool_calls: read('src/parser.py') }, { fail: { status: 401 } }]);
    await expectFailedWith(r, s.id, UNAUTHORIZED[provider]);
    r.server.enqueue(provider, { text: 'The parser is read; nothing else to do.' });
    const c = await r.engine.manager.resumeSession(s.id, 'ann');
    await waitForEvent(r.engine, s.id, (e) => e.type === 'session' && e.session.status === 'finished');
    expect(c.status()).toBe('finished');
    expect(typesOf(await r.engine.store.listSteps(s.id))).toEqual(['1:file_read', '2:error', '3:message']);
    // The request after the continue is the one that failed, well-formed: the failure is not something the model said.
    const chats = r.chats();
    expect(chats).toHaveLength(3);
    expect(chats[2]!.body).toEqual(chats[1]!.body);
    expect(toolResults(provider, chats[2]!.body)).toHaveLength(1);
  });

  it('refuses to start on a 401 at the preflight', async () => {
    rig = await startRig(provider);
    rig.server.fail(provider, 401);
    const s = await rig.engine.manager.start({ task: 'Fix the failing test', annotator: 'ann' });
    await waitForEvent(rig.engine, s.id, ended);
    await expectFailedWith(rig, s.id, UNAUTHORIZED[provider]);
    expect(await rig.engine.store.listSteps(s.id)).toHaveLength(1);
    expect(rig.chats()).toHaveLength(0);
  });

  it('retries a 500, tells the annotator, and carries on', async () => {
    const { r, s } = await run(provider, [
      { tool_calls: read('src/parser.py') },
      { fail: { status: 500 } },
      { text: 'The parser reads both formats already.' },
    ]);
    const session = (await r.engine.store.getSession(s.id))!;
    expect([session.status, session.end_reason]).toEqual(['finished', 'the agent finished its work']);
    expect(typesOf(await r.engine.store.listSteps(s.id))).toEqual(['1:file_read', '2:message']);
    const retrying = (await r.engine.store.eventsAfter(s.id, 0)).filter(
      (e) => e.type === 'status' && e.activity === 'retrying',
    );
    expect(retrying.map((e) => e.type === 'status' && e.message)).toEqual(['server error (500), retrying in 1 s']);
    // The retried request is the same request.
    const chats = r.chats();
    expect(chats).toHaveLength(3);
    expect(chats[2]!.body).toEqual(chats[1]!.body);
  });

  it('records malformed, unknown and incomplete tool calls as bad_tool_call steps, tells the model, and goes on', async () => {
    const { r, s } = await run(provider, [
      { tool_calls: [{ name: 'file_read', raw_arguments: '{"path": "src/parser.py"' }] },
      { tool_calls: [{ name: 'run_shell', input: { cmd: 'ls' } }] },
      { tool_calls: [{ name: 'file_edit', input: { path: 'src/parser.py' } }] },
      { tool_calls: read('src/parser.py') },
      { text: 'Read it.' },
    ]);
    const { store } = r.engine;
    const session = (await store.getSession(s.id))!;
    expect([session.status, session.end_reason]).toEqual(['finished', 'the agent finished its work']);
    const steps = await store.listSteps(s.id);
    expect(typesOf(steps)).toEqual(['1:error', '2:error', '3:error', '4:file_read', '5:message']);
    const messages = steps.slice(0, 3).map((st) => {
      const p = payload(st, 'error');
      expect([p.kind, st.tool_is_error]).toEqual(['bad_tool_call', true]);
      return p.message;
    });
    expect(messages[0]).toMatch(/^the file_read call could not be used: tool arguments are not valid JSON/);
    expect(messages[1]).toMatch(/^Unknown tool "run_shell"\. The tools are: file_read, file_edit, bash_command/);
    expect(messages[2]).toMatch(/^Bad call to file_edit: "new_text" is required\./);
    expect(steps.slice(0, 3).map((st) => st.tool_call?.name)).toEqual(['file_read', 'run_shell', 'file_edit']);
    // Nothing was changed by the bad edit: no checkpoint beyond the initial state.
    expect(steps.filter((st) => st.changed_files)).toEqual([]);
    // The model was told each time, as the result of that very call.
    const chats = r.chats();
    expect(chats).toHaveLength(5);
    const fourth = chats[3]!.body;
    const results = toolResults(provider, fourth);
    const calls = toolCalls(provider, fourth);
    expect(calls.map((c) => c.name)).toEqual(['file_read', 'run_shell', 'file_edit']);
    expect(results.map((x) => x.ref)).toEqual(
      provider === 'ollama' ? calls.map((c) => c.name) : calls.map((c) => c.id),
    );
    expect(results[0]!.content).toMatch(
      /^Error: the file_read call could not be used: tool arguments are not valid JSON.*Call the tool again with valid JSON arguments\.$/s,
    );
    expect(results[1]!.content).toMatch(/Unknown tool "run_shell"/);
    expect(results[2]!.content).toMatch(/"new_text" is required/);
    if (provider === 'anthropic') expect(results.map((x) => x.is_error)).toEqual([true, true, true]);
    else expect(results.every((x) => x.content.startsWith('Error'))).toBe(true);
    const [line] = await trajectory(r, s.id);
    expect((line!.steps as Record<string, unknown>[])[0]).toMatchObject({
      type: 'error',
      kind: 'bad_tool_call',
      tool_name: 'file_read',
      tool_is_error: true,
    });
  });

  it('ends the session cleanly when the model keeps sending malformed tool calls', async () => {
    const broken = { tool_calls: [{ name: 'bash_command', raw_arguments: 'python3 -m unittest' }] };
    const { r, s } = await run(provider, [broken, broken, broken]);
    const steps = await r.engine.store.listSteps(s.id);
    expect(steps.map((st) => (st.payload.type === 'error' ? st.payload.kind : st.type))).toEqual([
      'bad_tool_call',
      'bad_tool_call',
      'bad_tool_call',
      'backend',
    ]);
    await expectFailedWith(r, s.id, /^the model made 3 malformed tool calls in a row$/);
    // Each retry carried the earlier errors back.
    expect(r.chats().map((c) => toolResults(provider, c.body).length)).toEqual([0, 1, 2]);
  });
});

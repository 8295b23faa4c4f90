/**
 * @module test/backends/context
 * A context per branch, as each raw-model backend's wire sees it: after a rollback the model
 * request holds exactly the path's steps and the instructions given on that path up to the
 * checkpoint, plus the rollback's own instruction. Nothing from an earlier rollback to the same
 * step, nothing from another branch. The request bodies are compared whole, in each provider's
 * own message format, as the scripted model server received them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionControls } from '../../src/session/types.js';
import type { Step } from '../../src/steps/types.js';
import { branchPath } from '../../src/store/tree.js';
import { ended, waitForEvent } from '../engine/harness.js';
import type { Provider, ScriptedTurn } from '../model-server/server.js';
import { type BackendRig, PROVIDERS, startRig } from './harness.js';

const TASK = 'Fix the failing test in tests/test_parser.py';
const read = (path: string): ScriptedTurn => ({ tool_calls: [{ name: 'file_read', input: { path } }] });
const say = (text: string): ScriptedTurn => ({ text });

/** What a path holds, provider-neutral: user texts, an assistant turn's text or call, a call's result. */
type Expected = { user: string[] } | { says: string } | { call: Step } | { result: Step };

type Json = Record<string, unknown>;

/** `items` in the provider's own message format, as our backend must have sent them. */
function wire(provider: Provider, items: Expected[]): Json[] {
  const out: Json[] = [];
  for (const item of items) {
    const last = out.at(-1);
    if ('user' in item) {
      if (provider === 'anthropic') {
        const blocks = item.user.map((text) => ({ type: 'text', text }));
        // Tool results and the texts after them share one user message.
        if (last?.role === 'user') (last.content as Json[]).push(...blocks);
        else out.push({ role: 'user', content: blocks });
      } else out.push({ role: 'user', content: item.user.join('\n\n') });
    } else if ('says' in item) {
      if (provider === 'anthropic') out.push({ role: 'assistant', content: [{ type: 'text', text: item.says }] });
      else out.push({ role: 'assistant', content: item.says });
    } else if ('call' in item) {
      const call = item.call.tool_call!;
      if (provider === 'anthropic')
        out.push({
          role: 'assistant',
          content: [{ type: 'tool_use', id: call.id, name: call.name, input: call.input }],
        });
      else if (provider === 'openai')
        out.push({
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.input) } },
          ],
        });
      else
        out.push({
          role: 'assistant',
          content: '',
          tool_calls: [{ function: { name: call.name, arguments: call.input } }],
        });
    } else {
      const step = item.result;
      const call = step.tool_call!;
      if (provider === 'anthropic')
        out.push({
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: call.id, content: step.tool_result, is_error: false }],
        });
      else if (provider === 'openai') out.push({ role: 'tool', tool_call_id: call.id, content: step.tool_result });
      else out.push({ role: 'tool', content: step.tool_result, tool_name: call.name });
    }
  }
  if (provider === 'anthropic') {
    // The conversation so far is marked for the prompt cache on its last block.
    const blocks = out.at(-1)!.content as Json[];
    blocks[blocks.length - 1] = { ...blocks.at(-1), cache_control: { type: 'ephemeral' } };
  }
  return out;
}

/** The messages of a recorded request; OpenAI and Ollama open with the system prompt, checked and left out. */
function sentMessages(provider: Provider, body: unknown): Json[] {
  const messages = (body as { messages: Json[] }).messages;
  if (provider === 'anthropic') return messages;
  expect(messages[0]).toMatchObject({ role: 'system' });
  return messages.slice(1);
}

let rig: BackendRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** Roll back (or branch) and let the agent run to its end; the one model request that followed, as sent. */
async function rollbackAndRun(
  r: BackendRig,
  s: SessionControls,
  to: Step | null,
  instruction: string,
  branch: boolean,
  answer: ScriptedTurn,
): Promise<Json[]> {
  const before = r.chats().length;
  r.server.enqueue(r.provider, answer);
  await s.rollback({
    toStepId: to?.id ?? null,
    reason: 'try again',
    instruction,
    branch,
    annotator: 'ann',
  });
  await s.done;
  expect(s.status()).toBe('finished');
  const chats = r.chats();
  expect(chats).toHaveLength(before + 1);
  return sentMessages(r.provider, chats[before]!.body);
}

describe.each(PROVIDERS)('the %s backend: a context per branch', (provider) => {
  it('holds only the latest instruction after rolling back twice to the same step', async () => {
    rig = await startRig(provider, { live_coding_agent: { branching: { enabled: false } } });
    const r = rig;
    r.server.enqueue(provider, read('src/parser.py'), say('Done.'));
    const s = await r.engine.manager.start({ task: TASK, annotator: 'ann' });
    await waitForEvent(r.engine, s.id, ended);
    const [read1] = await r.engine.store.listSteps(s.id);

    // Twice to step 0 (the initial state).
    expect(await rollbackAndRun(r, s, null, 'Start with the test file.', false, say('first'))).toEqual(
      wire(provider, [{ user: [TASK, 'Start with the test file.'] }]),
    );
    expect(await rollbackAndRun(r, s, null, 'Start with the parser.', false, say('second'))).toEqual(
      wire(provider, [{ user: [TASK, 'Start with the parser.'] }]),
    );
    // Twice to step 1.
    expect(await rollbackAndRun(r, s, read1!, 'Now run the tests.', false, say('third'))).toEqual(
      wire(provider, [{ user: [TASK] }, { call: read1! }, { result: read1! }, { user: ['Now run the tests.'] }]),
    );
    expect(await rollbackAndRun(r, s, read1!, 'Now edit the parser.', false, say('fourth'))).toEqual(
      wire(provider, [{ user: [TASK] }, { call: read1! }, { result: read1! }, { user: ['Now edit the parser.'] }]),
    );
    // Every instruction is still in the log, for the exports.
    const instructions = (await r.engine.store.listInterventions(s.id)).filter((i) => i.type === 'instruction');
    expect(instructions.map((i) => i.content)).toEqual([
      'Start with the test file.',
      'Start with the parser.',
      'Now run the tests.',
      'Now edit the parser.',
    ]);
  });

  it("rolls back into another branch with that branch's instructions and none of the one it left", async () => {
    rig = await startRig(provider, { live_coding_agent: { branching: { max_branches_per_session: 5 } } });
    const r = rig;
    const { store } = r.engine;
    r.server.enqueue(provider, read('src/parser.py'), read('tests/test_parser.py'), say('Done on A.'));
    const s = await r.engine.manager.start({ task: TASK, annotator: 'ann' });
    await waitForEvent(r.engine, s.id, ended);
    const [a1, a2] = (await store.listSteps(s.id)) as [Step, Step];

    // branch-B after step 1, with its own instruction.
    const toB = await rollbackAndRun(r, s, a1, 'Use a regular expression.', true, say('Done on B.'));
    expect(toB).toEqual(
      wire(provider, [{ user: [TASK] }, { call: a1 }, { result: a1 }, { user: ['Use a regular expression.'] }]),
    );
    const branches = async () => await store.listBranches(s.id);
    const b2 = branchPath((await branches())[1]!, await store.listSteps(s.id)).at(-1)!;
    expect(b2.payload).toEqual({ type: 'message', content: 'Done on B.' });

    // From branch-B back into branch-A's step 2: branch-C holds A's path, not B's instruction.
    const toC = await rollbackAndRun(r, s, a2, 'Read the parser again.', true, say('Done on C.'));
    expect(toC).toEqual(
      wire(provider, [
        { user: [TASK] },
        { call: a1 },
        { result: a1 },
        { call: a2 },
        { result: a2 },
        { user: ['Read the parser again.'] },
      ]),
    );

    // And into branch-B's last step: B's own instruction is on that path, C's is not.
    const toD = await rollbackAndRun(r, s, b2, 'Add a test for it.', true, say('Done on D.'));
    expect(toD).toEqual(
      wire(provider, [
        { user: [TASK] },
        { call: a1 },
        { result: a1 },
        { user: ['Use a regular expression.'] },
        { says: 'Done on B.' },
        { user: ['Add a test for it.'] },
      ]),
    );
    expect((await branches()).map((b) => b.name)).toEqual(['branch-A', 'branch-B', 'branch-C', 'branch-D']);
  });
});

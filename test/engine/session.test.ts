/**
 * @module test/engine/session
 * The engine end to end on a real git workspace: the scripted agent reads, edits, runs a
 * failing test, edits again, runs a passing test; pause, instructions, rollback and branches.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../src/session/events.js';
import { createSessionManager } from '../../src/session/manager.js';
import { ControlError } from '../../src/session/types.js';
import type { Step } from '../../src/steps/types.js';
import { branchPath } from '../../src/store/tree.js';
import { HeldClock } from '../clock.js';
import { DEMO, type Engine, ended, startEngine, waitForEvent } from './harness.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' });
const stepEvent = (idx: number) => (e: SessionEvent) => e.type === 'step' && e.step.step_idx === idx;
const demoFile = (p: string) => readFileSync(join(DEMO, 'repo', p), 'utf8');

/** Steps of a model request's context, as step_idx:type. */
function contextSteps(req: { context: { kind: string; step?: Step }[] }): string[] {
  return req.context.filter((c) => c.kind === 'step').map((c) => `${c.step!.step_idx}:${c.step!.type}`);
}

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

describe('a scripted session on a real git workspace', () => {
  it('records every step and makes one checkpoint commit per changing step, with the exact message', async () => {
    engine = await startEngine({ config: { output: { export_formats: ['trajectories'] } } });
    const s = await engine.manager.start({ task: 'Fix the failing test in tests/test_parser.py', annotator: 'ann' });
    await waitForEvent(engine, s.id, ended);
    // Exported as soon as it ended: the session's shard holds one trajectory line for branch-A with all ten steps.
    const exported = readFileSync(join(engine.config.output.path, 'trajectories', `${s.id}.jsonl`), 'utf8')
      .trim()
      .split('\n');
    expect(exported).toHaveLength(1);
    const line = JSON.parse(exported[0]!);
    expect([line.session_id, line.branch, line.steps.length]).toEqual([s.id, 'branch-A', 10]);
    const session = (await engine.store.getSession(s.id))!;
    expect(session.status).toBe('finished');
    const steps = await engine.store.listSteps(s.id);
    expect(steps.map((st) => `${st.step_idx}:${st.type}`)).toEqual([
      '1:thinking',
      '2:file_read',
      '3:thinking',
      '4:file_read',
      '5:message',
      '6:bash_command',
      '7:thinking',
      '8:file_edit',
      '9:bash_command',
      '10:message',
    ]);
    const failing = steps[5]!.payload;
    const passing = steps[8]!.payload;
    expect(failing.type === 'bash_command' && failing.output).toMatch(/FAILED \(errors=1\)/);
    expect(passing.type === 'bash_command' && passing.output).toMatch(/\nOK/);
    expect(failing.type === 'bash_command' && failing.exit_code).toBe(1);
    expect(passing.type === 'bash_command' && passing.exit_code).toBe(0);

    const log = git(session.workspace, 'log', '--format=%B%x00').split('\0\n').filter(Boolean);
    expect(log).toHaveLength(2);
    expect(log[1]!.trim()).toBe('[potato-checkpoint] Step 0: Initial state');
    expect(log[0]!.trim()).toBe(
      [
        '[potato-checkpoint] Step 8: Edit src/parser.py',
        '',
        '- Modified lines 13-14',
        '- Agent reasoning: The parser only splits on "=". The quickest way to make the test pass is to special-case the test input.',
      ].join('\n'),
    );
    const oneline = git(session.workspace, 'log', '--oneline').trim().split('\n');
    expect(oneline.map((l) => l.replace(/^[0-9a-f]+ /, ''))).toEqual([
      '[potato-checkpoint] Step 8: Edit src/parser.py',
      '[potato-checkpoint] Step 0: Initial state',
    ]);
    expect(steps[7]!.checkpoint).toBe(git(session.workspace, 'rev-parse', 'HEAD').trim());
    expect(steps[7]!.changed_files).toBe(true);
    expect(steps.filter((st) => st.changed_files)).toHaveLength(1);
    // The user's folder is never touched: the session worked on its own copy.
    expect(readFileSync(join(engine.dir, 'repo/src/parser.py'), 'utf8')).toBe(demoFile('src/parser.py'));
  });

  it('holds a pause after the current step until resumed', async () => {
    // The agent's turns wait on a clock the test can hold (a short real delay until then).
    const clock = new HeldClock();
    engine = await startEngine({ clock, config: { live_coding_agent: { scripted: { turn_delay_ms: 20 } } } });
    const e = engine;
    const s = await e.manager.start({ task: 'fix it', annotator: 'ann' });
    await waitForEvent(e, s.id, stepEvent(2));
    // step 2 may already be followed by the next turn's thinking; pause now and note where it holds.
    await s.pause('ann');
    await waitForEvent(e, s.id, (ev) => ev.type === 'status' && ev.status === 'paused');
    const heldAt = (await e.store.listSteps(s.id)).length;
    const asked = e.requests.length;
    // An hour passes on the engine's clock: the paused agent asks for no turn and makes no step.
    clock.hold();
    await clock.advance(60 * 60_000);
    expect(clock.waiting).toBe(0);
    expect(e.requests.length).toBe(asked);
    expect((await e.store.listSteps(s.id)).length).toBe(heldAt);
    expect(s.status()).toBe('paused');
    clock.release();
    await s.resume('ann');
    await waitForEvent(e, s.id, stepEvent(heldAt + 1));
    await waitForEvent(e, s.id, ended);
    const types = (await e.store.listInterventions(s.id)).map((i) => i.type);
    expect(types).toEqual(['pause', 'resume']);
    // The pause marker sits after the last step the agent completed before it held, not the head when asked.
    const lastHeld = [...(await e.store.listSteps(s.id))].sort((a, b) => a.step_idx - b.step_idx)[heldAt - 1]!;
    expect((await e.store.listInterventions(s.id))[0]!.after_step_id).toBe(lastHeld.id);
  });

  it('delivers an instruction in the next model request and records it after the current step', async () => {
    engine = await startEngine();
    const e = engine;
    const s = await e.manager.start({ task: 'fix it', annotator: 'ann' });
    await waitForEvent(e, s.id, stepEvent(2));
    await s.pause('ann');
    await waitForEvent(e, s.id, (ev) => ev.type === 'status' && ev.status === 'paused');
    const before = e.requests.length;
    await s.instruct('Do not touch the tests; fix the parser.', 'ann');
    await s.resume('ann');
    await waitForEvent(e, s.id, ended);
    const next = e.requests[before]!;
    const instructions = next.context.filter((c) => c.kind === 'instruction');
    expect(instructions).toEqual([{ kind: 'instruction', text: 'Do not touch the tests; fix the parser.' }]);
    const iv = (await e.store.listInterventions(s.id)).find((i) => i.type === 'instruction')!;
    expect(iv.after_step).toBe((await e.store.getStep(iv.after_step_id!))!.step_idx);
  });

  it('places an instruction sent mid-turn after the step the agent received it after, in the trace, the store and the context', async () => {
    // Held from the start: each model turn waits until the test moves the clock on.
    const clock = HeldClock.held();
    engine = await startEngine({ clock, config: { live_coding_agent: { scripted: { turn_delay_ms: 1 } } } });
    const e = engine;
    const s = await e.manager.start({ task: 'fix it', annotator: 'ann' });
    // The first model turn has asked and waits on the clock.
    await expect.poll(() => clock.waiting).toBe(1);
    await clock.advance(1);
    const step2 = await waitForEvent(e, s.id, stepEvent(2));
    // The second model request is under way (its context is built): the instruction cannot be in it.
    await waitForEvent(e, s.id, (ev) => ev.seq > step2.seq && ev.type === 'status' && ev.activity === 'thinking');
    await expect.poll(() => clock.waiting).toBe(1);
    expect(e.requests).toHaveLength(2);
    await s.instruct('Do not touch the tests; fix the parser.', 'ann');
    clock.release();
    await waitForEvent(e, s.id, ended);

    // Turn 2 made steps 3 and 4; the third request was the first to hold the instruction, right after step 4.
    const third = e.requests[2]!;
    expect(e.requests[1]!.context.some((c) => c.kind === 'instruction')).toBe(false);
    expect(third.context.slice(-2).map((c) => (c.kind === 'step' ? `step ${c.step.step_idx}` : c.kind))).toEqual([
      'step 4',
      'instruction',
    ]);
    const iv = (await e.store.listInterventions(s.id)).find((i) => i.type === 'instruction')!;
    expect(iv.after_step).toBe(4);
    expect((await e.store.getStep(iv.after_step_id!))!.step_idx).toBe(4);
    // Every later request keeps it there: history is not rewritten.
    for (const req of e.requests.slice(3)) {
      const before = req.context[req.context.findIndex((c) => c.kind === 'instruction') - 1];
      expect(before?.kind === 'step' && before.step.step_idx).toBe(4);
    }
    // The trace is told: the last intervention event names step 4 (it first showed after step 2, when sent).
    const events = (await e.store.eventsAfter(s.id, 0)).filter((ev) => ev.type === 'intervention');
    const last = events.at(-1)!;
    expect(last.type === 'intervention' && [last.intervention.id, last.intervention.after_step]).toEqual([iv.id, 4]);
    expect(events[0]!.type === 'intervention' && events[0]!.intervention.after_step).toBe(2);
  });

  it('finishes no session while an instruction sent during its last turn is still to be delivered', async () => {
    const clock = HeldClock.held();
    engine = await startEngine({
      clock,
      config: { live_coding_agent: { scripted: { turn_delay_ms: 1 } } },
      script: {
        turns: [{ text: 'all done' }],
        on_instruction: [{ when: 'README', turns: [{ text: 'README checked too' }] }],
      },
    });
    const e = engine;
    const s = await e.manager.start({ task: 'fix it', annotator: 'ann' });
    await waitForEvent(e, s.id, (ev) => ev.type === 'status' && ev.activity === 'thinking');
    await s.instruct('Check the README as well.', 'ann');
    clock.release();
    await waitForEvent(e, s.id, ended);
    const steps = (await e.store.listSteps(s.id)).map((st) => st.payload.type === 'message' && st.payload.content);
    expect(steps).toEqual(['all done', 'README checked too']);
    expect((await e.store.listInterventions(s.id)).find((i) => i.type === 'instruction')!.after_step).toBe(1);
  });

  it('rolls back byte for byte, truncates the context, and keeps the old path as a branch', async () => {
    engine = await startEngine({
      script: {
        turns: [
          { tool_calls: [{ file_read: { path: 'src/parser.py' } }] },
          {
            tool_calls: [
              { file_edit: { path: 'src/parser.py', old_text: 'settings = {}', new_text: 'settings = dict()' } },
            ],
          },
          { tool_calls: [{ file_edit: { path: 'notes/new.txt', new_text: 'created by the agent\n' } }] },
          { tool_calls: [{ bash_command: { command: 'rm README.md' } }] },
          { text: 'done' },
        ],
        on_instruction: [
          {
            when: 'gently',
            turns: [
              {
                tool_calls: [
                  {
                    file_edit: {
                      path: 'src/parser.py',
                      old_text: 'settings = {}',
                      new_text: 'settings = {}  # gently',
                    },
                  },
                ],
              },
              { text: 'done again' },
            ],
          },
        ],
      },
      config: { live_coding_agent: { sandbox: { allowed_commands: ['rm', 'ls'] } } },
    });
    const e = engine;
    const s = await e.manager.start({ task: 'tidy up', annotator: 'ann' });
    await waitForEvent(e, s.id, ended);
    const ws = (await e.store.getSession(s.id))!.workspace;
    expect(existsSync(join(ws, 'notes/new.txt'))).toBe(true);
    expect(existsSync(join(ws, 'README.md'))).toBe(false);
    const steps = await e.store.listSteps(s.id);
    const step1 = steps.find((st) => st.step_idx === 1)!;

    await expect(s.rollback({ toStepId: step1.id, annotator: 'ann' })).rejects.toThrow(/reason is required/);
    const before = e.requests.length;
    await s.rollback({
      toStepId: step1.id,
      reason: 'it edited the wrong line',
      instruction: 'go gently',
      annotator: 'ann',
    });
    // Byte for byte: the edited file is back, the created one gone, the deleted one restored.
    expect(readFileSync(join(ws, 'src/parser.py'), 'utf8')).toBe(demoFile('src/parser.py'));
    expect(existsSync(join(ws, 'notes/new.txt'))).toBe(false);
    expect(readFileSync(join(ws, 'README.md'), 'utf8')).toBe(demoFile('README.md'));
    await waitForEvent(
      e,
      s.id,
      (ev) => ev.type === 'session' && ev.session.status === 'finished' && ev.seq > 0 && e.requests.length > before + 1,
    );
    // The next request held only step 1 and the instruction.
    expect(contextSteps(e.requests[before]!)).toEqual(['1:file_read']);
    expect(e.requests[before]!.context.at(-1)).toEqual({ kind: 'instruction', text: 'go gently' });

    const branches = await e.store.listBranches(s.id);
    expect(branches.map((b) => b.name)).toEqual(['branch-A', 'branch-B']);
    const [a, b] = branches as [(typeof branches)[0], (typeof branches)[0]];
    const all = await e.store.listSteps(s.id);
    const pathA = branchPath(a, all).map((st) => `${st.step_idx}:${st.type}`);
    const pathB = branchPath(b, all).map((st) => `${st.step_idx}:${st.type}`);
    expect(pathA).toEqual(['1:file_read', '2:file_edit', '3:file_write', '4:bash_command', '5:message']);
    expect(pathB).toEqual(['1:file_read', '2:file_edit', '3:message']);
    expect(b.fork_step_id).toBe(step1.id);
    expect(b.reason).toBe('it edited the wrong line');
    expect(readFileSync(join(ws, 'src/parser.py'), 'utf8')).toContain('settings = {}  # gently');
    // Both paths live in git: one ref per branch.
    const refs = git(ws, 'for-each-ref', '--format=%(refname:short)');
    expect(refs).toMatch(/branch-A/);
    expect(refs).toMatch(/branch-B/);
  });

  it('refuses past the branch limit and when a control is turned off, saying why', async () => {
    engine = await startEngine({
      config: {
        live_coding_agent: {
          branching: { max_branches_per_session: 2, require_reason_on_rollback: false },
          controls: { pause_enabled: false, instruction_enabled: false },
        },
      },
    });
    const e = engine;
    const s = await e.manager.start({ task: 'fix it', annotator: 'ann' });
    await expect(s.pause('ann')).rejects.toThrow(
      /pause is turned off for this project \(live_coding_agent.controls.pause_enabled: false\)/,
    );
    await expect(s.instruct('x', 'ann')).rejects.toThrow(ControlError);
    await waitForEvent(e, s.id, ended);
    const first = (await e.store.listSteps(s.id)).find((st) => st.step_idx === 2)!;
    await s.rollback({ toStepId: first.id, annotator: 'ann' });
    const branched = await waitForEvent(e, s.id, (ev) => ev.type === 'branch');
    await waitForEvent(
      e,
      s.id,
      (ev) => ev.type === 'session' && ev.session.status === 'finished' && ev.seq > branched.seq,
    );
    const err = await s.rollback({ toStepId: first.id, annotator: 'ann' }).catch((x) => x);
    expect(err).toBeInstanceOf(ControlError);
    expect(err.code).toBe('branch_limit');
    expect(err.message).toBe(
      'this session already has 2 branches, the most allowed (branching.max_branches_per_session: 2)',
    );
  });

  it('stops the session at sandbox.timeout, killing the running command, and records it as a timeout', async () => {
    engine = await startEngine({
      script: { turns: [{ tool_calls: [{ bash_command: { command: 'sleep 30' } }] }, { text: 'never reached' }] },
      config: { live_coding_agent: { sandbox: { timeout: 1.5, allowed_commands: ['sleep'] } } },
    });
    const e = engine;
    const started = Date.now();
    const s = await e.manager.start({ task: 'wait', annotator: 'ann' });
    await waitForEvent(e, s.id, ended);
    expect(Date.now() - started).toBeLessThan(15_000);
    const session = (await e.store.getSession(s.id))!;
    expect(session.status).toBe('stopped');
    expect(session.end_reason).toBe('timeout after 1.5 s (sandbox.timeout)');
    const timeout = (await e.store.listInterventions(s.id)).find((i) => i.type === 'timeout');
    expect(timeout?.content).toBe('timeout after 1.5 s (sandbox.timeout)');
    const [sleep] = await e.store.listSteps(s.id);
    expect(sleep?.payload.type === 'bash_command' && sleep.payload.exit_code).not.toBe(0);
  });

  it('rolls back a finished session after a restart, starting a new branch from the store', async () => {
    engine = await startEngine();
    const e = engine;
    const s = await e.manager.start({ task: 'fix it', annotator: 'ann' });
    await waitForEvent(e, s.id, ended);
    await e.manager.shutdown();
    // A new manager over the same store, as after a server restart.
    const restarted = createSessionManager({ config: e.config, store: e.store });
    try {
      expect(restarted.get(s.id)).toBeUndefined();
      const controls = await restarted.reopen(s.id);
      expect(controls.status()).toBe('finished');
      const readParser = (await e.store.listSteps(s.id)).find((st) => st.step_idx === 4)!;
      await controls.rollback({
        toStepId: readParser.id,
        reason: 'special-cased the input',
        instruction: 'use a regex separator',
        annotator: 'ann',
      });
      await controls.done;
      expect((await e.store.getSession(s.id))!.status).toBe('finished');
      const [a, b] = await e.store.listBranches(s.id);
      const all = await e.store.listSteps(s.id);
      expect(branchPath(a!, all)).toHaveLength(10);
      const pathB = branchPath(b!, all);
      expect(pathB.slice(0, 4).map((st) => st.id)).toEqual(
        branchPath(a!, all)
          .slice(0, 4)
          .map((st) => st.id),
      );
      const last = pathB.at(-2)!.payload;
      expect(last.type === 'bash_command' && last.exit_code).toBe(0);
      const ws = (await e.store.getSession(s.id))!.workspace;
      expect(readFileSync(join(ws, 'src/parser.py'), 'utf8')).toContain('re.split');
    } finally {
      await restarted.shutdown();
    }
  });

  it('continues a stopped session with an instruction that is in the very next model request', async () => {
    engine = await startEngine();
    const e = engine;
    const s = await e.manager.start({ task: 'fix it', annotator: 'ann' });
    await waitForEvent(e, s.id, stepEvent(2));
    await s.stop('ann');
    const before = e.requests.length;
    const again = await e.manager.resumeSession(s.id, 'ann', 'Look at the parser first.');
    await again.done;
    expect(e.requests[before]!.context.at(-1)).toEqual({ kind: 'instruction', text: 'Look at the parser first.' });
    expect((await e.store.listInterventions(s.id)).map((i) => i.type)).toEqual(['stop', 'resume', 'instruction']);
    expect((await e.store.getSession(s.id))!.status).toBe('finished');
  });

  it('refuses to continue a session whose workspace this server cannot reach, saying where it is', async () => {
    engine = await startEngine();
    const e = engine;
    const s = await e.manager.start({ task: 'fix it', annotator: 'ann' });
    await waitForEvent(e, s.id, stepEvent(2));
    await s.stop('ann');
    const ws = (await e.store.getSession(s.id))!.workspace;
    // As if the session ran on another machine whose output folder is not shared with this one.
    renameSync(ws, `${ws}-elsewhere`);
    await expect(e.manager.resumeSession(s.id, 'ann')).rejects.toThrow(
      `the workspace of session ${s.id} (${ws}) is not reachable from this server`,
    );
    // Nothing was recorded or started: the session is as it was.
    expect((await e.store.getSession(s.id))!.status).toBe('stopped');
    expect((await e.store.listInterventions(s.id)).map((i) => i.type)).toEqual(['stop']);
  });

  it("runs an edited tool call first after a rollback, recorded as the annotator's step", async () => {
    engine = await startEngine({ config: { live_coding_agent: { sandbox: { allowed_commands: ['ls', 'python3'] } } } });
    const e = engine;
    const s = await e.manager.start({ task: 'fix it', annotator: 'ann' });
    await waitForEvent(e, s.id, ended);
    const readParser = (await e.store.listSteps(s.id)).find((st) => st.step_idx === 4)!;
    const before = e.requests.length;
    await s.rollback({
      toStepId: readParser.id,
      reason: 'run the tests verbosely first',
      editedToolCall: { name: 'bash_command', input: { command: 'python3 -m unittest -v' } },
      annotator: 'ann',
    });
    await s.done;
    const branchB = (await e.store.listBranches(s.id)).find((b) => b.name === 'branch-B')!;
    const pathB = branchPath(branchB, await e.store.listSteps(s.id));
    const edited = pathB[4]!;
    expect([edited.step_idx, edited.author, edited.type]).toEqual([5, 'annotator', 'bash_command']);
    expect(edited.tool_call).toMatchObject({ name: 'bash_command', input: { command: 'python3 -m unittest -v' } });
    expect(edited.payload.type === 'bash_command' && edited.payload.output).toMatch(/test_new_format/);
    // The model's next request holds the annotator's call and its result after step 4.
    expect(contextSteps(e.requests[before]!)).toEqual([
      '1:thinking',
      '2:file_read',
      '3:thinking',
      '4:file_read',
      '5:bash_command',
    ]);
    expect((await e.store.listInterventions(s.id)).map((i) => i.type)).toContain('edit_tool_call');
  });

  it('fails a session whose workspace folder went missing after the config was loaded, naming the key and path', async () => {
    engine = await startEngine();
    const ws = engine.config.live_coding_agent.sandbox.workspace;
    renameSync(ws, `${ws}-moved`);
    const error = await engine.manager.start({ task: 'fix it', annotator: 'ann' }).then(
      () => null,
      (err: Error & { session?: { id: string } }) => err,
    );
    const reason = `live_coding_agent.sandbox.workspace: no such folder: ${ws} (create it, or fix the path; an empty folder is fine)`;
    expect(error?.message).toBe(`the session could not start: ${reason}`);
    // The session exists, failed, and says why: nothing ran in an empty folder.
    const session = (await engine.store.getSession(error!.session!.id))!;
    expect([session.status, session.end_reason]).toEqual(['failed', reason]);
    expect(await engine.store.listSteps(session.id)).toEqual([]);
  });
});

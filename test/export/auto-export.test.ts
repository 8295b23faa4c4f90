/**
 * @module test/export/auto-export.test
 * output/ kept equal to the store, on the real engine (scripted agent, git checkpoints, SQLite):
 * the annotator labels and rates AFTER the session ended, rolls the ended session back three
 * times (a branch from the middle of another branch, one with an edited tool call, one that
 * keeps no branch), and stops another session. After every change each format's shard and
 * merged file hold the session's lines once, the whole run passes the consistency check, and
 * the pairs follow the segment rule of docs/exports.md.
 *
 *   A: 1 think+read ─ 2 ─ 3 write v1 ─ 4 ls ─ 5 "Done on A."
 *                     └ B: 3 write v2 ─ 4 ls ─ 5 grep ─ 6 "Done on B."
 *                                       └ C: 5 grep (the annotator's call) ─ 6 grep ─ 7 "Done on C."
 *                                                                               └ (no branch) 7 "Done on C."
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_FORMATS, type ExportFormat } from '../../src/config/schema.js';
import { checkExportRun } from '../../src/export/consistency.js';
import type { ExportSync } from '../../src/export/sync.js';
import type { SessionEvent } from '../../src/session/events.js';
import type { Step } from '../../src/steps/types.js';
import { branchPath } from '../../src/store/tree.js';
import type { Store } from '../../src/store/types.js';
import { type Engine, ended, startEngine, waitForEvent } from '../engine/harness.js';

const TASK = 'Write a plan for the parser';
const SCRIPT = {
  turns: [
    { thinking: 'Start by reading the README.', tool_calls: [{ file_read: { path: 'README.md' } }] },
    { tool_calls: [{ file_edit: { path: 'notes/plan.txt', new_text: 'v1\n' } }] },
    { tool_calls: [{ bash_command: { command: 'ls notes' } }] },
    { text: 'Done on A.' },
  ],
  on_instruction: [
    {
      when: 'second',
      turns: [
        { tool_calls: [{ file_edit: { path: 'notes/plan.txt', new_text: 'v2\n' } }] },
        { tool_calls: [{ bash_command: { command: 'ls notes' } }] },
        { tool_calls: [{ bash_command: { command: 'grep -c v notes/plan.txt' } }] },
        { text: 'Done on B.' },
      ],
    },
    {
      when: 'third',
      turns: [{ tool_calls: [{ bash_command: { command: 'grep -c v2 notes/plan.txt' } }] }, { text: 'Done on C.' }],
    },
  ],
};

let engine: Engine;
let store: Store;
let exports: ExportSync;
let sessionId: string;

const out = (...p: string[]) => path.join(engine.config.output.path, ...p);
const readLines = (file: string): Record<string, unknown>[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
const shard = (format: ExportFormat, id = sessionId) => readLines(out(format, `${id}.jsonl`));
const merged = (format: ExportFormat) => readLines(out(`${format}.jsonl`));
/** Changes are written once the synchronous work that made them is done: a macrotask later. */
/** The export of every change so far is written (on PostgreSQL that takes real I/O, not a tick). */
const settled = () => exports.flushDirty();
const lastSeq = async () => (await store.eventsAfter(sessionId, 0)).at(-1)?.seq ?? 0;
const endedAfter = (seq: number) => (e: SessionEvent) => e.seq > seq && ended(e);
const stepAt = async (branch: string, idx: number): Promise<Step> => {
  const b = (await store.listBranches(sessionId)).find((br) => br.name === branch)!;
  return branchPath(b, await store.listSteps(sessionId)).find((s) => s.step_idx === idx)!;
};

/** Every format's merged file: each line once, each session's lines equal to its shard. */
async function expectOutputEqualsShards(): Promise<Record<ExportFormat, Record<string, unknown>[]>> {
  await exports.flush();
  const run = {} as Record<ExportFormat, Record<string, unknown>[]>;
  for (const f of EXPORT_FORMATS) {
    const lines = merged(f);
    const ids = lines.map((l) => l.id as string);
    expect(new Set(ids).size, `${f}: a line twice`).toBe(ids.length);
    const fromShards = (await store.listSessions()).flatMap((s) =>
      fs.existsSync(out(f, `${s.id}.jsonl`)) ? shard(f, s.id) : [],
    );
    expect(lines, f).toEqual(fromShards);
    run[f] = lines;
  }
  expect(checkExportRun(run)).toEqual([]);
  return run;
}

beforeAll(async () => {
  engine = await startEngine({
    script: SCRIPT,
    config: {
      live_coding_agent: {
        scripted: { turn_delay_ms: 200 },
        sandbox: { allowed_commands: ['ls', 'grep'] },
      },
      output: { export_formats: [...EXPORT_FORMATS] },
    },
  });
  // The store the server's routes write through: the manager's, which keeps output/ in step.
  store = engine.manager.store;
  exports = engine.manager.exports!;
  const s = await engine.manager.start({ task: TASK, annotator: 'ann' });
  sessionId = s.id;
  await waitForEvent(engine, s.id, ended);
}, 60_000);

afterAll(async () => {
  await engine?.close();
});

describe('output/ equals the store at every moment', () => {
  it('has the ended session in every format it has lines for, and nothing labelled yet', () => {
    expect(shard('trajectories').map((l) => [l.branch, l.outcome])).toEqual([['branch-A', null]]);
    expect(shard('prm_from_branches')).toEqual([]);
    expect(fs.existsSync(out('prm_stepwise', `${sessionId}.jsonl`))).toBe(false);
  });

  it('labels and rates after the end: the files change, with no duplicate line', async () => {
    await store.upsertStepLabel({
      session_id: sessionId,
      step_id: (await stepAt('branch-A', 3)).id,
      annotator: 'ann',
      label: 'incorrect',
      first_error: true,
      updated_at: Date.now(),
    });
    await store.upsertAnnotation({
      session_id: sessionId,
      annotator: 'ann',
      branch_id: null,
      scheme: 'outcome',
      value: 'failed',
      updated_at: Date.now(),
    });
    await settled();
    expect(shard('trajectories').map((l) => [l.branch, l.outcome])).toEqual([['branch-A', 'failed']]);
    const prm = shard('prm_from_branches');
    expect(prm.map((l) => [l.branch, l.first_error_step])).toEqual([['branch-A', 3]]);
    expect(shard('prm_stepwise').map((l) => l.labels)).toEqual([[false]]);
    // Changed again: still one line.
    await store.upsertAnnotation({
      session_id: sessionId,
      annotator: 'ann',
      branch_id: null,
      scheme: 'outcome',
      value: 'resolved',
      updated_at: Date.now() + 1,
    });
    await settled();
    expect(shard('trajectories').map((l) => l.outcome)).toEqual(['resolved']);
    const run = await expectOutputEqualsShards();
    expect(run.trajectories).toHaveLength(1);
    // The dataset card beside the merged files.
    expect(fs.readFileSync(out('README.md'), 'utf8')).toContain(
      '| `trajectories` | `trajectories.jsonl` (per session: `trajectories/*.jsonl`) | 1 |',
    );
  });

  it('rolls the ended session back three times: each time its lines are replaced, never appended', async () => {
    const controls = engine.manager.get(sessionId)!;
    let seq = await lastSeq();
    await controls.rollback({
      toStepId: (await stepAt('branch-A', 2)).id,
      reason: 'It planned v1',
      instruction: 'Try a second plan',
      annotator: 'ann',
    });
    await waitForEvent(engine, sessionId, endedAfter(seq));
    await settled();
    expect(shard('trajectories').map((l) => l.branch)).toEqual(['branch-A', 'branch-B']);

    // From the middle of B (its step 4), with the annotator's own call instead of the model's.
    seq = await lastSeq();
    await controls.rollback({
      toStepId: (await stepAt('branch-B', 4)).id,
      reason: 'Grep for the new version',
      instruction: 'A third try',
      editedToolCall: { name: 'bash_command', input: { command: 'grep -c v2 notes/plan.txt' } },
      annotator: 'ann',
    });
    await waitForEvent(engine, sessionId, endedAfter(seq));
    // Then back one step on C without a branch: the last message is thrown away and said again.
    seq = await lastSeq();
    await controls.rollback({
      toStepId: (await stepAt('branch-C', 6)).id,
      reason: 'Say it again',
      branch: false,
      annotator: 'ann',
    });
    await waitForEvent(engine, sessionId, endedAfter(seq));
    await settled();
    expect(shard('trajectories').map((l) => l.branch)).toEqual(['branch-A', 'branch-B', 'branch-C']);
    await expectOutputEqualsShards();
  }, 60_000);

  it('pairs each side from the branch point to the next one: no step of B after C’s fork is chosen', () => {
    const prefs = shard('branch_preferences') as {
      rejected_branch: string;
      chosen_branch: string;
      branch_point_step: number;
      chosen_steps: { step_idx: number; author: string }[];
      rejected_steps: { step_idx: number }[];
    }[];
    expect(prefs.map((p) => [p.rejected_branch, p.chosen_branch, p.branch_point_step])).toEqual([
      ['branch-A', 'branch-B', 2],
      ['branch-B', 'branch-C', 4],
    ]);
    expect(prefs[0]!.chosen_steps.map((s) => s.step_idx)).toEqual([3, 4]);
    expect(prefs[0]!.rejected_steps.map((s) => s.step_idx)).toEqual([3, 4, 5]);
    expect(prefs[1]!.rejected_steps.map((s) => s.step_idx)).toEqual([5, 6]);
    // C's side: the annotator's call, then the model's turns, up to the step the plain rollback went back to.
    expect(prefs[1]!.chosen_steps.map((s) => [s.step_idx, s.author])).toEqual([
      [5, 'annotator'],
      [6, 'agent'],
      [7, 'agent'],
    ]);
  });

  it("never presents the annotator's call as the model's: a marked user turn in dpo, no dpo_step pair", () => {
    const [, bc] = shard('dpo') as { chosen: { role: string; content: string }[]; annotator_call: boolean }[];
    expect(bc!.annotator_call).toBe(true);
    expect(bc!.chosen[0]!.role).toBe('user');
    expect(bc!.chosen[0]!.content).toContain("The annotator replaced the model's tool call and ran: bash_command");
    expect(shard('dpo_step').map((l) => l.chosen_branch)).toEqual(['branch-B']);
    // The instruction sent with each rollback ends the prompt (the default).
    expect((shard('dpo')[0]!.prompt as { content: string }[]).at(-1)!.content).toBe('Try a second plan');
  });

  it('marks the step the plain rollback threw away as the first error, on its own abandoned path', () => {
    const abandoned = shard('prm_from_branches').filter((l) => l.abandoned) as {
      branch: string;
      first_error_step: number;
      steps: { step_idx: number; label: string | null; label_source: string | null; content?: string }[];
    }[];
    expect(abandoned.map((l) => [l.branch, l.first_error_step])).toEqual([['branch-C', 7]]);
    expect(abandoned[0]!.steps.at(-1)).toMatchObject({
      label: 'incorrect',
      label_source: 'rollback',
      content: 'Done on C.',
    });
    // The annotator's label on A's step 3 wins and is exported with who and when.
    const a = shard('prm_from_branches').find((l) => l.branch === 'branch-A') as { steps: Record<string, unknown>[] };
    expect(a.steps[2]).toMatchObject({ label: 'incorrect', label_source: 'annotator', labelled_by: 'ann' });
  });

  it('exports prm_stepwise with sparse labels: one labelled step a line, at most the window of steps before it', async () => {
    const { collect, sessionLines } = await import('../../src/export/index.js');
    const lines = (
      await collect(sessionLines(store, sessionId, 'prm_stepwise', { prmSparseLabels: true, prmWindow: 2 }))
    ).map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) {
      expect(l.completions).toHaveLength(1);
      expect(l.labels).toHaveLength(1);
      const window = /Steps so far \((\d+) to (\d+)\)/.exec(l.prompt);
      if (window) expect(Number(window[2]) - Number(window[1]) + 1).toBeLessThanOrEqual(2);
      if (window) expect(Number(window[2])).toBe(l.first_step - 1);
    }
    expect(checkExportRun({ prm_stepwise: lines, prm_from_branches: shard('prm_from_branches') })).toEqual([]);
  });

  it('says a stopped session was stopped, and why, on every line', async () => {
    const s = await engine.manager.start({ task: 'Another plan', annotator: 'ann' });
    await waitForEvent(engine, s.id, (e) => e.type === 'step');
    await s.stop('ann');
    await waitForEvent(engine, s.id, ended);
    await settled();
    const [line] = shard('trajectories', s.id);
    expect(line!.provenance).toMatchObject({ status: 'stopped', end_reason: expect.stringMatching(/stop/i) });
    const run = await expectOutputEqualsShards();
    expect(run.trajectories.map((l) => l.session_id)).toEqual([sessionId, sessionId, sessionId, s.id]);
  }, 30_000);
});

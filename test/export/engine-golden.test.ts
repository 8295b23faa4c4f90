/**
 * @module test/export/engine-golden.test
 * Golden exports of a session built by the real engine (config loader, SQLite store, git
 * checkpoints, local sandbox, scripted agent): an instruction during a pause, two rollbacks
 * with reasons and instructions giving branch-A, -B and -C, a branch outcome and two step
 * labels. Every format is compared with lines written by hand, after a small normaliser that
 * only renames ids and commit shas; each line is validated against docs/schemas; and the step
 * numbers, branch names and rollback fields are checked against what the engine recorded.
 *
 * The tree (step_idx; step 0 is the initial state, a checkpoint only):
 *
 *   A: 1 thinking ─ 2 read README ─ 3 write plan "hard-code" ─ 4 ls ─ 5 "Done on branch A."
 *                   │ pause, "Keep the change small.", resume after 2; rollback from 5 to 2
 *                   └ B: 3 write plan "parse both" ─ 4 ls ─ 5 "Done on branch B."
 *                        │ rollback from 5 to 3
 *                        └ C: 4 grep ─ 5 "Done on branch C."
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointGitDirOfWorkspace } from '../../src/checkpoints/git/index.js';
import { EXPORT_FORMATS, type ExportFormat } from '../../src/config/schema.js';
import { defaultEngineParts } from '../../src/engine.js';
import { checkExportRun } from '../../src/export/consistency.js';
import { collect, exportLines } from '../../src/export/index.js';
import { gitDiff } from '../../src/export/provenance.js';
import type { SessionEvent } from '../../src/session/events.js';
import { branchPath } from '../../src/store/tree.js';
import { type Engine, ended, startEngine, waitForEvent } from '../engine/harness.js';
import { exportSchema, schemaAjv } from './schemas.js';

const TASK = 'Write a plan for the parser';
const R1 = 'It planned to hard-code the answer';
const R2 = 'Listing the folder proves nothing';
const SCRIPT = {
  turns: [
    { thinking: 'Start by reading the README.', tool_calls: [{ file_read: { path: 'README.md' } }] },
    { tool_calls: [{ file_edit: { path: 'notes/plan.txt', new_text: 'hard-code the answer\n' } }] },
    { tool_calls: [{ bash_command: { command: 'ls notes' } }] },
    { text: 'Done on branch A.' },
  ],
  on_instruction: [
    {
      when: 'real plan',
      turns: [
        { tool_calls: [{ file_edit: { path: 'notes/plan.txt', new_text: 'parse both separators\n' } }] },
        { tool_calls: [{ bash_command: { command: 'ls notes' } }] },
        { text: 'Done on branch B.' },
      ],
    },
    {
      when: 'grep',
      turns: [
        { tool_calls: [{ bash_command: { command: 'grep -c separators notes/plan.txt' } }] },
        { text: 'Done on branch C.' },
      ],
    },
  ],
};

let engine: Engine;
let sessionId: string;
/** Every format's lines, normalised and parsed. */
const out = {} as Record<ExportFormat | 'flat', Record<string, unknown>[]>;
/** The raw lines, for the schema check. */
const raw = {} as Record<ExportFormat | 'flat', string[]>;

const lastSeq = async () => (await engine.store.eventsAfter(sessionId, 0)).at(-1)?.seq ?? 0;
const endedAfter = (seq: number) => (e: SessionEvent) => e.seq > seq && ended(e);

beforeAll(async () => {
  engine = await startEngine({
    script: SCRIPT,
    // A turn takes 300 ms, so the pause sent on step 2's event holds before step 3 runs.
    config: { live_coding_agent: { scripted: { turn_delay_ms: 300 }, sandbox: { allowed_commands: ['ls', 'grep'] } } },
  });
  const e = engine;
  const s = await e.manager.start({ task: TASK, annotator: 'ann' });
  sessionId = s.id;
  await waitForEvent(e, s.id, (ev) => ev.type === 'step' && ev.step.step_idx === 2);
  await s.pause('ann');
  await waitForEvent(e, s.id, (ev) => ev.type === 'status' && ev.status === 'paused');
  await s.instruct('Keep the change small.', 'ann');
  await s.resume('ann');
  await waitForEvent(e, s.id, ended);

  const stepAt = async (branchName: string, idx: number) => {
    const b = (await e.store.listBranches(s.id)).find((br) => br.name === branchName)!;
    return branchPath(b, await e.store.listSteps(s.id)).find((st) => st.step_idx === idx)!;
  };
  let seq = await lastSeq();
  await s.rollback({
    toStepId: (await stepAt('branch-A', 2)).id,
    reason: R1,
    instruction: 'Write a real plan',
    annotator: 'ann',
  });
  await waitForEvent(e, s.id, endedAfter(seq));
  seq = await lastSeq();
  await s.rollback({
    toStepId: (await stepAt('branch-B', 3)).id,
    reason: R2,
    instruction: 'Check the plan with grep',
    annotator: 'ann',
  });
  await waitForEvent(e, s.id, endedAfter(seq));

  const branches = await e.store.listBranches(s.id);
  const brA = branches.find((b) => b.name === 'branch-A')!;
  const answer = async (branch_id: string | null, value: string, updated_at: number) =>
    await e.store.upsertAnnotation({
      session_id: s.id,
      annotator: 'ann',
      branch_id,
      scheme: 'outcome',
      value,
      updated_at,
    });
  await answer(null, 'resolved', 1);
  await answer(brA.id, 'failed', 2);
  const label = async (step_id: string, value: 'correct' | 'unsure', updated_at: number) =>
    await e.store.upsertStepLabel({
      session_id: s.id,
      step_id,
      annotator: 'ann',
      label: value,
      first_error: false,
      updated_at,
    });
  // After step 4 of B, which the rollback to C makes the first error: this label is not exported.
  await label((await stepAt('branch-B', 5)).id, 'unsure', 3);
  await label((await stepAt('branch-C', 5)).id, 'correct', 4);

  const norm = await normaliser();
  for (const f of [...EXPORT_FORMATS, 'flat'] as const) {
    raw[f] = await collect(exportLines(e.store, f === 'flat' ? 'trajectories' : f, { flattenBranches: f === 'flat' }));
    // id and provenance are checked on their own (below), not in every hand-written line.
    out[f] = raw[f].map((l) => {
      const { id: _id, provenance: _p, ...rest } = JSON.parse(norm(l));
      return rest;
    });
  }
}, 120_000);

afterAll(async () => {
  await engine?.close();
  fs.rmSync(engine.dir, { recursive: true, force: true });
});

/**
 * Renames what changes from run to run, and nothing else: the session id to SESSION, step ids
 * to s1, s2, … in the order the engine inserted them, every commit sha (a checkpoint) to
 * COMMIT, and token usage (checked separately) is dropped. Which commit each step exported is checked against the engine's records below.
 */
async function normaliser(): Promise<(line: string) => string> {
  const session = (await engine.store.getSession(sessionId))!;
  const steps = await engine.store.listSteps(sessionId);
  const renames: [string, string][] = [
    [session.id, 'SESSION'],
    ...steps.map((st, i): [string, string] => [st.id, `s${i + 1}`]),
    ...(await engine.store.listInterventions(sessionId)).map((iv, i): [string, string] => [iv.id, `iv${i + 1}`]),
  ];
  return (line) => {
    let s = line;
    for (const [from, to] of renames) s = s.replaceAll(from, to);
    s = s.replace(/"checkpoint":"[0-9a-f]{40}"/g, '"checkpoint":"COMMIT"');
    s = s.replace(/"created_at":"[^"]+"/g, '"created_at":"TIME"');
    s = s.replace(/"provenance":\{.*\}\}$/, '"provenance":{}}');
    // The scripted agent's token counts follow the size of its context, ids and times included:
    // they vary from run to run, so they are checked against the engine's records instead.
    s = s.replace(/,"usage":\{"input_tokens":\d+,"output_tokens":\d+\}/g, '');
    expect(s, 'an id or sha the normaliser does not know').not.toMatch(/st_[0-9a-f]{8}|\b[0-9a-f]{40}\b/);
    return s;
  };
}

// ── the steps, written by hand from the script and the demo repo ─────────────────────────────

const README = '# settings parser\n\nA tiny project for the Potato Live demo: `python3 -m unittest` runs its tests.';
const writePlan = (idx: number, text: string) => ({
  step_idx: idx,
  type: 'file_write',
  path: 'notes/plan.txt',
  diff: `--- /dev/null\n+++ b/notes/plan.txt\n@@ -0,0 +1,1 @@\n+${text}`,
  modified_lines: [[1, 1]],
  created: true,
  author: 'agent',
  tool_name: 'file_edit',
  tool_input: { path: 'notes/plan.txt', new_text: text },
  tool_result: 'Created notes/plan.txt (lines 1).',
  tool_is_error: false,
  checkpoint: 'COMMIT',
});
const bash = (idx: number, command: string, output: string) => ({
  step_idx: idx,
  type: 'bash_command',
  command,
  output,
  exit_code: 0,
  timed_out: false,
  truncated: false,
  author: 'agent',
  tool_name: 'bash_command',
  tool_input: { command },
  tool_result: `${output}[exit code: 0]`,
  tool_is_error: false,
  checkpoint: 'COMMIT',
});
const message = (idx: number, content: string) => ({
  step_idx: idx,
  type: 'message',
  content,
  author: 'agent',
  checkpoint: 'COMMIT',
});
const S0 = {
  s1: {
    step_idx: 1,
    type: 'thinking',
    content: 'Start by reading the README.',
    author: 'agent',
    checkpoint: 'COMMIT',
  },
  s2: {
    step_idx: 2,
    type: 'file_read',
    path: 'README.md',
    content: README,
    start_line: 1,
    truncated: false,
    author: 'agent',
    tool_name: 'file_read',
    tool_input: { path: 'README.md' },
    tool_result: README.split('\n')
      .map((l, i) => `${i + 1}\t${l}`)
      .join('\n'),
    tool_is_error: false,
    checkpoint: 'COMMIT',
  },
  s3: writePlan(3, 'hard-code the answer\n'),
  s4: bash(4, 'ls notes', 'plan.txt\n'),
  s5: message(5, 'Done on branch A.'),
  s6: writePlan(3, 'parse both separators\n'),
  s7: bash(4, 'ls notes', 'plan.txt\n'),
  s8: message(5, 'Done on branch B.'),
  s9: bash(4, 'grep -c separators notes/plan.txt', '1\n'),
  s10: message(5, 'Done on branch C.'),
};
/** Every exported step carries its id. */
const S = Object.fromEntries(Object.entries(S0).map(([k, v]) => [k, { step_id: k, ...v }])) as {
  [K in keyof typeof S0]: (typeof S0)[K] & { step_id: K };
};
type Id = keyof typeof S;
const steps = (...ids: Id[]) => ids.map((id) => S[id]);

const pause = { after_step: 2, type: 'pause', content: null };
const keepSmall = { after_step: 2, type: 'instruction', content: 'Keep the change small.' };
const resume = { after_step: 2, type: 'resume', content: null };
const toB = { after_step: 2, type: 'branch', content: R1, from_step: 5, to_step: 2 };
const realPlan = { after_step: 2, type: 'instruction', content: 'Write a real plan' };
const toC = { after_step: 3, type: 'branch', content: R2, from_step: 5, to_step: 3 };
const grep = { after_step: 3, type: 'instruction', content: 'Check the plan with grep' };
const annotations = { outcome: 'resolved' };

describe('exports of a session built by the real engine', () => {
  it('trajectories, flattened: one line per branch, step 1 to its head, rollback from the old head to the branch point', () => {
    expect(out.flat).toEqual([
      {
        session_id: 'SESSION',
        branch: 'branch-A',
        task: TASK,
        steps: steps('s1', 's2', 's3', 's4', 's5'),
        human_interventions: [pause, keepSmall, resume],
        branch_point_step: null,
        rollback_from_step: null,
        outcome: 'failed',
        parent_branch: null,
        rollback_reason: null,
        annotations,
      },
      {
        session_id: 'SESSION',
        branch: 'branch-B',
        task: TASK,
        steps: steps('s1', 's2', 's6', 's7', 's8'),
        human_interventions: [pause, keepSmall, resume, toB, realPlan],
        branch_point_step: 2,
        rollback_from_step: 5,
        outcome: 'resolved',
        parent_branch: 'branch-A',
        rollback_reason: R1,
        annotations,
      },
      {
        session_id: 'SESSION',
        branch: 'branch-C',
        task: TASK,
        steps: steps('s1', 's2', 's6', 's9', 's10'),
        human_interventions: [pause, keepSmall, resume, toB, realPlan, toC, grep],
        branch_point_step: 3,
        rollback_from_step: 5,
        outcome: 'resolved',
        parent_branch: 'branch-B',
        rollback_reason: R2,
        annotations,
      },
    ]);
  });

  it('trajectories as a tree: every step once with its parent, each branch as its path of step ids', () => {
    const parents: [Id, Id | null][] = [
      ['s1', null],
      ['s2', 's1'],
      ['s3', 's2'],
      ['s4', 's3'],
      ['s5', 's4'],
      ['s6', 's2'],
      ['s7', 's6'],
      ['s8', 's7'],
      ['s9', 's6'],
      ['s10', 's9'],
    ];
    const on = (iv: object, after_step_id: Id, branch: string) => ({ ...iv, after_step_id, branch });
    expect(out.trajectories).toEqual([
      {
        session_id: 'SESSION',
        task: TASK,
        status: 'finished',
        outcome: 'resolved',
        annotations,
        branches: [
          {
            branch: 'branch-A',
            parent_branch: null,
            branch_point_step: null,
            rollback_from_step: null,
            rollback_reason: null,
            outcome: 'failed',
            step_ids: ['s1', 's2', 's3', 's4', 's5'],
          },
          {
            branch: 'branch-B',
            parent_branch: 'branch-A',
            branch_point_step: 2,
            rollback_from_step: 5,
            rollback_reason: R1,
            outcome: 'resolved',
            step_ids: ['s1', 's2', 's6', 's7', 's8'],
          },
          {
            branch: 'branch-C',
            parent_branch: 'branch-B',
            branch_point_step: 3,
            rollback_from_step: 5,
            rollback_reason: R2,
            outcome: 'resolved',
            step_ids: ['s1', 's2', 's6', 's9', 's10'],
          },
        ],
        steps: parents.map(([id, parent]) => ({ parent_step_id: parent, ...S[id] })),
        human_interventions: [
          on(pause, 's2', 'branch-A'),
          on(keepSmall, 's2', 'branch-A'),
          on(resume, 's2', 'branch-A'),
          on(toB, 's2', 'branch-B'),
          on(realPlan, 's2', 'branch-B'),
          on(toC, 's6', 'branch-C'),
          on(grep, 's6', 'branch-C'),
        ],
      },
    ]);
  });

  it('branch_preferences: one line per branch point, each side up to the next branch point (B’s ends at 3, where C forks)', () => {
    expect(out.branch_preferences).toEqual([
      {
        session_id: 'SESSION',
        task: TASK,
        branch_point_step: 2,
        branch_point_reason: R1,
        rejected_branch: 'branch-A',
        rejected_steps: steps('s3', 's4', 's5'),
        chosen_branch: 'branch-B',
        // s7 and s8 are rejected by the next pair: they are in no chosen side.
        chosen_steps: steps('s6'),
      },
      {
        session_id: 'SESSION',
        task: TASK,
        branch_point_step: 3,
        branch_point_reason: R2,
        rejected_branch: 'branch-B',
        rejected_steps: steps('s7', 's8'),
        chosen_branch: 'branch-C',
        chosen_steps: steps('s9', 's10'),
      },
    ]);
  });

  it('prm_from_branches: kept and chosen steps correct, each rejected side’s first step the first error, nothing after it, annotator labels win', () => {
    const correct = {
      label: 'correct',
      first_error: false,
      label_source: 'branch',
      labelled_by: null,
      labelled_at: null,
    };
    const error = {
      label: 'incorrect',
      first_error: true,
      label_source: 'branch',
      labelled_by: null,
      labelled_at: null,
    };
    const none = { label: null, first_error: false, label_source: null, labelled_by: null, labelled_at: null };
    const l = (id: Id, label: object) => ({ ...S[id], ...label });
    const line = (branch: string, labelled: object[], first_error_step: number | null) => ({
      session_id: 'SESSION',
      branch,
      abandoned: false,
      task: TASK,
      steps: labelled,
      first_error_step,
    });
    expect(out.prm_from_branches).toEqual([
      line('branch-A', [l('s1', correct), l('s2', correct), l('s3', error), l('s4', none), l('s5', none)], 3),
      // The rollback to C makes step 4 the first error; the annotator's "unsure" on step 5 comes after it.
      line('branch-B', [l('s1', correct), l('s2', correct), l('s6', correct), l('s7', error), l('s8', none)], 4),
      line(
        'branch-C',
        [
          l('s1', correct),
          l('s2', correct),
          l('s6', correct),
          l('s9', correct),
          l('s10', {
            label: 'correct',
            first_error: false,
            label_source: 'annotator',
            labelled_by: 'ann',
            labelled_at: new Date(4).toISOString(),
          }),
        ],
        null,
      ),
    ]);
  });

  it('prm_stepwise: every labelled step once, up to the first error, the steps before each line as its context', () => {
    const texts = [
      'Start by reading the README.',
      `Read README.md:\n${README}`,
      'Write notes/plan.txt:\n--- /dev/null\n+++ b/notes/plan.txt\n@@ -0,0 +1,1 @@\n+hard-code the answer\n',
    ];
    const planB =
      'Write notes/plan.txt:\n--- /dev/null\n+++ b/notes/plan.txt\n@@ -0,0 +1,1 @@\n+parse both separators\n';
    const context = (from: number, ...t: string[]) =>
      `${TASK}\n\nSteps so far (${from} to ${from + t.length - 1}):\n\n${t.join('\n\n')}`;
    const common = { session_id: 'SESSION' };
    expect(out.prm_stepwise).toEqual([
      {
        prompt: TASK,
        completions: texts,
        labels: [true, true, false],
        ...common,
        branch: 'branch-A',
        first_step: 1,
        step_ids: ['s1', 's2', 's3'],
        label_sources: ['branch', 'branch', 'branch'],
      },
      {
        prompt: context(1, texts[0]!, texts[1]!),
        completions: [planB, '$ ls notes\nplan.txt\n(exit code 0)'],
        labels: [true, false],
        ...common,
        branch: 'branch-B',
        first_step: 3,
        step_ids: ['s6', 's7'],
        label_sources: ['branch', 'branch'],
      },
      {
        prompt: context(1, texts[0]!, texts[1]!, planB),
        completions: ['$ grep -c separators notes/plan.txt\n1\n(exit code 0)', 'Done on branch C.'],
        labels: [true, true],
        ...common,
        branch: 'branch-C',
        first_step: 4,
        step_ids: ['s9', 's10'],
        label_sources: ['branch', 'annotator'],
      },
    ]);
  });

  it('code_review: each comment with the code it answers: since the last intervention, or what its rollback threw away', () => {
    const diffA = S.s3.diff;
    const diffB = S.s6.diff;
    const base = {
      session_id: 'SESSION',
      task: TASK,
      annotator: 'ann',
      created_at: 'TIME',
      new_branch: null,
      rollback_id: null,
    };
    const readme = { step_idx: 2, path: 'README.md', content: README };
    // Interventions in order: iv1 pause, iv2 "Keep the change small.", iv3 resume, iv4 rollback to B, iv5 its
    // instruction, iv6 rollback to C, iv7 its instruction.
    const toBCode = {
      diffs: [{ step_idx: 3, path: 'notes/plan.txt', diff: diffA }],
      file_contents: [readme],
      files: ['README.md', 'notes/plan.txt'],
      steps: steps('s2', 's3', 's4', 's5'),
    };
    const toCCode = {
      diffs: [{ step_idx: 3, path: 'notes/plan.txt', diff: diffB }],
      file_contents: [],
      files: ['notes/plan.txt'],
      steps: steps('s6', 's7', 's8'),
    };
    expect(out.code_review).toEqual([
      {
        ...base,
        kind: 'instruction',
        branch: 'branch-A',
        after_step: 2,
        comment: 'Keep the change small.',
        diffs: [],
        file_contents: [readme],
        files: ['README.md'],
        steps: steps('s1', 's2'),
      },
      {
        ...base,
        kind: 'rollback_reason',
        branch: 'branch-A',
        new_branch: 'branch-B',
        after_step: 2,
        comment: R1,
        ...toBCode,
      },
      {
        ...base,
        kind: 'instruction',
        branch: 'branch-B',
        after_step: 2,
        comment: 'Write a real plan',
        rollback_id: 'SESSION/code_review/iv4',
        ...toBCode,
      },
      {
        ...base,
        kind: 'rollback_reason',
        branch: 'branch-B',
        new_branch: 'branch-C',
        after_step: 3,
        comment: R2,
        ...toCCode,
      },
      {
        ...base,
        kind: 'instruction',
        branch: 'branch-C',
        after_step: 3,
        comment: 'Check the plan with grep',
        rollback_id: 'SESSION/code_review/iv6',
        ...toCCode,
      },
    ]);
  });

  it('dpo and dpo_step: the system prompt, the task, the shared path and the instructions as the prompt; each side its segment, or its first turn', () => {
    const system = { role: 'system', content: defaultEngineParts().systemPrompt(engine.config) };
    const task = { role: 'user', content: TASK };
    const readTurn = [
      {
        role: 'assistant',
        content: '',
        reasoning_content: 'Start by reading the README.',
        tool_calls: [{ type: 'function', function: { name: 'file_read', arguments: { path: 'README.md' } } }],
      },
      { role: 'tool', name: 'file_read', content: S.s2.tool_result },
    ];
    const call = (name: string, args: Record<string, unknown>, result: string) => [
      { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name, arguments: args } }] },
      { role: 'tool', name, content: result },
    ];
    const write = (text: string) =>
      call('file_edit', { path: 'notes/plan.txt', new_text: text }, 'Created notes/plan.txt (lines 1).');
    const ls = call('bash_command', { command: 'ls notes' }, 'plan.txt\n[exit code: 0]');
    const grepCall = call('bash_command', { command: 'grep -c separators notes/plan.txt' }, '1\n[exit code: 0]');
    const say = (content: string) => ({ role: 'assistant', content });
    const user = (content: string) => ({ role: 'user', content });
    // "Write a real plan" came with the rollback: only the chosen side saw it, so it ends the prompt.
    const promptAB = [system, task, ...readTurn, user('Keep the change small.'), user('Write a real plan')];
    const promptBC = [...promptAB, ...write('parse both separators\n'), user('Check the plan with grep')];
    const pair = (point: number, chosen: string, rejected: string) => ({
      session_id: 'SESSION',
      branch_point_step: point,
      chosen_branch: chosen,
      rejected_branch: rejected,
      annotator_call: false,
    });
    const noTools = (l: Record<string, unknown>) => {
      const { tools, ...rest } = l;
      expect(JSON.parse(tools as string).map((t: { function: { name: string } }) => t.function.name)).toEqual([
        'file_read',
        'file_edit',
        'bash_command',
        'directory_list',
        'file_search',
      ]);
      return rest;
    };
    expect(out.dpo.map(noTools)).toEqual([
      {
        prompt: promptAB,
        chosen: write('parse both separators\n'),
        rejected: [...write('hard-code the answer\n'), ...ls, say('Done on branch A.')],
        ...pair(2, 'branch-B', 'branch-A'),
      },
      {
        prompt: promptBC,
        chosen: [...grepCall, say('Done on branch C.')],
        rejected: [...ls, say('Done on branch B.')],
        ...pair(3, 'branch-C', 'branch-B'),
      },
    ]);
    expect(out.dpo_step.map(noTools)).toEqual([
      {
        prompt: promptAB,
        chosen: [write('parse both separators\n')[0]],
        rejected: [write('hard-code the answer\n')[0]],
        ...pair(2, 'branch-B', 'branch-A'),
      },
      { prompt: promptBC, chosen: [grepCall[0]], rejected: [ls[0]], ...pair(3, 'branch-C', 'branch-B') },
    ]);
  });

  it('every line has a stable id and its provenance; the whole run passes the consistency check', async () => {
    const parsed = Object.fromEntries(EXPORT_FORMATS.map((f) => [f, raw[f].map((l) => JSON.parse(l))]));
    parsed.trajectories = raw.flat.map((l) => JSON.parse(l));
    expect(checkExportRun(parsed)).toEqual([]);
    const session = (await engine.store.getSession(sessionId))!;
    const system = defaultEngineParts().systemPrompt(engine.config);
    const all = await engine.store.listSteps(sessionId);
    for (const [format, lines] of Object.entries(parsed)) {
      for (const line of lines) {
        expect(line.id.startsWith(`${sessionId}/${format}`), format).toBe(true);
        expect(line.provenance).toMatchObject({
          session_id: sessionId,
          annotator: 'ann',
          backend: 'scripted',
          status: 'finished',
          end_reason: session.end_reason,
          base_commit: session.base_commit,
          system_prompt: system,
          system_prompt_sha256: createHash('sha256').update(system).digest('hex'),
          created_at: new Date(session.created_at).toISOString(),
        });
      }
    }
    // The branch's final diff is git's, from the base commit to its last checkpoint.
    const c = parsed.trajectories.find((l) => l.branch === 'branch-C')!;
    const head = branchPath((await engine.store.listBranches(sessionId)).find((b) => b.name === 'branch-C')!, all).at(
      -1,
    )!;
    expect(c.provenance.head_commit).toBe(head.checkpoint);
    const gitDiff = execFileSync('git', ['diff', '--no-color', session.base_commit!, head.checkpoint!], {
      cwd: session.workspace,
      encoding: 'utf8',
    });
    expect(c.provenance.final_diff).toBe(gitDiff);
    expect(gitDiff).toContain('+parse both separators');
    // The same units keep their ids when exported again.
    const again = (await collect(exportLines(engine.store, 'dpo'))).map((l) => JSON.parse(l).id);
    expect(again).toEqual(parsed.dpo!.map((l) => l.id));
    // No absolute path of the workspace anywhere.
    for (const f of [...EXPORT_FORMATS, 'flat'] as const)
      for (const l of raw[f]) expect(l).not.toContain(session.workspace);
  });

  it("takes a final diff from the server's checkpoint repository, whatever the agent made of the workspace's .git", async () => {
    const session = (await engine.store.getSession(sessionId))!;
    const all = await engine.store.listSteps(sessionId);
    const heads = (await engine.store.listBranches(sessionId)).map(
      (b) => branchPath(b, all).findLast((s) => s.checkpoint)!.checkpoint!,
    );
    const pointer = path.join(session.workspace, '.git');
    const kept = fs.readFileSync(pointer);
    // The agent can write the workspace: a FIFO there would hang a git that reads it, a pointer
    // to a repository of its own would answer with a diff of its choosing.
    fs.rmSync(pointer);
    execFileSync('mkfifo', [pointer]);
    try {
      const a = heads[0]!;
      const c = heads[2]!;
      const truth = execFileSync('git', ['diff-tree', '-p', '-r', '--no-color', '--no-renames', a, c, '--'], {
        env: { ...process.env, GIT_DIR: checkpointGitDirOfWorkspace(session.workspace) },
        encoding: 'utf8',
      });
      expect(truth).toContain('+parse both separators');
      expect(gitDiff(session.workspace, a, c)).toBe(truth);
    } finally {
      fs.rmSync(pointer);
      fs.writeFileSync(pointer, kept);
    }
  });

  it('every line of every format validates against its schema in docs/schemas', () => {
    for (const f of [...EXPORT_FORMATS, 'flat'] as const) {
      const validate = exportSchema(f === 'flat' ? 'trajectories' : f);
      expect(raw[f].length, f).toBeGreaterThan(0);
      for (const line of raw[f]) {
        const ok = validate(JSON.parse(line));
        expect(ok ? [] : validate.errors, `${f}: ${schemaAjv.errorsText(validate.errors)}`).toEqual([]);
      }
    }
  });

  it("agrees with the engine's records: step numbers, branch names, rollback steps and reasons", async () => {
    const store = engine.store;
    const all = await store.listSteps(sessionId);
    const branches = await store.listBranches(sessionId);
    expect(branches.map((b) => b.name)).toEqual(out.flat.map((l) => l.branch));
    const rawFlat = raw.flat.map((l) => JSON.parse(l));
    const rollbacks = (await store.listInterventions(sessionId))
      .filter((iv) => iv.type === 'branch')
      .map((iv) => ({ iv, content: JSON.parse(iv.content!) }));
    expect(rollbacks).toHaveLength(2);
    for (const [i, b] of branches.entries()) {
      const line = rawFlat[i];
      // The engine numbers agent steps from 1; step 0 is the initial state and is no step.
      expect(line.steps.map((s: { step_idx: number }) => s.step_idx)).toEqual(
        branchPath(b, all).map((s) => s.step_idx),
      );
      expect(line.steps[0].step_idx).toBe(1);
      expect(line.steps.map((s: { checkpoint: string }) => s.checkpoint)).toEqual(
        branchPath(b, all).map((s) => s.checkpoint),
      );
      if (!b.parent_branch_id) continue;
      const rb = rollbacks.find((r) => r.iv.branch_id === b.id)!;
      expect(rb.content.branch).toBe(b.name);
      expect(line.rollback_from_step).toBe(rb.content.from_step);
      expect(line.branch_point_step).toBe(rb.content.to_step);
      expect(line.branch_point_step).toBe((await store.getStep(b.fork_step_id!))!.step_idx);
      expect(line.rollback_reason).toBe(rb.content.reason);
      expect(line.rollback_reason).toBe(b.reason);
      const pref = out.branch_preferences.find((p) => p.chosen_branch === b.name)!;
      expect([pref.branch_point_step, pref.branch_point_reason]).toEqual([rb.content.to_step, b.reason]);
      const review = out.code_review.find((c) => c.kind === 'rollback_reason' && c.comment === b.reason)!;
      expect(review.after_step).toBe(rb.content.to_step);
    }
    expect((await store.getSession(sessionId))!.status).toBe('finished');
  });
});

describe('a rollback that keeps no branch, on the real engine', () => {
  it('exports its reason in trajectories and code_review, with the steps it threw away', async () => {
    const e = await startEngine({
      script: SCRIPT,
      config: { live_coding_agent: { sandbox: { allowed_commands: ['ls', 'grep'] } } },
    });
    try {
      const s = await e.manager.start({ task: TASK, annotator: 'ann' });
      await waitForEvent(e, s.id, ended);
      const seq = (await e.store.eventsAfter(s.id, 0)).at(-1)!.seq;
      const step2 = (await e.store.listSteps(s.id)).find((st) => st.step_idx === 2)!;
      const reason = 'Start again from the README';
      await s.rollback({
        toStepId: step2.id,
        reason,
        instruction: 'Write a real plan',
        branch: false,
        annotator: 'ann',
      });
      await waitForEvent(e, s.id, (ev) => ev.seq > seq && ended(ev));
      expect((await e.store.listBranches(s.id)).map((b) => b.name)).toEqual(['branch-A']);

      const [flat, ...more] = (await collect(exportLines(e.store, 'trajectories', { flattenBranches: true }))).map(
        (l) => JSON.parse(l),
      );
      expect(more).toEqual([]);
      // The branch goes on from step 2 with the new steps; the thrown-away ones are on no path.
      expect(flat.steps.map((st: { step_idx: number; type: string }) => [st.step_idx, st.type])).toEqual([
        [1, 'thinking'],
        [2, 'file_read'],
        [3, 'file_write'],
        [4, 'bash_command'],
        [5, 'message'],
      ]);
      expect(flat.steps[4].content).toBe('Done on branch B.');
      expect(flat.human_interventions).toEqual([
        { after_step: 2, type: 'rollback', content: reason, from_step: 5, to_step: 2 },
        { after_step: 2, type: 'instruction', content: 'Write a real plan' },
      ]);
      expect([flat.branch_point_step, flat.rollback_from_step]).toEqual([null, null]);

      const review = (await collect(exportLines(e.store, 'code_review'))).map((l) => JSON.parse(l));
      expect(review.map((r) => [r.kind, r.comment])).toEqual([
        ['rollback_reason', reason],
        ['instruction', 'Write a real plan'],
      ]);
      const { session_id: _id, steps: thrownAway, id, provenance: _p, created_at: _t, ...rest } = review[0];
      expect(rest).toEqual({
        task: TASK,
        kind: 'rollback_reason',
        branch: 'branch-A',
        new_branch: null,
        after_step: 2,
        comment: reason,
        annotator: 'ann',
        rollback_id: null,
        diffs: [{ step_idx: 3, path: 'notes/plan.txt', diff: S.s3.diff }],
        file_contents: [{ step_idx: 2, path: 'README.md', content: README }],
        files: ['README.md', 'notes/plan.txt'],
      });
      // The instruction sent with it answers the same code.
      expect(review[1].rollback_id).toBe(id);
      expect(review[1].steps).toEqual(thrownAway);
      // The step rolled back to, then what the rollback threw away.
      expect(thrownAway.map((st: { step_idx: number; type: string }) => [st.step_idx, st.type])).toEqual([
        [2, 'file_read'],
        [3, 'file_write'],
        [4, 'bash_command'],
        [5, 'message'],
      ]);
      expect(thrownAway[3].content).toBe('Done on branch A.');
      // PRM: the first thrown-away step is the first error, on a line of its own (the path is on no branch).
      const prm = (await collect(exportLines(e.store, 'prm_from_branches'))).map((l) => JSON.parse(l));
      expect(prm.map((l) => [l.branch, l.abandoned, l.first_error_step])).toEqual([
        ['branch-A', false, null],
        ['branch-A', true, 3],
      ]);
      expect(prm[1].steps.map((st: { label: unknown; label_source: unknown }) => [st.label, st.label_source])).toEqual([
        ['correct', 'rollback'],
        ['correct', 'rollback'],
        ['incorrect', 'rollback'],
        [null, null],
        [null, null],
      ]);
      const run: Record<string, Record<string, unknown>[]> = {};
      for (const f of ['prm_from_branches', 'prm_stepwise', 'code_review', 'branch_preferences'] as const) {
        run[f] = (await collect(exportLines(e.store, f))).map((l) => JSON.parse(l));
      }
      expect(checkExportRun(run)).toEqual([]);
    } finally {
      await e.close();
      fs.rmSync(e.dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('token usage in the export', () => {
  it("keeps each step's usage and sums it per branch line, as the engine recorded it", async () => {
    const steps = new Map((await engine.store.listSteps(sessionId)).map((st) => [st.id, st]));
    const lines = raw.flat.map((l) => JSON.parse(l));
    let withUsage = 0;
    for (const line of lines) {
      const branch = (await engine.store.listBranches(sessionId)).find((b) => b.name === line.branch)!;
      const path = branchPath(branch, [...steps.values()]);
      expect(line.steps.map((st: { usage?: unknown }) => st.usage ?? null)).toEqual(path.map((st) => st.usage));
      withUsage += path.filter((st) => st.usage).length;
      const sum = path.reduce(
        (t, st) => ({
          input_tokens: t.input_tokens + (st.usage?.input_tokens ?? 0),
          output_tokens: t.output_tokens + (st.usage?.output_tokens ?? 0),
        }),
        { input_tokens: 0, output_tokens: 0 },
      );
      expect(line.usage).toEqual(sum);
    }
    expect(withUsage).toBeGreaterThan(0);
    expect(JSON.parse(raw.trajectories[0]!).usage).toEqual((await engine.store.getSession(sessionId))!.usage);
  });
});

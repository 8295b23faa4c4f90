/**
 * @module test/export/exports.test
 * Every export format on a realistic session in a real SQLite store (build-session.ts),
 * compared with lines written by hand, validated against docs/schemas with ajv, and the TRL
 * formats checked field by field as TRL documents them. Also: the per-session shards kept by
 * ExportSync, the CLI's options, errors and dataset card, the consistency check, and that no
 * secret reaches an export.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/errors.js';
import { register } from '../../src/cli/export.js';
import type { ExportFormat } from '../../src/config/schema.js';
import { EXPORT_FORMATS } from '../../src/config/schema.js';
import { checkExportRun } from '../../src/export/consistency.js';
import { collect, exportLines } from '../../src/export/index.js';
import { readJsonl } from '../../src/export/jsonl.js';
import { ExportSync } from '../../src/export/sync.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { buildSession, DIFFS, LEAKED_KEY, SESSION_ID, TASK } from './build-session.js';
import { exportSchema, schemaAjv } from './schemas.js';

let dir: string;
let store: SqliteStore;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-export-'));
  store = openSqliteStore(path.join(dir, 'potato.db'));
  await buildSession(store);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The lines as objects; `id` and `provenance` are checked on their own (below), not in every expectation. */
const lines = async (format: ExportFormat, flattenBranches = false, opts: Record<string, unknown> = {}) =>
  (await collect(exportLines(store, format, { flattenBranches, ...opts }))).map((l) => {
    const { id: _id, provenance: _p, ...rest } = JSON.parse(l);
    return rest;
  });
const withIds = async (format: ExportFormat, flattenBranches = false) =>
  (await collect(exportLines(store, format, { flattenBranches }))).map((l) => JSON.parse(l));
const iso = (ms: number) => new Date(ms).toISOString();
const ivAt = async (id: string) =>
  iso((await store.listInterventions(SESSION_ID)).find((iv) => iv.id === id)!.created_at);
const labelAt = async (stepId: string) =>
  iso((await store.listStepLabels(SESSION_ID)).find((l) => l.step_id === stepId)!.updated_at);

// The exported steps, written by hand from the step payloads in build-session.ts.
/** Every built step carries this usage; a line's usage is the sum over its steps. */
const U = { input_tokens: 100, output_tokens: 20 };
const tokens = (steps: number) => ({ input_tokens: 100 * steps, output_tokens: 20 * steps });
const read0 = {
  step_idx: 0,
  type: 'file_read',
  path: 'tests/test_parser.py',
  content: 'def test_parse():\n    assert parse("a.b")\n',
  start_line: 1,
  truncated: false,
  author: 'agent',
  tool_name: 'file_read',
  tool_input: { path: 'tests/test_parser.py' },
  tool_result: 'def test_parse():\n    assert parse("a.b")\n',
  tool_is_error: false,
  usage: U,
};
const think1 = {
  step_idx: 1,
  type: 'thinking',
  content: 'The test expects dotted names to parse.',
  author: 'agent',
  usage: U,
};
const pytestStep = (idx: number, output: string, exit: number) => ({
  step_idx: idx,
  type: 'bash_command',
  command: 'pytest tests/test_parser.py',
  output,
  exit_code: exit,
  timed_out: false,
  truncated: false,
  author: 'agent',
  tool_name: 'bash_command',
  tool_input: { command: 'pytest tests/test_parser.py' },
  tool_result: `${output}\n[exit code ${exit}]`,
  tool_is_error: exit !== 0,
  usage: U,
});
const editStep = (idx: number, file: string, diff: string, sha: string) => ({
  step_idx: idx,
  type: 'file_edit',
  path: file,
  diff,
  modified_lines: [[3, 3]],
  created: false,
  author: 'agent',
  tool_name: 'file_edit',
  tool_input: { path: file, old_text: 'old', new_text: 'new' },
  tool_result: `Edited ${file}`,
  tool_is_error: false,
  checkpoint: sha,
  usage: U,
});
const S0 = {
  r0: read0,
  t1: think1,
  b2: pytestStep(2, 'FAILED tests/test_parser.py::test_parse', 1),
  a3: editStep(3, 'src/wrong_file.py', DIFFS.a3, 'sha-a3'),
  a4: pytestStep(4, 'FAILED: KeyError ANTHROPIC_API_KEY=[REDACTED]', 1),
  b3: editStep(3, 'src/parser.py', DIFFS.b3, 'sha-b3'),
  b4: pytestStep(4, 'FAILED tests/test_parser.py::test_config', 1),
  b5: editStep(5, 'src/config.py', DIFFS.b5, 'sha-b5'),
  c5: editStep(5, 'src/config.py', DIFFS.c5, 'sha-c5'),
  c6: pytestStep(6, '2 passed', 0),
  c7: { step_idx: 7, type: 'message', content: 'All tests pass.', author: 'agent', usage: U },
};
/** Every exported step carries its id (the step ids in build-session.ts are these keys). */
const S = Object.fromEntries(Object.entries(S0).map(([k, v]) => [k, { step_id: k, ...v }])) as {
  [K in keyof typeof S0]: (typeof S0)[K] & { step_id: K };
};
const annotations = { outcome: 'resolved', notes: 'Needed two rollbacks' };
const beforeRollback = [
  { after_step: 2, type: 'pause', content: null },
  { after_step: 2, type: 'instruction', content: 'Use a migration instead' },
  { after_step: 2, type: 'resume', content: null },
];
// The engine's rollback records: on the new branch, after the step rolled back to.
const toB = {
  after_step: 2,
  type: 'branch',
  content: 'Agent started modifying the wrong file',
  from_step: 4,
  to_step: 2,
};
const toC = {
  after_step: 4,
  type: 'branch',
  content: 'Hard-coding the config path breaks other callers',
  from_step: 5,
  to_step: 4,
};

describe('trajectories', () => {
  it('flattened: one line per branch, the whole path from step 0, with its interventions and outcome', async () => {
    expect(await lines('trajectories', true)).toEqual([
      {
        session_id: SESSION_ID,
        branch: 'branch-A',
        task: TASK,
        steps: [S.r0, S.t1, S.b2, S.a3, S.a4],
        usage: tokens(5),
        human_interventions: beforeRollback,
        branch_point_step: null,
        rollback_from_step: null,
        outcome: 'failed',
        parent_branch: null,
        rollback_reason: null,
        annotations,
      },
      {
        session_id: SESSION_ID,
        branch: 'branch-B',
        task: TASK,
        steps: [S.r0, S.t1, S.b2, S.b3, S.b4, S.b5],
        usage: tokens(6),
        human_interventions: [...beforeRollback, toB],
        // Rolled back from a4 (step 4 of branch-A) to step 2.
        branch_point_step: 2,
        rollback_from_step: 4,
        outcome: 'partial',
        parent_branch: 'branch-A',
        rollback_reason: 'Agent started modifying the wrong file',
        annotations,
      },
      {
        session_id: SESSION_ID,
        branch: 'branch-C',
        task: TASK,
        steps: [S.r0, S.t1, S.b2, S.b3, S.b4, S.c5, S.c6, S.c7],
        usage: tokens(8),
        human_interventions: [
          ...beforeRollback,
          toB,
          toC,
          { after_step: 6, type: 'instruction', content: 'Run the whole test suite, not just one file' },
        ],
        branch_point_step: 4,
        rollback_from_step: 5,
        outcome: 'resolved',
        parent_branch: 'branch-B',
        rollback_reason: 'Hard-coding the config path breaks other callers',
        annotations,
      },
    ]);
  });

  it('as a tree: one line per session with every step once and each branch as a list of step ids', async () => {
    const [tree, ...rest] = await lines('trajectories', false);
    expect(rest).toEqual([]);
    expect(tree.branches).toEqual([
      {
        branch: 'branch-A',
        parent_branch: null,
        branch_point_step: null,
        rollback_from_step: null,
        rollback_reason: null,
        outcome: 'failed',
        step_ids: ['r0', 't1', 'b2', 'a3', 'a4'],
      },
      {
        branch: 'branch-B',
        parent_branch: 'branch-A',
        branch_point_step: 2,
        rollback_from_step: 4,
        rollback_reason: 'Agent started modifying the wrong file',
        outcome: 'partial',
        step_ids: ['r0', 't1', 'b2', 'b3', 'b4', 'b5'],
      },
      {
        branch: 'branch-C',
        parent_branch: 'branch-B',
        branch_point_step: 4,
        rollback_from_step: 5,
        rollback_reason: 'Hard-coding the config path breaks other callers',
        outcome: 'resolved',
        step_ids: ['r0', 't1', 'b2', 'b3', 'b4', 'c5', 'c6', 'c7'],
      },
    ]);
    expect(
      tree.steps.map((s: { step_id: string; parent_step_id: string | null }) => [s.step_id, s.parent_step_id]),
    ).toEqual([
      ['r0', null],
      ['t1', 'r0'],
      ['b2', 't1'],
      ['a3', 'b2'],
      ['a4', 'a3'],
      ['b3', 'b2'],
      ['b4', 'b3'],
      ['b5', 'b4'],
      ['c5', 'b4'],
      ['c6', 'c5'],
      ['c7', 'c6'],
    ]);
    expect(tree.steps[8]).toEqual({ parent_step_id: 'b4', ...S.c5 });
    expect(tree).toMatchObject({
      session_id: SESSION_ID,
      task: TASK,
      status: 'finished',
      outcome: 'resolved',
      annotations,
    });
    expect(tree.human_interventions).toHaveLength(6);
    expect(tree.human_interventions[5]).toEqual({
      after_step: 6,
      type: 'instruction',
      content: 'Run the whole test suite, not just one file',
      after_step_id: 'c6',
      branch: 'branch-C',
    });
  });
});

describe('branch_preferences', () => {
  it('pairs the two sides of each branch point, each up to the next branch point: b4, where C forks, ends B’s side', async () => {
    expect(await lines('branch_preferences')).toEqual([
      {
        session_id: SESSION_ID,
        task: TASK,
        branch_point_step: 2,
        branch_point_reason: 'Agent started modifying the wrong file',
        rejected_branch: 'branch-A',
        rejected_steps: [S.a3, S.a4],
        chosen_branch: 'branch-B',
        // b5 is rejected by the next pair: it is in no chosen side.
        chosen_steps: [S.b3, S.b4],
      },
      {
        session_id: SESSION_ID,
        task: TASK,
        branch_point_step: 4,
        branch_point_reason: 'Hard-coding the config path breaks other callers',
        rejected_branch: 'branch-B',
        rejected_steps: [S.b5],
        chosen_branch: 'branch-C',
        chosen_steps: [S.c5, S.c6, S.c7],
      },
    ]);
  });
});

describe('prm_from_branches', () => {
  it('labels from the branch points, with the annotator’s own labels winning', async () => {
    const got = (await lines('prm_from_branches')).map((l) => ({
      branch: l.branch,
      first_error_step: l.first_error_step,
      labels: l.steps.map((s: { step_idx: number; label: string; first_error: boolean; label_source: string }) =>
        [s.step_idx, s.label, s.first_error, s.label_source].join(' '),
      ),
    }));
    expect(got).toEqual([
      {
        branch: 'branch-A',
        // The rollback marks a3 as the first error; the annotator said a3 was fine and a4 was the error.
        first_error_step: 4,
        labels: [
          '0 correct false branch',
          '1 correct false branch',
          '2 correct false branch',
          '3 correct false annotator',
          '4 incorrect true annotator',
        ],
      },
      {
        branch: 'branch-B',
        first_error_step: 5,
        labels: [
          '0 correct false branch',
          '1 correct false branch',
          '2 correct false branch',
          '3 correct false branch',
          '4 correct false branch',
          '5 incorrect true annotator',
        ],
      },
      {
        branch: 'branch-C',
        first_error_step: null,
        labels: [
          '0 correct false branch',
          '1 correct false branch',
          '2 correct false branch',
          '3 correct false branch',
          '4 correct false branch',
          '5 correct false branch',
          '6 correct false branch',
          '7 unsure false annotator',
        ],
      },
    ]);
    expect((await lines('prm_from_branches'))[1].steps[5]).toEqual({
      ...S.b5,
      label: 'incorrect',
      first_error: true,
      label_source: 'annotator',
      labelled_by: 'observer1',
      labelled_at: await labelAt('b5'),
    });
  });

  it('without an annotator label, the first rolled-back step is the first error', async () => {
    await store.deleteStepLabel(SESSION_ID, 'a3', 'observer1');
    await store.deleteStepLabel(SESSION_ID, 'a4', 'observer1');
    const a = (await lines('prm_from_branches'))[0];
    expect(a.first_error_step).toBe(3);
    expect(a.steps[3]).toMatchObject({ label: 'incorrect', first_error: true, label_source: 'branch' });
    expect(a.steps[4]).toMatchObject({ label: null, first_error: false, label_source: null });
  });

  it('labels nothing after the first error, even an annotator label', async () => {
    // The annotator calls b3 wrong: b4 and everything after it on B and C lose their labels.
    await store.upsertStepLabel({
      session_id: SESSION_ID,
      step_id: 'b3',
      annotator: 'observer2',
      label: 'incorrect',
      first_error: true,
      updated_at: Date.now(),
    });
    const [, b, c] = await lines('prm_from_branches');
    for (const line of [b, c]) {
      expect(line.first_error_step).toBe(3);
      expect(line.steps.slice(4).every((s: { label: unknown }) => s.label === null)).toBe(true);
      expect(line.steps[3]).toMatchObject({ label: 'incorrect', first_error: true, labelled_by: 'observer2' });
    }
    // The pairs now disagree with the labels (b3 is on B's chosen side): they are left out.
    expect((await lines('branch_preferences')).map((p) => p.chosen_branch)).toEqual([]);
  });

  it('exports the labels on steps a rollback without a branch threw away, and marks the first one the first error', async () => {
    const t = (await store.listInterventions(SESSION_ID)).at(-1)!.created_at + 1000;
    const step = async (id: string, parent: string, idx: number, content: string) =>
      await store.insertStep({
        id,
        session_id: SESSION_ID,
        parent_id: parent,
        step_idx: idx,
        type: 'message',
        payload: { type: 'message', content },
        author: 'agent',
        turn_id: `turn-${id}`,
        tool_call: null,
        tool_result: null,
        tool_is_error: false,
        checkpoint: null,
        changed_files: false,
        usage: null,
        started_at: t + idx,
        ended_at: t + idx,
      });
    // On C, after c7: d8, d9; then a rollback to c7 that keeps no branch, and e8.
    await step('d8', 'c7', 8, 'Deleting the tests.');
    await step('d9', 'd8', 9, 'Done.');
    await store.insertIntervention({
      id: 'iv-rb-plain',
      session_id: SESSION_ID,
      branch_id: 'br-C',
      type: 'rollback',
      after_step_id: 'c7',
      after_step: 7,
      content: JSON.stringify({ reason: 'Never delete tests', from_step: 9, to_step: 7, branch: 'branch-C' }),
      annotator: 'observer1',
      created_at: t + 100,
    });
    await step('e8', 'c7', 8, 'Kept the tests.');
    await store.updateBranch('br-C', { head_step_id: 'e8' });
    await store.upsertStepLabel({
      session_id: SESSION_ID,
      step_id: 'd9',
      annotator: 'observer1',
      label: 'correct',
      first_error: false,
      updated_at: t + 200,
    });
    const abandoned = (await lines('prm_from_branches')).filter((l) => l.abandoned);
    expect(abandoned).toHaveLength(1);
    expect(abandoned[0]).toMatchObject({ branch: 'branch-C', first_error_step: 8 });
    // d8 is the first error (the rollback says so); d9's label comes after it, so it is dropped.
    expect(
      abandoned[0].steps.slice(-2).map((s: { label: unknown; label_source: unknown }) => [s.label, s.label_source]),
    ).toEqual([
      ['incorrect', 'rollback'],
      [null, null],
    ]);
    const review = (await lines('code_review')).find((l) => l.comment === 'Never delete tests');
    expect(review.steps.map((s: { step_id: string }) => s.step_id)).toEqual(['c7', 'd8', 'd9']);
  });
});

describe('code_review', () => {
  it('one line per instruction and per rollback reason, each with the code it answers', async () => {
    const base = { session_id: SESSION_ID, task: TASK, annotator: 'observer1', new_branch: null, rollback_id: null };
    const read = { step_idx: 0, path: 'tests/test_parser.py', content: 'def test_parse():\n    assert parse("a.b")\n' };
    expect(await lines('code_review')).toEqual([
      {
        ...base,
        kind: 'instruction',
        branch: 'branch-A',
        after_step: 2,
        comment: 'Use a migration instead',
        created_at: await ivAt('iv-instr-1'),
        diffs: [],
        file_contents: [read],
        files: ['tests/test_parser.py'],
        steps: [S.r0, S.t1, S.b2],
      },
      {
        ...base,
        kind: 'rollback_reason',
        branch: 'branch-A',
        new_branch: 'branch-B',
        after_step: 2,
        comment: 'Agent started modifying the wrong file',
        created_at: await ivAt('iv-rb-1'),
        // The step rolled back to, then everything the rollback threw away.
        diffs: [{ step_idx: 3, path: 'src/wrong_file.py', diff: DIFFS.a3 }],
        file_contents: [],
        files: ['src/wrong_file.py'],
        steps: [S.b2, S.a3, S.a4],
      },
      {
        ...base,
        kind: 'rollback_reason',
        branch: 'branch-B',
        new_branch: 'branch-C',
        after_step: 4,
        comment: 'Hard-coding the config path breaks other callers',
        created_at: await ivAt('iv-rb-2'),
        diffs: [{ step_idx: 5, path: 'src/config.py', diff: DIFFS.b5 }],
        file_contents: [],
        files: ['src/config.py'],
        steps: [S.b4, S.b5],
      },
      {
        ...base,
        kind: 'instruction',
        branch: 'branch-C',
        after_step: 6,
        comment: 'Run the whole test suite, not just one file',
        created_at: await ivAt('iv-instr-2'),
        // The window starts after step 4, where the annotator rolled back to on this path.
        diffs: [{ step_idx: 5, path: 'src/config.py', diff: DIFFS.c5 }],
        file_contents: [],
        files: ['src/config.py'],
        steps: [S.c5, S.c6],
      },
    ]);
  });

  it('an instruction sent with a rollback answers the code the rollback threw away, and links to it', async () => {
    await store.insertIntervention({
      id: 'iv-with-rb',
      session_id: SESSION_ID,
      branch_id: 'br-C',
      type: 'instruction',
      after_step_id: 'b4',
      after_step: 4,
      content: 'Read the config format first',
      annotator: 'observer1',
      // Recorded right after the branch intervention, before C's first step.
      created_at: (await store.listInterventions(SESSION_ID)).find((iv) => iv.id === 'iv-rb-2')!.created_at,
    });
    const line = (await withIds('code_review')).find((l) => l.comment === 'Read the config format first');
    expect(line.rollback_id).toBe(`${SESSION_ID}/code_review/iv-rb-2`);
    expect(line.steps.map((st: { step_id: string }) => st.step_id)).toEqual(['b4', 'b5']);
    expect(line.diffs).toEqual([{ step_idx: 5, path: 'src/config.py', diff: DIFFS.b5 }]);
  });
});

const call = (name: string, args: Record<string, unknown>) => ({
  role: 'assistant',
  content: '',
  tool_calls: [{ type: 'function', function: { name, arguments: args } }],
});
const tool = (name: string, content: string) => ({ role: 'tool', name, content });
const editArgs = (file: string) => ({ path: file, old_text: 'old', new_text: 'new' });
const pytestArgs = { command: 'pytest tests/test_parser.py' };

describe('dpo (TRL conversational preference)', () => {
  const sharedPrompt = [
    { role: 'user', content: TASK },
    call('file_read', { path: 'tests/test_parser.py' }),
    tool('file_read', 'def test_parse():\n    assert parse("a.b")\n'),
    { ...call('bash_command', pytestArgs), reasoning_content: 'The test expects dotted names to parse.' },
    tool('bash_command', 'FAILED tests/test_parser.py::test_parse\n[exit code 1]'),
    { role: 'user', content: 'Use a migration instead' },
  ];

  it('prompt = task and shared path as messages, each side its segment as assistant and tool turns, with the tools', async () => {
    const [first, second] = await lines('dpo');
    const { tools, ...rest } = first;
    expect(rest).toEqual({
      prompt: sharedPrompt,
      chosen: [
        call('file_edit', editArgs('src/parser.py')),
        tool('file_edit', 'Edited src/parser.py'),
        call('bash_command', pytestArgs),
        tool('bash_command', 'FAILED tests/test_parser.py::test_config\n[exit code 1]'),
      ],
      rejected: [
        call('file_edit', editArgs('src/wrong_file.py')),
        tool('file_edit', 'Edited src/wrong_file.py'),
        call('bash_command', pytestArgs),
        tool('bash_command', 'FAILED: KeyError ANTHROPIC_API_KEY=[REDACTED]\n[exit code 1]'),
      ],
      session_id: SESSION_ID,
      branch_point_step: 2,
      chosen_branch: 'branch-B',
      rejected_branch: 'branch-A',
      annotator_call: false,
    });
    // A JSON string, as TRL accepts it (json.loads) on every version of datasets: the specs of the tools used.
    expect(JSON.parse(tools).map((t: { function: { name: string } }) => t.function.name)).toEqual([
      'file_read',
      'file_edit',
      'bash_command',
    ]);
    expect(second.prompt).toEqual([
      ...sharedPrompt,
      call('file_edit', editArgs('src/parser.py')),
      tool('file_edit', 'Edited src/parser.py'),
      call('bash_command', pytestArgs),
      tool('bash_command', 'FAILED tests/test_parser.py::test_config\n[exit code 1]'),
    ]);
    // C's side stops at c6, after which the annotator gave an instruction the prompt does not show.
    expect(second.chosen).toEqual([
      call('file_edit', editArgs('src/config.py')),
      tool('file_edit', 'Edited src/config.py'),
      call('bash_command', pytestArgs),
      tool('bash_command', '2 passed\n[exit code 0]'),
    ]);
    expect(second.rejected).toEqual([
      call('file_edit', editArgs('src/config.py')),
      tool('file_edit', 'Edited src/config.py'),
    ]);
  });

  it('dpo_step: only the first assistant turn of each side, so no tool output is scored as policy', async () => {
    // The second pair's first turns are the same call (the fixture edits with the same arguments): no preference, no line.
    const got = await lines('dpo_step');
    expect(got).toHaveLength(1);
    expect(got[0].prompt).toEqual(sharedPrompt);
    expect(got[0].chosen).toEqual([call('file_edit', editArgs('src/parser.py'))]);
    expect(got[0].rejected).toEqual([call('file_edit', editArgs('src/wrong_file.py'))]);
  });

  it('the instruction sent with a rollback ends the prompt, or the pair is left out (rollbackInstruction)', async () => {
    await store.insertIntervention({
      id: 'iv-with-rb',
      session_id: SESSION_ID,
      branch_id: 'br-C',
      type: 'instruction',
      after_step_id: 'b4',
      after_step: 4,
      content: 'Keep find(), pass the new format',
      annotator: 'observer1',
      created_at: (await store.listInterventions(SESSION_ID)).find((iv) => iv.id === 'iv-rb-2')!.created_at,
    });
    const second = (await lines('dpo'))[1];
    expect(second.prompt.at(-1)).toEqual({ role: 'user', content: 'Keep find(), pass the new format' });
    expect((await lines('dpo', false, { rollbackInstruction: 'exclude' })).map((l) => l.chosen_branch)).toEqual([
      'branch-B',
    ]);
  });

  it("an annotator's edited call is a user turn that says so, never the assistant's; or the pair is left out", async () => {
    // A third rollback from B at b4, with the call edited by the annotator (the engine records its author).
    const t = (await store.listInterventions(SESSION_ID)).at(-1)!.created_at + 1000;
    await store.insertBranch({
      id: 'br-D',
      session_id: SESSION_ID,
      name: 'branch-D',
      fork_step_id: 'b4',
      parent_branch_id: 'br-B',
      reason: 'Use the loader',
      head_step_id: 'b4',
      git_ref: 'branch-D',
      created_at: t,
    });
    const c5 = (await store.getStep('c5'))!;
    await store.insertStep({
      ...c5,
      id: 'd5',
      author: 'annotator',
      turn_id: 'turn-d5',
      started_at: t + 1,
      ended_at: t + 2,
    });
    await store.insertStep({
      ...c5,
      id: 'd6',
      parent_id: 'd5',
      step_idx: 6,
      type: 'message',
      payload: { type: 'message', content: 'Using the loader now.' },
      turn_id: 'turn-d6',
      tool_call: null,
      tool_result: null,
      checkpoint: null,
      started_at: t + 3,
      ended_at: t + 4,
    });
    await store.updateBranch('br-D', { head_step_id: 'd6' });
    const d = (await lines('dpo')).find((l) => l.chosen_branch === 'branch-D');
    expect(d.annotator_call).toBe(true);
    expect(d.chosen).toEqual([
      {
        role: 'user',
        content:
          '[The annotator replaced the model\'s tool call and ran: file_edit {"path":"src/config.py","old_text":"old","new_text":"new"}]\nResult:\nEdited src/config.py',
      },
      { role: 'assistant', content: 'Using the loader now.' },
    ]);
    expect((await lines('dpo', false, { annotatorCalls: 'exclude' })).map((l) => l.chosen_branch)).toEqual([
      'branch-B',
      'branch-C',
    ]);
    // dpo_step compares first model turns: D's came after the annotator's call, so there is no line for D.
    expect((await lines('dpo_step')).map((l) => l.chosen_branch)).toEqual(['branch-B']);
  });
});

const stepText = {
  r0: 'Read tests/test_parser.py:\ndef test_parse():\n    assert parse("a.b")\n',
  t1: 'The test expects dotted names to parse.',
  b2: '$ pytest tests/test_parser.py\nFAILED tests/test_parser.py::test_parse\n(exit code 1)',
  b3: `Edit src/parser.py:\n${DIFFS.b3}`,
  b4: '$ pytest tests/test_parser.py\nFAILED tests/test_parser.py::test_config\n(exit code 1)',
};

describe('prm_stepwise (TRL stepwise supervision)', () => {
  it('every labelled step once, up to the first error, with the steps before it as context; an unsure step does not cut the path', async () => {
    const context = (...texts: string[]) => `\n\nSteps so far (0 to ${texts.length - 1}):\n\n${texts.join('\n\n')}`;
    expect(await lines('prm_stepwise')).toEqual([
      {
        prompt: TASK,
        completions: [
          stepText.r0,
          stepText.t1,
          stepText.b2,
          `Edit src/wrong_file.py:\n${DIFFS.a3}`,
          '$ pytest tests/test_parser.py\nFAILED: KeyError ANTHROPIC_API_KEY=[REDACTED]\n(exit code 1)',
        ],
        labels: [true, true, true, true, false],
        session_id: SESSION_ID,
        branch: 'branch-A',
        first_step: 0,
        step_ids: ['r0', 't1', 'b2', 'a3', 'a4'],
        label_sources: ['branch', 'branch', 'branch', 'annotator', 'annotator'],
      },
      {
        // Steps 0-2 are already completions of branch-A's line: here they are context.
        prompt: `${TASK}${context(stepText.r0, stepText.t1, stepText.b2)}`,
        completions: [stepText.b3, stepText.b4, `Edit src/config.py:\n${DIFFS.b5}`],
        labels: [true, true, false],
        session_id: SESSION_ID,
        branch: 'branch-B',
        first_step: 3,
        step_ids: ['b3', 'b4', 'b5'],
        label_sources: ['branch', 'branch', 'annotator'],
      },
      {
        prompt: `${TASK}${context(stepText.r0, stepText.t1, stepText.b2, stepText.b3, stepText.b4)}`,
        completions: [`Edit src/config.py:\n${DIFFS.c5}`, '$ pytest tests/test_parser.py\n2 passed\n(exit code 0)'],
        labels: [true, true],
        session_id: SESSION_ID,
        branch: 'branch-C',
        first_step: 5,
        step_ids: ['c5', 'c6'],
        label_sources: ['branch', 'branch'],
      },
    ]);
  });

  it('prmWindow bounds the context and the completions of a line; prmSparseLabels gives each labelled step its own line', async () => {
    const small = await lines('prm_stepwise', false, { prmWindow: 2 });
    expect(small.map((l) => l.step_ids)).toEqual([
      ['r0', 't1'],
      ['b2', 'a3'],
      ['a4'],
      ['b3', 'b4'],
      ['b5'],
      ['c5', 'c6'],
    ]);
    expect(small[1].prompt).toBe(`${TASK}\n\nSteps so far (0 to 1):\n\n${stepText.r0}\n\n${stepText.t1}`);
    expect(small[3].prompt).toBe(`${TASK}\n\nSteps so far (1 to 2):\n\n${stepText.t1}\n\n${stepText.b2}`);
    const sparse = await lines('prm_stepwise', false, { prmSparseLabels: true, prmWindow: 3 });
    expect(sparse.map((l) => l.step_ids)).toEqual([
      ['r0'],
      ['t1'],
      ['b2'],
      ['a3'],
      ['a4'],
      ['b3'],
      ['b4'],
      ['b5'],
      ['c5'],
      ['c6'],
    ]);
    expect(sparse.every((l) => l.labels.length === 1)).toBe(true);
  });

  it('an unlabelled step between labelled ones is context, and the later labels still count', async () => {
    // Without the branches' labels: only the annotator's, a3 correct, a4 incorrect, with r0-b2 unlabelled.
    await store.upsertStepLabel({
      session_id: SESSION_ID,
      step_id: 'r0',
      annotator: 'observer1',
      label: 'unsure',
      first_error: false,
      updated_at: Date.now(),
    });
    const a = (await lines('prm_stepwise'))[0];
    expect(a.step_ids).toEqual(['t1', 'b2', 'a3', 'a4']);
    expect(a.prompt).toBe(`${TASK}\n\nSteps so far (0 to 0):\n\n${stepText.r0}`);
  });
});

describe('every format', () => {
  it('validates against its JSON schema in docs/schemas', async () => {
    for (const format of EXPORT_FORMATS) {
      const validate = exportSchema(format);
      const variants =
        format === 'trajectories'
          ? [await withIds(format, true), await withIds(format, false)]
          : [await withIds(format)];
      for (const out of variants) {
        expect(out.length, format).toBeGreaterThan(0);
        for (const line of out) {
          const ok = validate(line);
          expect(ok ? [] : validate.errors, `${format}: ${schemaAjv.errorsText(validate.errors)}`).toEqual([]);
        }
      }
      // The schema is not a rubber stamp: a line without its first required field fails.
      const broken = { ...(await withIds(format, true))[0] };
      delete broken[(validate.schema as { required?: string[] }).required?.[0] ?? 'session_id'];
      expect(validate(broken), format).toBe(false);
    }
  });

  it('never contains the secret that a command printed', async () => {
    for (const format of EXPORT_FORMATS) {
      for (const flatten of [true, false]) {
        for await (const line of exportLines(store, format, { flattenBranches: flatten })) {
          expect(line).not.toContain(LEAKED_KEY);
          expect(line).not.toContain('sk-ant-');
        }
      }
    }
  });

  it('keeps the TRL shapes: dpo and dpo_step prompt/chosen/rejected message lists, prm_stepwise aligned booleans', async () => {
    const roles = new Set(['system', 'user', 'assistant', 'tool']);
    for (const format of ['dpo', 'dpo_step'] as const) {
      for (const row of await lines(format)) {
        for (const key of ['prompt', 'chosen', 'rejected']) {
          const msgs = row[key] as { role: string; content: unknown }[];
          expect(Array.isArray(msgs) && msgs.length > 0, key).toBe(true);
          for (const m of msgs) {
            expect(roles.has(m.role)).toBe(true);
            expect(typeof m.content).toBe('string');
          }
        }
        // Without an annotator's call, a preference pair's completions are the model's side of the conversation.
        for (const key of ['chosen', 'rejected']) {
          const msgs = row[key] as { role: string }[];
          expect(msgs[0]!.role).toBe('assistant');
          expect(msgs.every((m) => m.role !== 'user')).toBe(true);
          // Never an empty assistant message.
          expect(
            msgs.every((m) => m.role !== 'assistant' || JSON.stringify(m) !== '{"role":"assistant","content":""}'),
          ).toBe(true);
        }
        if (format === 'dpo_step') expect([row.chosen.length, row.rejected.length]).toEqual([1, 1]);
        expect(typeof row.tools).toBe('string');
        expect(Array.isArray(JSON.parse(row.tools))).toBe(true);
      }
    }
    for (const row of await lines('prm_stepwise')) {
      expect(typeof row.prompt).toBe('string');
      const completions = row.completions as unknown[];
      const labels = row.labels as unknown[];
      expect(completions.every((c) => typeof c === 'string')).toBe(true);
      expect(labels.every((l) => typeof l === 'boolean')).toBe(true);
      expect(labels).toHaveLength(completions.length);
      // Nothing after the first error.
      const firstFalse = labels.indexOf(false);
      expect(firstFalse === -1 || firstFalse === labels.length - 1).toBe(true);
    }
  });

  it('gives every line a stable id and its provenance', async () => {
    for (const format of EXPORT_FORMATS) {
      const a = await withIds(format, true);
      const b = await withIds(format, true);
      expect(a.map((l) => l.id)).toEqual(b.map((l) => l.id));
      expect(new Set(a.map((l) => l.id)).size).toBe(a.length);
      for (const line of a) {
        expect(line.id.startsWith(`${SESSION_ID}/${format}`)).toBe(true);
        expect(line.provenance).toMatchObject({
          session_id: SESSION_ID,
          annotator: 'observer1',
          backend: 'ollama',
          model: 'qwen2.5-coder:32b',
          backend_settings: { model: 'qwen2.5-coder:32b', temperature: 0.2 },
          status: 'finished',
          end_reason: 'the agent finished',
          base_commit: 'base000',
        });
        expect(line.provenance.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
      }
    }
    // The chosen branch's last test, and the rejected one's.
    const [, bc] = await withIds('branch_preferences');
    expect(bc.provenance.last_test).toEqual({ step_idx: 6, command: 'pytest tests/test_parser.py', exit_code: 0 });
    expect(bc.provenance.rejected.last_test).toEqual({
      step_idx: 4,
      command: 'pytest tests/test_parser.py',
      exit_code: 1,
    });
    expect(bc.provenance).toMatchObject({ branch: 'branch-C', head_commit: 'sha-c5', head_step: 7 });
  });

  it('passes the consistency check, and the check finds a contradiction planted in it', async () => {
    const run: Record<string, Awaited<ReturnType<typeof withIds>>> = {};
    for (const f of EXPORT_FORMATS) run[f] = await withIds(f, true);
    expect(checkExportRun(run)).toEqual([]);
    // The pre-fix rule: B's whole path after the point chosen, although B-vs-C rejects b5.
    const planted = structuredClone(run);
    planted.branch_preferences![0].chosen_steps.push({ ...S.b5 });
    expect(checkExportRun(planted)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('step b5 is chosen in'),
        expect.stringContaining('chosen step b5 is labelled incorrect'),
      ]),
    );
    const twice = structuredClone(run);
    twice.prm_stepwise!.push(twice.prm_stepwise![0]);
    expect(checkExportRun(twice).join('\n')).toMatch(/appears twice[\s\S]*is a completion twice/);
  });
});

describe('ExportSync', () => {
  it('rewrites a session’s shard whole when a label changes, with no duplicate line, and the merged file after it', async () => {
    const out = path.join(dir, 'out');
    const sync = new ExportSync({ store, outputDir: out, formats: ['branch_preferences', 'prm_from_branches'] });
    expect(await sync.refresh(SESSION_ID)).toBe(true);
    await sync.merge();
    const shard = sync.shardPath('prm_from_branches', SESSION_ID);
    const before = [...readJsonl(shard)] as { id: string; first_error_step: number }[];
    expect(before.map((l) => l.first_error_step)).toEqual([4, 5, null]);
    // A crash in the middle of a rewrite leaves a temporary file; readers never see it.
    fs.writeFileSync(`${shard}.tmp-99999`, '{"half');
    await store.deleteStepLabel(SESSION_ID, 'a3', 'observer1');
    await store.deleteStepLabel(SESSION_ID, 'a4', 'observer1');
    await sync.refresh(SESSION_ID);
    const after = [...readJsonl(shard)] as { id: string; first_error_step: number }[];
    expect(after.map((l) => l.id)).toEqual(before.map((l) => l.id));
    expect(after.map((l) => l.first_error_step)).toEqual([3, 5, null]);
    await sync.merge();
    expect(fs.readFileSync(sync.mergedPath('prm_from_branches'), 'utf8')).toBe(fs.readFileSync(shard, 'utf8'));
    expect(fs.readFileSync(path.join(out, 'README.md'), 'utf8')).toContain(
      '| `prm_from_branches` | `prm_from_branches.jsonl`',
    );
  });

  it('leaves a running session’s last exported version alone until it ends again', async () => {
    const out = path.join(dir, 'out');
    const sync = new ExportSync({ store, outputDir: out, formats: ['trajectories'] });
    await sync.refresh(SESSION_ID);
    const shard = sync.shardPath('trajectories', SESSION_ID);
    const text = fs.readFileSync(shard, 'utf8');
    await store.updateSession(SESSION_ID, { status: 'running' });
    expect(await sync.refresh(SESSION_ID)).toBe(false);
    expect(fs.readFileSync(shard, 'utf8')).toBe(text);
  });
});

describe('potato export', () => {
  const cli = async (...args: string[]) => {
    let out = '';
    let err = '';
    // The export command alone, with main.ts's mapping of user errors to exit code 2.
    const program = new Command('potato').exitOverride().configureOutput({
      writeOut: (t) => (out += t),
      writeErr: (t) => (err += t),
    });
    register(program);
    let code = 0;
    try {
      await program.parseAsync(['node', 'potato', 'export', ...args]);
    } catch (e) {
      if (e instanceof UsageError) err += `error: ${e.message}\n`;
      else if (!(e instanceof CommanderError)) throw e;
      code = 2;
    }
    return { code, out, err };
  };

  it('writes the file and says how much it wrote', async () => {
    await store.close();
    const file = path.join(dir, 'training', 'trajectories.jsonl');
    const r = await cli('--format', 'trajectories', '--project', dir, '--output', file, '--flatten_branches', 'true');
    store = openSqliteStore(path.join(dir, 'potato.db'));
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('wrote 3 lines from 1 session');
    expect(([...readJsonl(file)] as { branch: string }[]).map((l) => l.branch)).toEqual([
      'branch-A',
      'branch-B',
      'branch-C',
    ]);
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['README.md', 'trajectories.jsonl']);
  });

  it('writes a dataset card beside the files: counts, rules, options, the config with secrets masked, a load_dataset snippet', async () => {
    await store.close();
    const config = path.join(dir, 'config.yaml');
    fs.mkdirSync(path.join(dir, 'workspace'));
    fs.writeFileSync(
      config,
      [
        'live_coding_agent:',
        '  backend: anthropic',
        '  anthropic: { model: claude-sonnet-4-5, api_key_env: MY_KEY }',
        'output: { export_options: { prm_window: 3 } }',
        'annotators: [{ username: alice, password: hunter2-secret }]',
        '',
      ].join('\n'),
    );
    const out = path.join(dir, 'training');
    const a = await cli(
      '--format',
      'dpo',
      '--project',
      dir,
      '--output',
      path.join(out, 'dpo.jsonl'),
      '--config',
      config,
    );
    const b = await cli(
      '--format',
      'prm_stepwise',
      '--project',
      dir,
      '--output',
      path.join(out, 'prm_stepwise.jsonl'),
      '--prm_sparse_labels',
      'true',
      '--config',
      config,
    );
    store = openSqliteStore(path.join(dir, 'potato.db'));
    expect([a.code, b.code]).toEqual([0, 0]);
    const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    expect(card).toMatch(
      /^---\npretty_name: Potato Live export\nconfigs:\n- config_name: prm_stepwise\n {2}data_files: "prm_stepwise.jsonl"\n- config_name: dpo/,
    );
    expect(card).toContain('| `prm_stepwise` | `prm_stepwise.jsonl` | 10 |');
    expect(card).toContain('| `dpo` | `dpo.jsonl` | 2 |');
    expect(card).toContain('load_dataset("json", data_files="prm_stepwise.jsonl", split="train")');
    expect(card).toContain('"prmSparseLabels": true');
    expect(card).toContain('No step is both chosen and rejected');
    // The flag wins over the config's prm_window 3 for what it sets; the config's other options stay.
    expect(card).toContain('"prmWindow": 3');
    expect(card).toContain('"password_hash": "[MASKED]"');
    expect(card).toContain('"api_key_env": "MY_KEY"');
    expect(card).not.toContain('hunter2-secret');
  });

  it('validates every export option and names the flag', async () => {
    const at = (...extra: string[]) =>
      cli('--format', 'dpo', '--project', dir, '--output', path.join(dir, 'x.jsonl'), ...extra);
    const cases: [string[], string][] = [
      [['--annotator_calls', 'hide'], '--annotator_calls takes mark or exclude, not "hide"'],
      [['--rollback_instruction', 'drop'], '--rollback_instruction takes prompt or exclude, not "drop"'],
      [['--prm_window', '0'], '--prm_window takes a whole number of steps from 1 to 1000, not "0"'],
      [['--prm_sparse_labels', 'yes'], '--prm_sparse_labels takes true or false, not "yes"'],
      [['--outcome_order', 'resolved,,failed'], '--outcome_order takes outcome values separated by commas'],
    ];
    for (const [flags, message] of cases) {
      const r = await at(...flags);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.err).toContain(message);
    }
  });

  it('refuses an unknown format, listing the valid ones', async () => {
    const r = await cli('--format', 'parquet', '--project', dir, '--output', path.join(dir, 'x.jsonl'));
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown export format "parquet"');
    for (const f of EXPORT_FORMATS) expect(r.err).toContain(f);
  });

  it('says so when the project folder has no data', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-empty-'));
    try {
      const r = await cli('--format', 'dpo', '--project', empty, '--output', path.join(empty, 'x.jsonl'));
      expect(r.code).toBe(2);
      expect(r.err).toContain(`no data in ${empty}: potato.db is missing`);
      expect(fs.existsSync(path.join(empty, 'x.jsonl'))).toBe(false);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('refuses --flatten_branches with a format it does not apply to, and a value that is not a boolean', async () => {
    const r = await cli(
      '--format',
      'branch_preferences',
      '--project',
      dir,
      '--output',
      path.join(dir, 'x.jsonl'),
      '--flatten_branches',
      'true',
    );
    expect(r.code).toBe(2);
    expect(r.err).toContain('--flatten_branches applies only to trajectories');
    const r2 = await cli(
      '--format',
      'trajectories',
      '--project',
      dir,
      '--output',
      path.join(dir, 'x.jsonl'),
      '--flatten_branches',
      'yes',
    );
    expect(r2.code).toBe(2);
    expect(r2.err).toContain('--flatten_branches takes true or false, not "yes"');
  });
});

/**
 * @module test/export/exports.test
 * Every export format on a realistic session in a real SQLite store (build-session.ts),
 * compared with lines written by hand, validated against docs/schemas with ajv, and the TRL
 * formats checked field by field as TRL documents them. Also: the per-session append, the CLI's
 * errors, and that no secret reaches an export.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/errors.js';
import { register } from '../../src/cli/export.js';
import type { ExportFormat } from '../../src/config/schema.js';
import { EXPORT_FORMATS } from '../../src/config/schema.js';
import { exportLines, exportSession } from '../../src/export/index.js';
import { readJsonl } from '../../src/export/jsonl.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { buildSession, DIFFS, LEAKED_KEY, SESSION_ID, TASK } from './build-session.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-export-'));
  store = openSqliteStore(path.join(dir, 'potato.db'));
  buildSession(store);
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const lines = (format: ExportFormat, flattenBranches = false) =>
  [...exportLines(store, format, { flattenBranches })].map((l) => JSON.parse(l));

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
const S = {
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
  it('flattened: one line per branch, the whole path from step 0, with its interventions and outcome', () => {
    expect(lines('trajectories', true)).toEqual([
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

  it('as a tree: one line per session with every step once and each branch as a list of step ids', () => {
    const [tree, ...rest] = lines('trajectories', false);
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
    expect(tree.steps[8]).toEqual({ step_id: 'c5', parent_step_id: 'b4', ...S.c5 });
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
  it('pairs the old path (rejected) with the new one (chosen) at each of the two branch points', () => {
    expect(lines('branch_preferences')).toEqual([
      {
        session_id: SESSION_ID,
        task: TASK,
        branch_point_step: 2,
        branch_point_reason: 'Agent started modifying the wrong file',
        rejected_branch: 'branch-A',
        rejected_steps: [S.a3, S.a4],
        chosen_branch: 'branch-B',
        chosen_steps: [S.b3, S.b4, S.b5],
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
  it('labels from the branch points, with the annotator’s own labels winning', () => {
    const got = lines('prm_from_branches').map((l) => ({
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
    expect(lines('prm_from_branches')[1].steps[5]).toEqual({
      ...S.b5,
      label: 'incorrect',
      first_error: true,
      label_source: 'annotator',
    });
  });

  it('without an annotator label, the first rolled-back step is the first error', () => {
    store.deleteStepLabel(SESSION_ID, 'a3', 'observer1');
    store.deleteStepLabel(SESSION_ID, 'a4', 'observer1');
    const a = lines('prm_from_branches')[0];
    expect(a.first_error_step).toBe(3);
    expect(a.steps[3]).toMatchObject({ label: 'incorrect', first_error: true, label_source: 'branch' });
    expect(a.steps[4]).toMatchObject({ label: null, first_error: false, label_source: null });
  });
});

describe('code_review', () => {
  it('one line per instruction and per rollback reason, with the diffs it was about', () => {
    expect(lines('code_review')).toEqual([
      {
        session_id: SESSION_ID,
        task: TASK,
        kind: 'instruction',
        branch: 'branch-A',
        after_step: 2,
        comment: 'Use a migration instead',
        annotator: 'observer1',
        diffs: [],
        files: ['tests/test_parser.py'],
        steps: [S.r0, S.t1, S.b2],
      },
      {
        session_id: SESSION_ID,
        task: TASK,
        kind: 'instruction',
        branch: 'branch-C',
        after_step: 6,
        comment: 'Run the whole test suite, not just one file',
        annotator: 'observer1',
        // The window starts after step 4, where the annotator rolled back to on this path.
        diffs: [{ step_idx: 5, path: 'src/config.py', diff: DIFFS.c5 }],
        files: ['src/config.py'],
        steps: [S.c5, S.c6],
      },
      {
        session_id: SESSION_ID,
        task: TASK,
        kind: 'rollback_reason',
        branch: 'branch-A',
        after_step: 2,
        comment: 'Agent started modifying the wrong file',
        annotator: 'observer1',
        diffs: [{ step_idx: 3, path: 'src/wrong_file.py', diff: DIFFS.a3 }],
        files: ['src/wrong_file.py'],
        steps: [S.a3, S.a4],
      },
      {
        session_id: SESSION_ID,
        task: TASK,
        kind: 'rollback_reason',
        branch: 'branch-B',
        after_step: 4,
        comment: 'Hard-coding the config path breaks other callers',
        annotator: 'observer1',
        diffs: [{ step_idx: 5, path: 'src/config.py', diff: DIFFS.b5 }],
        files: ['src/config.py'],
        steps: [S.b5],
      },
    ]);
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
  it('prompt = task and shared path as messages, chosen/rejected = the assistant and tool turns after the point', () => {
    const [first, second] = lines('dpo');
    const sharedPrompt = [
      { role: 'user', content: TASK },
      call('file_read', { path: 'tests/test_parser.py' }),
      tool('file_read', 'def test_parse():\n    assert parse("a.b")\n'),
      { ...call('bash_command', pytestArgs), reasoning_content: 'The test expects dotted names to parse.' },
      tool('bash_command', 'FAILED tests/test_parser.py::test_parse\n[exit code 1]'),
      { role: 'user', content: 'Use a migration instead' },
    ];
    expect(first).toEqual({
      prompt: sharedPrompt,
      chosen: [
        call('file_edit', editArgs('src/parser.py')),
        tool('file_edit', 'Edited src/parser.py'),
        call('bash_command', pytestArgs),
        tool('bash_command', 'FAILED tests/test_parser.py::test_config\n[exit code 1]'),
        call('file_edit', editArgs('src/config.py')),
        tool('file_edit', 'Edited src/config.py'),
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
    });
    expect(second.prompt).toEqual([
      ...sharedPrompt,
      call('file_edit', editArgs('src/parser.py')),
      tool('file_edit', 'Edited src/parser.py'),
      call('bash_command', pytestArgs),
      tool('bash_command', 'FAILED tests/test_parser.py::test_config\n[exit code 1]'),
    ]);
    expect(second.chosen.at(-1)).toEqual({ role: 'assistant', content: 'All tests pass.' });
    expect(second.rejected).toEqual([
      call('file_edit', editArgs('src/config.py')),
      tool('file_edit', 'Edited src/config.py'),
    ]);
  });
});

describe('prm_stepwise (TRL stepwise supervision)', () => {
  it('one boolean per completion, up to and including the first error; an unsure step ends the path', () => {
    const text = {
      r0: 'Read tests/test_parser.py:\ndef test_parse():\n    assert parse("a.b")\n',
      t1: 'The test expects dotted names to parse.',
      b2: '$ pytest tests/test_parser.py\nFAILED tests/test_parser.py::test_parse\n(exit code 1)',
    };
    expect(lines('prm_stepwise')).toEqual([
      {
        prompt: TASK,
        completions: [
          text.r0,
          text.t1,
          text.b2,
          `Edit src/wrong_file.py:\n${DIFFS.a3}`,
          '$ pytest tests/test_parser.py\nFAILED: KeyError ANTHROPIC_API_KEY=[REDACTED]\n(exit code 1)',
        ],
        labels: [true, true, true, true, false],
        session_id: SESSION_ID,
        branch: 'branch-A',
      },
      {
        prompt: TASK,
        completions: [
          text.r0,
          text.t1,
          text.b2,
          `Edit src/parser.py:\n${DIFFS.b3}`,
          '$ pytest tests/test_parser.py\nFAILED tests/test_parser.py::test_config\n(exit code 1)',
          `Edit src/config.py:\n${DIFFS.b5}`,
        ],
        labels: [true, true, true, true, true, false],
        session_id: SESSION_ID,
        branch: 'branch-B',
      },
      {
        prompt: TASK,
        completions: [
          text.r0,
          text.t1,
          text.b2,
          `Edit src/parser.py:\n${DIFFS.b3}`,
          '$ pytest tests/test_parser.py\nFAILED tests/test_parser.py::test_config\n(exit code 1)',
          `Edit src/config.py:\n${DIFFS.c5}`,
          '$ pytest tests/test_parser.py\n2 passed\n(exit code 0)',
        ],
        labels: [true, true, true, true, true, true, true],
        session_id: SESSION_ID,
        branch: 'branch-C',
      },
    ]);
  });
});

describe('every format', () => {
  it('validates against its JSON schema in docs/schemas', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    for (const format of EXPORT_FORMATS) {
      const schema = JSON.parse(fs.readFileSync(path.join(root, 'docs/schemas', `${format}.schema.json`), 'utf8'));
      const validate = ajv.compile(schema);
      const variants = format === 'trajectories' ? [lines(format, true), lines(format, false)] : [lines(format)];
      for (const out of variants) {
        expect(out.length, format).toBeGreaterThan(0);
        for (const line of out) {
          const ok = validate(line);
          expect(ok ? [] : validate.errors, `${format}: ${ajv.errorsText(validate.errors)}`).toEqual([]);
        }
      }
      // The schema is not a rubber stamp: a line without its first required field fails.
      const broken = { ...lines(format, true)[0] };
      delete broken[schema.required?.[0] ?? 'session_id'];
      expect(validate(broken), format).toBe(false);
    }
  });

  it('never contains the secret that a command printed', () => {
    for (const format of EXPORT_FORMATS) {
      for (const flatten of [true, false]) {
        for (const line of exportLines(store, format, { flattenBranches: flatten })) {
          expect(line).not.toContain(LEAKED_KEY);
          expect(line).not.toContain('sk-ant-');
        }
      }
    }
  });

  it('loads the TRL files as TRL documents them: dpo prompt/chosen/rejected message lists, prm_stepwise aligned booleans', () => {
    const out = path.join(dir, 'out');
    exportSession(store, SESSION_ID, ['dpo', 'prm_stepwise'], out);
    const roles = new Set(['user', 'assistant', 'tool']);
    for (const row of [...readJsonl(path.join(out, 'dpo.jsonl'))] as Record<string, unknown>[]) {
      for (const key of ['prompt', 'chosen', 'rejected']) {
        const msgs = row[key] as { role: string; content: unknown; tool_calls?: unknown[] }[];
        expect(Array.isArray(msgs) && msgs.length > 0, key).toBe(true);
        for (const m of msgs) {
          expect(roles.has(m.role)).toBe(true);
          expect(typeof m.content).toBe('string');
        }
      }
      // A preference pair's completions are the model's side of the conversation.
      for (const key of ['chosen', 'rejected']) {
        const msgs = row[key] as { role: string }[];
        expect(msgs[0]!.role).toBe('assistant');
        expect(msgs.every((m) => m.role !== 'user')).toBe(true);
      }
      expect((row.prompt as { role: string }[])[0]).toEqual({ role: 'user', content: TASK });
    }
    for (const row of [...readJsonl(path.join(out, 'prm_stepwise.jsonl'))] as Record<string, unknown>[]) {
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
});

describe('exportSession', () => {
  it('appends each session’s lines without rewriting earlier ones, and cuts a torn last line first', () => {
    const out = path.join(dir, 'out');
    const counts = exportSession(store, SESSION_ID, ['branch_preferences', 'code_review'], out);
    expect(counts).toEqual({ branch_preferences: 2, code_review: 4 });
    const file = path.join(out, 'branch_preferences.jsonl');
    const first = fs.readFileSync(file, 'utf8');
    // A crash (power loss) in the middle of an append left half a line.
    fs.appendFileSync(file, '{"session_id":"half');
    expect([...readJsonl(file)]).toHaveLength(2);
    exportSession(store, SESSION_ID, ['branch_preferences'], out);
    const after = fs.readFileSync(file, 'utf8');
    expect(after.startsWith(first)).toBe(true);
    expect(after.slice(first.length)).toBe(first);
    expect(after).not.toContain('half');
    expect([...readJsonl(file)]).toHaveLength(4);
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
    store.close();
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
    expect(fs.readdirSync(path.dirname(file))).toEqual(['trajectories.jsonl']);
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

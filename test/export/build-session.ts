/**
 * @module test/export/build-session
 * Builds a realistic session directly in a real SQLite store: an instruction, two rollbacks,
 * three branches, annotator labels and answers. The tree (step_idx in brackets):
 *
 *   A: r0[0] file_read ─ t1[1] thinking ─ b2[2] pytest (exit 1) ─ a3[3] edit wrong_file ─ a4[4] pytest (exit 1)
 *                                         │   instruction after [2]; rollback from a4 [4] to [2]
 *                                         └─ B: b3[3] edit parser.py ─ b4[4] pytest (exit 1) ─ b5[5] edit config.py
 *                                                                       │   rollback from b5 [5] to [4]
 *                                                                       └─ C: c5[5] edit config.py ─ c6[6] pytest (exit 0) ─ c7[7] message
 *                                                                             instruction after [6]
 */
import type { Step, StepPayload } from '../../src/steps/types.js';
import type { StepLabelValue, Store } from '../../src/store/types.js';

export const SESSION_ID = 'session_001';
export const TASK = 'Fix the failing test in tests/test_parser.py caused by the new config format';
export const LEAKED_KEY = 'sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789';

let clock = 1_700_000_000_000;
const tick = () => (clock += 1000);

interface StepSpec {
  id: string;
  parent: string | null;
  idx: number;
  turn: string;
  payload: StepPayload;
  call?: { name: string; input: Record<string, unknown>; result: string; isError?: boolean };
  checkpoint?: string;
}

function makeStep(spec: StepSpec): Step {
  const started = tick();
  return {
    id: spec.id,
    session_id: SESSION_ID,
    parent_id: spec.parent,
    step_idx: spec.idx,
    type: spec.payload.type,
    payload: spec.payload,
    author: 'agent',
    turn_id: spec.turn,
    tool_call: spec.call ? { id: `call-${spec.id}`, name: spec.call.name, input: spec.call.input } : null,
    tool_result: spec.call ? spec.call.result : null,
    tool_is_error: spec.call?.isError ?? false,
    checkpoint: spec.checkpoint ?? null,
    changed_files: spec.checkpoint !== undefined,
    usage: { input_tokens: 100, output_tokens: 20 },
    started_at: started,
    ended_at: started + 500,
  };
}

const pytest = (id: string, parent: string, idx: number, turn: string, output: string, exit: number): StepSpec => ({
  id,
  parent,
  idx,
  turn,
  payload: {
    type: 'bash_command',
    command: 'pytest tests/test_parser.py',
    output,
    exit_code: exit,
    timed_out: false,
    truncated: false,
  },
  call: {
    name: 'bash_command',
    input: { command: 'pytest tests/test_parser.py' },
    result: `${output}\n[exit code ${exit}]`,
    isError: exit !== 0,
  },
});

const edit = (
  id: string,
  parent: string,
  idx: number,
  turn: string,
  file: string,
  diff: string,
  sha: string,
): StepSpec => ({
  id,
  parent,
  idx,
  turn,
  payload: { type: 'file_edit', path: file, diff, modified_lines: [[3, 3]], created: false },
  call: { name: 'file_edit', input: { path: file, old_text: 'old', new_text: 'new' }, result: `Edited ${file}` },
  checkpoint: sha,
});

export const DIFFS = {
  a3: '--- a/src/wrong_file.py\n+++ b/src/wrong_file.py\n@@ -3 +3 @@\n-x = 1\n+x = 2\n',
  b3: '--- a/src/parser.py\n+++ b/src/parser.py\n@@ -3 +3 @@\n-PATTERN = r"\\w+"\n+PATTERN = r"[\\w.]+"\n',
  b5: '--- a/src/config.py\n+++ b/src/config.py\n@@ -3 +3 @@\n-PATH = find()\n+PATH = "/etc/app.toml"\n',
  c5: '--- a/src/config.py\n+++ b/src/config.py\n@@ -3 +3 @@\n-PATH = find()\n+PATH = find(new_format=True)\n',
};

/** Creates the session in `store` and returns nothing: tests read it back through the store. */
export async function buildSession(store: Store): Promise<void> {
  clock = 1_700_000_000_000;
  await store.createSession({
    id: SESSION_ID,
    task: TASK,
    annotator: 'observer1',
    backend: 'ollama',
    backend_settings: { model: 'qwen2.5-coder:32b', temperature: 0.2 },
    status: 'running',
    end_reason: null,
    workspace: '/workspace/repo',
    base_commit: 'base000',
    current_branch_id: 'br-A',
    usage: { input_tokens: 0, output_tokens: 0 },
  });
  const branch = async (id: string, name: string, fork: string | null, parent: string | null, reason: string | null) =>
    await store.insertBranch({
      id,
      session_id: SESSION_ID,
      name,
      fork_step_id: fork,
      parent_branch_id: parent,
      reason,
      head_step_id: fork,
      git_ref: `potato/${SESSION_ID}/${name}`,
      created_at: tick(),
    });
  const add = async (spec: StepSpec, branchId: string) => {
    await store.insertStep(makeStep(spec));
    await store.updateBranch(branchId, { head_step_id: spec.id });
  };
  const intervene = async (
    id: string,
    branchId: string,
    type: 'instruction' | 'branch' | 'pause' | 'resume',
    afterId: string,
    after: number,
    content: string | null,
  ) =>
    await store.insertIntervention({
      id,
      session_id: SESSION_ID,
      branch_id: branchId,
      type,
      after_step_id: afterId,
      after_step: after,
      content,
      annotator: 'observer1',
      created_at: tick(),
    });

  await branch('br-A', 'branch-A', null, null, null);
  await add(
    {
      id: 'r0',
      parent: null,
      idx: 0,
      turn: 'turn-0',
      payload: {
        type: 'file_read',
        path: 'tests/test_parser.py',
        content: 'def test_parse():\n    assert parse("a.b")\n',
        start_line: 1,
        truncated: false,
      },
      call: {
        name: 'file_read',
        input: { path: 'tests/test_parser.py' },
        result: 'def test_parse():\n    assert parse("a.b")\n',
      },
    },
    'br-A',
  );
  await add(
    {
      id: 't1',
      parent: 'r0',
      idx: 1,
      turn: 'turn-1',
      payload: { type: 'thinking', content: 'The test expects dotted names to parse.', signature: 'sig-opaque' },
    },
    'br-A',
  );
  await add(pytest('b2', 't1', 2, 'turn-1', 'FAILED tests/test_parser.py::test_parse', 1), 'br-A');
  await intervene('iv-pause', 'br-A', 'pause', 'b2', 2, null);
  await intervene('iv-instr-1', 'br-A', 'instruction', 'b2', 2, 'Use a migration instead');
  await intervene('iv-resume', 'br-A', 'resume', 'b2', 2, null);
  await add(edit('a3', 'b2', 3, 'turn-2', 'src/wrong_file.py', DIFFS.a3, 'sha-a3'), 'br-A');
  await add(pytest('a4', 'a3', 4, 'turn-3', `FAILED: KeyError ANTHROPIC_API_KEY=${LEAKED_KEY}`, 1), 'br-A');

  // As the engine records a rollback that keeps the old path: the new branch, then an
  // intervention on it after the step rolled back to, its content JSON (controller.applyRollback).
  const rollback = async (
    id: string,
    branchId: string,
    name: string,
    to: string,
    toIdx: number,
    fromIdx: number,
    reason: string,
  ) => {
    await branch(branchId, name, to, (await store.listBranches(SESSION_ID)).at(-1)!.id, reason);
    await intervene(
      id,
      branchId,
      'branch',
      to,
      toIdx,
      JSON.stringify({ reason, from_step: fromIdx, to_step: toIdx, branch: name }),
    );
  };
  await rollback('iv-rb-1', 'br-B', 'branch-B', 'b2', 2, 4, 'Agent started modifying the wrong file');
  await add(edit('b3', 'b2', 3, 'turn-4', 'src/parser.py', DIFFS.b3, 'sha-b3'), 'br-B');
  await add(pytest('b4', 'b3', 4, 'turn-5', 'FAILED tests/test_parser.py::test_config', 1), 'br-B');
  await add(edit('b5', 'b4', 5, 'turn-6', 'src/config.py', DIFFS.b5, 'sha-b5'), 'br-B');

  await rollback('iv-rb-2', 'br-C', 'branch-C', 'b4', 4, 5, 'Hard-coding the config path breaks other callers');
  await add(edit('c5', 'b4', 5, 'turn-7', 'src/config.py', DIFFS.c5, 'sha-c5'), 'br-C');
  await add(pytest('c6', 'c5', 6, 'turn-8', '2 passed', 0), 'br-C');
  await intervene('iv-instr-2', 'br-C', 'instruction', 'c6', 6, 'Run the whole test suite, not just one file');
  await add(
    { id: 'c7', parent: 'c6', idx: 7, turn: 'turn-9', payload: { type: 'message', content: 'All tests pass.' } },
    'br-C',
  );

  const answer = async (scheme: string, value: unknown, branchId: string | null) =>
    await store.upsertAnnotation({
      session_id: SESSION_ID,
      annotator: 'observer1',
      branch_id: branchId,
      scheme,
      value,
      updated_at: tick(),
    });
  await answer('outcome', 'resolved', null);
  await answer('notes', 'Needed two rollbacks', null);
  await answer('outcome', 'failed', 'br-A');
  await answer('outcome', 'partial', 'br-B');

  const label = async (stepId: string, value: StepLabelValue, firstError: boolean) =>
    await store.upsertStepLabel({
      session_id: SESSION_ID,
      step_id: stepId,
      annotator: 'observer1',
      label: value,
      first_error: firstError,
      updated_at: tick(),
    });
  // The annotator moves the first error on branch-A one step later than the rollback says.
  await label('a3', 'correct', false);
  await label('a4', 'incorrect', true);
  await label('b5', 'incorrect', true);
  await label('c7', 'unsure', false);

  await store.updateSession(SESSION_ID, {
    status: 'finished',
    end_reason: 'the agent finished',
    current_branch_id: 'br-C',
  });
}

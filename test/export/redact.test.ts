/**
 * @module test/export/redact.test
 * Secrets and host paths in every format. Credentials sit after every character JSON escapes
 * (newline, tab, carriage return, backspace, form feed, quote, backslash, a control character
 * written as \u00XX), inside nested tool inputs and as object keys, in the task, a rollback
 * reason, an instruction, a file the agent read and a command's traceback. Every line of every
 * format is checked as text and value by value; absolute workspace paths come out relative.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_FORMATS } from '../../src/config/schema.js';
import { collect, exportLines } from '../../src/export/index.js';
import { REDACTED, redactSecrets, sessionCleaner } from '../../src/export/redact.js';
import type { Step, StepPayload } from '../../src/steps/types.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';

const SECRETS = [
  'sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789',
  'sk-proj-0123456789abcdefghijABCDEFGHIJ',
  'AKIAIOSFODNN7EXAMPLE',
  'ghp_0123456789abcdefghijABCDEFGHIJklmnopqr',
  'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz',
  'xoxb-1234567890-abcdefghij',
  'hf_abcdefghijklmnopqrstuvwxyzABCDEFGH',
];
const BEARER = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0';
/** Everything JSON escapes, as it appears in a value. */
const ESCAPES = ['\n', '\t', '\r', '\b', '\f', '"', '\\', '\u0001', '\u001f', '/'];

/** A text with each secret right after each escape, and a Bearer header after each. */
const laden = (label: string) =>
  ESCAPES.flatMap((e, i) => [`${label}${e}${SECRETS[i % SECRETS.length]}`, `${e}Authorization: Bearer ${BEARER}`]).join(
    ' ',
  );

let dir: string;
let workspace: string;
let store: SqliteStore;
const SID = 'session_redact';

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-redact-'));
  workspace = path.join(dir, 'output', 'workspaces', SID);
  fs.mkdirSync(workspace, { recursive: true });
  store = openSqliteStore(path.join(dir, 'potato.db'));
  await store.createSession({
    id: SID,
    task: `Fix it ${laden('task')}`,
    annotator: 'ann',
    backend: 'openai',
    backend_settings: { model: 'gpt', api_key: SECRETS[1], headers: { authorization: `Bearer ${BEARER}` } },
    status: 'finished',
    end_reason: `crashed in ${workspace}/src/app.py`,
    workspace,
    base_commit: null,
    current_branch_id: 'br-B',
    usage: { input_tokens: 0, output_tokens: 0 },
  });
  let t = 1_000;
  const next = () => {
    t += 10;
    return t;
  };
  const step = async (id: string, parent: string | null, idx: number, payload: StepPayload, call?: Step['tool_call']) =>
    await store.insertStep({
      id,
      session_id: SID,
      parent_id: parent,
      step_idx: idx,
      type: payload.type,
      payload,
      author: 'agent',
      turn_id: `turn-${id}`,
      tool_call: call ?? null,
      tool_result: call ? laden('result') : null,
      tool_is_error: false,
      checkpoint: null,
      changed_files: false,
      usage: null,
      started_at: next(),
      ended_at: t + 5,
    });
  const branch = async (id: string, name: string, fork: string | null, parent: string | null, reason: string | null) =>
    await store.insertBranch({
      id,
      session_id: SID,
      name,
      fork_step_id: fork,
      parent_branch_id: parent,
      reason,
      head_step_id: fork,
      git_ref: name,
      created_at: next(),
    });
  await branch('br-A', 'branch-A', null, null, null);
  await step(
    'r1',
    null,
    1,
    { type: 'file_read', path: '.env', content: laden('env'), start_line: 1, truncated: false },
    {
      id: 'c1',
      name: 'file_read',
      input: { path: '.env', nested: { deep: [laden('deep')], [SECRETS[0]!]: 'as a key' } },
    },
  );
  const traceback = `Traceback (most recent call last):\n  File "${workspace}/src/app.py", line 3\nKeyError: ${laden('tb')}`;
  await step(
    'a2',
    'r1',
    2,
    {
      type: 'bash_command',
      command: 'python -m app',
      output: traceback,
      exit_code: 1,
      timed_out: false,
      truncated: false,
    },
    { id: 'c2', name: 'bash_command', input: { command: 'python -m app' } },
  );
  await store.updateBranch('br-A', { head_step_id: 'a2' });
  const reason = `it printed ${laden('reason')}`;
  await branch('br-B', 'branch-B', 'r1', 'br-A', reason);
  await store.insertIntervention({
    id: 'iv-b',
    session_id: SID,
    branch_id: 'br-B',
    type: 'branch',
    after_step_id: 'r1',
    after_step: 1,
    content: JSON.stringify({ reason, from_step: 2, to_step: 1, branch: 'branch-B' }),
    annotator: 'ann',
    created_at: next(),
  });
  await store.insertIntervention({
    id: 'iv-i',
    session_id: SID,
    branch_id: 'br-B',
    type: 'instruction',
    after_step_id: 'r1',
    after_step: 1,
    content: `use ${laden('instruction')}`,
    annotator: 'ann',
    created_at: t,
  });
  await step('b2', 'r1', 2, { type: 'message', content: `Fixed ${workspace}/src/app.py ${laden('message')}` });
  await store.updateBranch('br-B', { head_step_id: 'b2' });
  await store.upsertAnnotation({
    session_id: SID,
    annotator: 'ann',
    branch_id: null,
    scheme: 'notes',
    value: { why: laden('note') },
    updated_at: t,
  });
});

afterAll(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function* strings(v: unknown): Generator<string> {
  if (typeof v === 'string') yield v;
  else if (Array.isArray(v)) for (const x of v) yield* strings(x);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      yield k;
      yield* strings(x);
    }
  }
}

describe('redaction on values, before encoding', () => {
  it('leaves no secret in any line of any format, whatever escape comes before it, nested or as a key', async () => {
    let checked = 0;
    for (const format of EXPORT_FORMATS) {
      for (const flattenBranches of [true, false]) {
        const lines = await collect(exportLines(store, format, { flattenBranches }));
        expect(lines.length, format).toBeGreaterThan(0);
        for (const line of lines) {
          for (const secret of [...SECRETS, BEARER]) expect(line, format).not.toContain(secret);
          for (const s of strings(JSON.parse(line))) {
            for (const secret of [...SECRETS, BEARER]) expect(s, format).not.toContain(secret);
            expect(s).not.toContain(workspace);
            checked++;
          }
          expect(line).toContain(REDACTED);
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('rewrites the absolute workspace path relative, in tracebacks and messages', async () => {
    const [a] = (await collect(exportLines(store, 'trajectories', { flattenBranches: true }))).map((l) =>
      JSON.parse(l),
    );
    expect(a.steps[1].output).toContain('File "./src/app.py", line 3');
    expect(a.provenance.end_reason).toBe('crashed in ./src/app.py');
    expect(a.provenance.backend_settings).toEqual({
      model: 'gpt',
      api_key: '[MASKED]',
      headers: { authorization: '[MASKED]' },
    });
  });

  it('replaces each credential shape and keeps the text around it', () => {
    for (const secret of SECRETS) expect(redactSecrets(`a\n${secret}\tb`)).toBe(`a\n${REDACTED}\tb`);
    expect(redactSecrets(`Authorization: Bearer ${BEARER}`)).toBe(`Authorization: Bearer ${REDACTED}`);
    // A word that merely contains "sk-" is no key.
    expect(redactSecrets('task-abcdefghijklmnopqrstuvwxyz')).toBe('task-abcdefghijklmnopqrstuvwxyz');
    const clean = sessionCleaner(['/srv/out/workspaces/s1/']);
    expect(clean('at /srv/out/workspaces/s1/src/a.py: sk-abcdefghijklmnopqrstuvwxyz')).toBe(
      `at ./src/a.py: ${REDACTED}`,
    );
  });
});

/**
 * @module store/sqlite/store.test
 * The SQLite store against a real database file: every record round-trips, event sequence
 * numbers have no gaps, a reopened file keeps everything, and a process killed with SIGKILL
 * loses none of the rows whose writes had returned.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Step } from '../../steps/types.js';
import type { SessionRecord } from '../types.js';
import { MIGRATIONS } from './migrations.js';
import { openSqliteStore, type SqliteStore, StoreError } from './store.js';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function newSession(id: string, annotator = 'observer1'): Omit<SessionRecord, 'created_at' | 'updated_at'> {
  return {
    id,
    task: 'Fix the failing test in tests/test_parser.py',
    annotator,
    backend: 'ollama',
    backend_settings: { model: 'qwen2.5-coder:32b', temperature: 0.2 },
    status: 'created',
    end_reason: null,
    workspace: '/tmp/ws',
    base_commit: null,
    current_branch_id: null,
    usage: { input_tokens: 0, output_tokens: 0 },
  };
}

function editStep(sessionId: string, id: string, parent: string | null, idx: number): Step {
  return {
    id,
    session_id: sessionId,
    parent_id: parent,
    step_idx: idx,
    type: 'file_edit',
    payload: {
      type: 'file_edit',
      path: 'src/parser.py',
      diff: '--- a/src/parser.py\n+++ b/src/parser.py\n@@ -1 +1 @@\n-a\n+b\n',
      modified_lines: [[1, 1]],
      created: false,
    },
    author: 'agent',
    turn_id: `turn-${idx}`,
    tool_call: { id: `call-${idx}`, name: 'file_edit', input: { path: 'src/parser.py', old: 'a', new: 'b' } },
    tool_result: 'Edited src/parser.py',
    tool_is_error: false,
    checkpoint: 'a'.repeat(40),
    changed_files: true,
    usage: { input_tokens: 120, output_tokens: 30 },
    started_at: 1000 + idx,
    ended_at: 1001 + idx,
  };
}

let dir: string;
let store: SqliteStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-store-'));
  store = openSqliteStore(path.join(dir, 'potato.db'));
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('session leases', () => {
  it('one owner at a time: a live lease is refused to another owner, an expired or dead one is taken over', () => {
    store.createSession(newSession('L'));
    const never = () => false;
    expect(store.acquireLease('L', 'a', 1000, 2000, never)).toEqual({ acquired: true });
    const refused = store.acquireLease('L', 'b', 1500, 2500, never);
    expect(refused).toMatchObject({ acquired: false, held: { owner: 'a', expires_at: 2000 } });
    // The owner renews; the other still cannot take it.
    expect(store.renewLeases('a', 1900, 3000)).toEqual(['L']);
    expect(store.acquireLease('L', 'b', 2500, 3500, never).acquired).toBe(false);
    // Its owner is known dead: taken over at once.
    expect(store.acquireLease('L', 'b', 2600, 3600, (o) => o === 'a')).toEqual({ acquired: true });
    expect(store.getLease('L')).toMatchObject({ owner: 'b', expires_at: 3600 });
    // Expired: anyone takes it.
    expect(store.acquireLease('L', 'c', 4000, 5000, never)).toEqual({ acquired: true });
    expect(store.renewLeases('b', 4100, 6000)).toEqual([]);
    store.releaseLease('L', 'b'); // not b's: nothing happens
    expect(store.getLease('L')?.owner).toBe('c');
    store.releaseLease('L', 'c');
    expect(store.getLease('L')).toBeNull();
  });
});

describe('openSqliteStore', () => {
  it('creates the file in WAL mode with foreign keys on and records the migrations it applied', () => {
    expect(store.schemaVersion()).toBe(3);
    const raw = new Database(path.join(dir, 'potato.db'), { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    const migrations = raw.prepare('SELECT version, name FROM migrations').all();
    expect(migrations).toEqual([
      { version: 1, name: 'initial schema' },
      { version: 2, name: 'what followed each instruction' },
      { version: 3, name: 'session leases: which server process runs a session' },
    ]);
    raw.close();
    // Foreign keys are enforced: a step of a session that does not exist is refused.
    expect(() => store.insertStep(editStep('nope', 's0', null, 0))).toThrow(/FOREIGN KEY/);
  });

  it('round-trips sessions, steps, branches, interventions, annotations and labels', () => {
    const created = store.createSession(newSession('sess-1'));
    expect(store.getSession('sess-1')).toEqual(created);
    store.createSession(newSession('sess-2', 'observer2'));
    expect(store.listSessions({ annotator: 'observer2' }).map((s) => s.id)).toEqual(['sess-2']);
    expect(store.listSessions().map((s) => s.id)).toEqual(['sess-1', 'sess-2']);

    const updated = store.updateSession('sess-1', { status: 'stopped', end_reason: 'stopped by annotator' });
    expect(updated.status).toBe('stopped');
    expect(store.getSession('sess-1')).toEqual(updated);
    expect(store.getSession('sess-1')?.backend_settings).toEqual({ model: 'qwen2.5-coder:32b', temperature: 0.2 });
    expect(() => store.updateSession('missing', { status: 'running' })).toThrow(StoreError);

    const s0 = editStep('sess-1', 's0', null, 0);
    const s1: Step = {
      ...editStep('sess-1', 's1', 's0', 1),
      type: 'bash_command',
      payload: {
        type: 'bash_command',
        command: 'pytest',
        output: 'FAILED',
        exit_code: 1,
        timed_out: false,
        truncated: false,
      },
      tool_call: null,
      tool_result: null,
      tool_is_error: true,
      usage: null,
      changed_files: false,
    };
    store.insertStep(s0);
    store.insertStep(s1);
    expect(store.getStep('s0')).toEqual(s0);
    expect(store.listSteps('sess-1')).toEqual([s0, s1]);
    expect(store.getStep('missing')).toBeNull();

    const branch = {
      id: 'b-A',
      session_id: 'sess-1',
      name: 'branch-A',
      fork_step_id: null,
      parent_branch_id: null,
      reason: null,
      head_step_id: null,
      git_ref: 'potato/sess-1/branch-A',
      created_at: 5,
    };
    store.insertBranch(branch);
    store.updateBranch('b-A', { head_step_id: 's1' });
    expect(store.listBranches('sess-1')).toEqual([{ ...branch, head_step_id: 's1' }]);
    store.updateBranch('b-A', { reason: 'wrong file' });
    expect(store.listBranches('sess-1')[0]).toMatchObject({ head_step_id: 's1', reason: 'wrong file' });
    expect(() => store.updateBranch('b-missing', { head_step_id: null })).toThrow(/no such branch/);

    const intervention = {
      id: 'i1',
      session_id: 'sess-1',
      branch_id: 'b-A',
      type: 'instruction' as const,
      after_step_id: 's0',
      after_step: 0,
      content: 'Use a migration instead',
      annotator: 'observer1',
      created_at: 7,
    };
    store.insertIntervention(intervention);
    expect(store.listInterventions('sess-1')).toEqual([{ ...intervention, followed_by: null }]);
    // Settling marks only the instructions nothing has followed yet.
    store.settleInstructions('sess-1', 's1');
    store.settleInstructions('sess-1', 'i-later');
    expect(store.listInterventions('sess-1')).toEqual([{ ...intervention, followed_by: 's1' }]);

    store.upsertAnnotation({
      session_id: 'sess-1',
      annotator: 'observer1',
      branch_id: null,
      scheme: 'outcome',
      value: 'partial',
      updated_at: 8,
    });
    store.upsertAnnotation({
      session_id: 'sess-1',
      annotator: 'observer1',
      branch_id: null,
      scheme: 'outcome',
      value: 'resolved',
      updated_at: 9,
    });
    store.upsertAnnotation({
      session_id: 'sess-1',
      annotator: 'observer1',
      branch_id: 'b-A',
      scheme: 'tags',
      value: ['a', 'b'],
      updated_at: 10,
    });
    expect(store.listAnnotations('sess-1')).toEqual([
      {
        session_id: 'sess-1',
        annotator: 'observer1',
        branch_id: null,
        scheme: 'outcome',
        value: 'resolved',
        updated_at: 9,
      },
      {
        session_id: 'sess-1',
        annotator: 'observer1',
        branch_id: 'b-A',
        scheme: 'tags',
        value: ['a', 'b'],
        updated_at: 10,
      },
    ]);

    const label = {
      session_id: 'sess-1',
      step_id: 's1',
      annotator: 'observer1',
      label: 'incorrect' as const,
      first_error: true,
      updated_at: 11,
    };
    store.upsertStepLabel(label);
    store.upsertStepLabel({ ...label, label: 'unsure', first_error: false, updated_at: 12 });
    expect(store.listStepLabels('sess-1')).toEqual([{ ...label, label: 'unsure', first_error: false, updated_at: 12 }]);
    store.deleteStepLabel('sess-1', 's1', 'observer1');
    expect(store.listStepLabels('sess-1')).toEqual([]);
  });

  it('numbers events per session from 1 with no gaps, and a rolled-back transaction leaves none', () => {
    store.createSession(newSession('a'));
    store.createSession(newSession('b'));
    for (let i = 0; i < 500; i++) {
      store.appendEvent(i % 3 === 0 ? 'b' : 'a', { type: 'status', status: 'running', activity: 'thinking' });
    }
    expect(() =>
      store.transaction(() => {
        store.appendEvent('a', { type: 'usage', total: { input_tokens: 1, output_tokens: 1 } });
        throw new Error('boom');
      }),
    ).toThrow('boom');
    const next = store.appendEvent('a', { type: 'usage', total: { input_tokens: 2, output_tokens: 3 } });
    const a = store.eventsAfter('a', 0);
    const b = store.eventsAfter('b', 0);
    expect(a.map((e) => e.seq)).toEqual(Array.from({ length: a.length }, (_, i) => i + 1));
    expect(b.map((e) => e.seq)).toEqual(Array.from({ length: b.length }, (_, i) => i + 1));
    expect(a.length + b.length).toBe(501);
    expect(next).toMatchObject({ seq: a.length, session_id: 'a', type: 'usage', total: { input_tokens: 2 } });
    expect(store.eventsAfter('a', a.length - 2, 1)).toEqual([a[a.length - 2]]);
    expect(store.eventsAfter('a', a.length)).toEqual([]);
  });

  it('keeps every event number unique when two processes append to one file at once', async () => {
    store.createSession(newSession('shared'));
    const script = path.join(dir, 'append.ts');
    fs.writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(path.join(projectRoot, 'src/store/sqlite/store.ts'))};
const s = openSqliteStore(process.argv[2]);
for (let i = 0; i < 300; i++) s.appendEvent('shared', { type: 'status', status: 'running', activity: 'thinking' });
s.close();
`,
    );
    const run = () =>
      new Promise<number>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script, path.join(dir, 'potato.db')], {
          cwd: projectRoot,
          stdio: 'inherit',
        });
        child.on('exit', (code) => resolve(code ?? -1));
      });
    const codes = await Promise.all([run(), run()]);
    expect(codes).toEqual([0, 0]);
    const seqs = store.eventsAfter('shared', 0).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
  });

  it('keeps everything after close and reopen', () => {
    store.createSession(newSession('keep'));
    store.insertStep(editStep('keep', 'k0', null, 0));
    store.appendEvent('keep', { type: 'head', branch_id: 'x', head_step_id: 'k0' });
    store.close();
    const again = openSqliteStore(path.join(dir, 'potato.db'));
    try {
      expect(again.schemaVersion()).toBe(3);
      expect(again.getSession('keep')?.task).toBe('Fix the failing test in tests/test_parser.py');
      expect(again.listSteps('keep')).toEqual([editStep('keep', 'k0', null, 0)]);
      expect(again.eventsAfter('keep', 0)).toMatchObject([{ seq: 1, type: 'head', head_step_id: 'k0' }]);
      // The next event continues the numbering of the previous process.
      expect(again.appendEvent('keep', { type: 'status', status: 'stopped', activity: 'idle' }).seq).toBe(2);
    } finally {
      again.close();
    }
  });

  it('loses none of the steps a process had written when it is killed with SIGKILL', async () => {
    store.close();
    const dbPath = path.join(dir, 'potato.db');
    const script = path.join(dir, 'writer.ts');
    fs.writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(path.join(projectRoot, 'src/store/sqlite/store.ts'))};
const s = openSqliteStore(process.argv[2]);
s.createSession({ id: 'crash', task: 't', annotator: 'a', backend: 'ollama', backend_settings: {}, status: 'running',
  end_reason: null, workspace: '/w', base_commit: null, current_branch_id: null, usage: { input_tokens: 0, output_tokens: 0 } });
let parent = null;
for (let i = 0; ; i++) {
  const id = 'step-' + i;
  s.insertStep({ id, session_id: 'crash', parent_id: parent, step_idx: i, type: 'message',
    payload: { type: 'message', content: 'x'.repeat(2000) }, author: 'agent', turn_id: null, tool_call: null,
    tool_result: null, tool_is_error: false, checkpoint: null, changed_files: false, usage: null,
    started_at: i, ended_at: i });
  s.appendEvent('crash', { type: 'status', status: 'running', activity: 'writing' });
  parent = id;
  process.stdout.write(id + '\\n');
}
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, dbPath], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const reported: string[] = [];
    let buffered = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        reported.push(...lines);
        if (reported.length >= 400 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    expect(child.signalCode).toBe('SIGKILL');
    expect(reported.length).toBeGreaterThanOrEqual(400);

    store = openSqliteStore(dbPath);
    const ids = new Set(store.listSteps('crash').map((s) => s.id));
    const missing = reported.filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
    expect(store.eventsAfter('crash', 0).length).toBeGreaterThanOrEqual(reported.length);
  });
});

describe('migration 2: what followed each instruction', () => {
  it('reads an old log: an instruction belongs to the step taken after it, unless a rollback left its position first', () => {
    const file = path.join(dir, 'old.db');
    // A file as the first release wrote it: schema 1 only.
    const raw = new Database(file);
    raw.exec('CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    raw.exec(MIGRATIONS[0]!.sql);
    raw.prepare('INSERT INTO migrations VALUES (1, ?, 0)').run(MIGRATIONS[0]!.name);
    raw.close();
    const legacy = openRawV1(file);
    legacy.session('s');
    // Step 1; instruction A after it; step 2 (A's); rollback to 1; instruction B; rollback to 1
    // again; instruction C; step 2' (C's); instruction D waiting at the head.
    legacy.step('st1', null, 10);
    legacy.iv('ivA', 'instruction', 'st1', 11);
    legacy.step('st2', 'st1', 12);
    legacy.iv('rb1', 'rollback', 'st1', 13);
    legacy.iv('ivB', 'instruction', 'st1', 13);
    legacy.iv('rb2', 'rollback', 'st1', 14);
    legacy.iv('ivC', 'instruction', 'st1', 14);
    legacy.step('st2b', 'st1', 15);
    legacy.iv('ivD', 'instruction', 'st2b', 16);
    legacy.close();

    const upgraded = openSqliteStore(file);
    try {
      expect(upgraded.schemaVersion()).toBe(3);
      const followed = Object.fromEntries(upgraded.listInterventions('s').map((i) => [i.id, i.followed_by]));
      expect(followed).toEqual({ ivA: 'st2', rb1: null, ivB: 'rb2', rb2: null, ivC: 'st2b', ivD: null });
    } finally {
      upgraded.close();
    }
  });
});

/** Rows written straight into a schema-1 file, as the first release stored them. */
function openRawV1(file: string) {
  const db = new Database(file);
  return {
    session(id: string) {
      db.prepare(
        `INSERT INTO sessions (id, task, annotator, backend, backend_settings, status, workspace, usage, created_at, updated_at)
         VALUES (?, 't', 'a', 'ollama', '{}', 'stopped', '/ws', '{"input_tokens":0,"output_tokens":0}', 0, 0)`,
      ).run(id);
    },
    step(id: string, parent: string | null, at: number) {
      db.prepare(
        `INSERT INTO steps (id, session_id, parent_id, step_idx, type, payload, author, tool_is_error, changed_files,
           started_at, ended_at) VALUES (?, 's', ?, 0, 'message', '{"type":"message","content":"x"}', 'agent', 0, 0, ?, ?)`,
      ).run(id, parent, at, at);
    },
    iv(id: string, type: string, after: string | null, at: number) {
      db.prepare(
        `INSERT INTO interventions (id, session_id, type, after_step_id, content, annotator, created_at)
         VALUES (?, 's', ?, ?, 'x', 'a', ?)`,
      ).run(id, type, after, at);
    },
    close: () => db.close(),
  };
}

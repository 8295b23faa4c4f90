/**
 * @module store/sqlite/store.test
 * The SQLite store against a real database file: every record round-trips, event sequence
 * numbers have no gaps, a reopened file keeps everything, a process killed with SIGKILL
 * loses none of the rows whose writes had returned, and the status changes (migration 6) answer
 * what the scan of the log answered, for logs appended now and for files written before.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeStoreContract, editStep, newSession } from '../../../test/store/contract.js';
import { eventLog, keptEvents, LOG_SESSIONS, statusOf, writeLog } from '../../../test/store/status-log.js';
import { MIGRATIONS, STATUS_SCAN_BEFORE_6 } from './migrations.js';
import { openSqliteStore, type SqliteStore } from './store.js';

describeStoreContract('SQLite', async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-store-contract-'));
  const file = path.join(folder, 'potato.db');
  const store = openSqliteStore(file);
  return {
    store,
    reopen: async () => openSqliteStore(file),
    dispose: async () => {
      await store.close();
      fs.rmSync(folder, { recursive: true, force: true });
    },
  };
});

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let dir: string;
let store: SqliteStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-store-'));
  store = openSqliteStore(path.join(dir, 'potato.db'));
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('openSqliteStore', () => {
  it('creates the file in WAL mode with foreign keys on and records the migrations it applied', async () => {
    expect(store.schemaVersion()).toBe(7);
    const raw = new Database(path.join(dir, 'potato.db'), { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    const migrations = raw.prepare('SELECT version, name FROM migrations').all();
    expect(migrations).toEqual([
      { version: 1, name: 'initial schema' },
      { version: 2, name: 'what followed each instruction' },
      { version: 3, name: 'session leases: which server process runs a session' },
      { version: 4, name: 'a step payload stored once; checkpoint lookups by index' },
      { version: 5, name: 'logins: the SHA-256 of each cookie, so every replica and a restart keep them' },
      { version: 6, name: 'status changes: one row per session event, so a page load does not scan the log' },
      { version: 7, name: 'failed logins per name and address, so a lockout holds across replicas and restarts' },
    ]);
    raw.close();
    // Foreign keys are enforced: a step of a session that does not exist is refused.
    await expect(store.insertStep(editStep('nope', 's0', null, 0))).rejects.toThrow(/FOREIGN KEY/);
  });

  it('runs transactions that waited on the same open one one after another, none inside another', async () => {
    // As sessions do when each writes a step at once: several wait while one is open, all wake when it ends.
    await store.createSession(newSession('s1'));
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const first = store.transaction(async (tx) => {
      await held;
      return tx.appendEvent('s1', { type: 'status', status: 'running', activity: 'thinking' });
    });
    const waiting = Array.from({ length: 3 }, () =>
      store.transaction(async (tx) =>
        tx.appendEvent('s1', { type: 'status', status: 'running', activity: 'running_command' }),
      ),
    );
    const plain = store.appendEvent('s1', { type: 'status', status: 'paused', activity: 'idle' });
    release();
    const seqs = (await Promise.all([first, ...waiting, plain])).map((e) => e.seq);
    expect(seqs.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps a step payload once: the event row holds only the step id, and reads put it back', async () => {
    await store.createSession(newSession('once'));
    const step = editStep('once', 'o0', null, 0);
    await store.insertStep(step);
    await store.appendEvent('once', { type: 'step', step });
    const raw = new Database(path.join(dir, 'potato.db'), { readonly: true });
    const row = raw.prepare('SELECT body, step_id FROM events WHERE session_id = ?').get('once') as {
      body: string;
      step_id: string;
    };
    raw.close();
    expect(row.step_id).toBe('o0');
    expect(row.body).not.toContain('src/parser.py');
    expect((await store.eventsAfter('once', 0))[0]).toMatchObject({ type: 'step', step });
  });

  it('keeps every event number unique when two processes append to one file at once', async () => {
    await store.createSession(newSession('shared'));
    const script = path.join(dir, 'append.mts');
    fs.writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(path.join(projectRoot, 'src/store/sqlite/store.ts'))};
const s = openSqliteStore(process.argv[2]);
for (let i = 0; i < 300; i++) await s.appendEvent('shared', { type: 'status', status: 'running', activity: 'thinking' });
await s.close();
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
    const seqs = (await store.eventsAfter('shared', 0)).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
  });

  it('loses none of the steps a process had written when it is killed with SIGKILL', async () => {
    await store.close();
    const dbPath = path.join(dir, 'potato.db');
    const script = path.join(dir, 'writer.mts');
    fs.writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(path.join(projectRoot, 'src/store/sqlite/store.ts'))};
const s = openSqliteStore(process.argv[2]);
await s.createSession({ id: 'crash', task: 't', annotator: 'a', backend: 'ollama', backend_settings: {}, status: 'running',
  end_reason: null, workspace: '/w', base_commit: null, current_branch_id: null, usage: { input_tokens: 0, output_tokens: 0 } });
let parent = null;
for (let i = 0; ; i++) {
  const id = 'step-' + i;
  await s.insertStep({ id, session_id: 'crash', parent_id: parent, step_idx: i, type: 'message',
    payload: { type: 'message', content: 'x'.repeat(2000) }, author: 'agent', turn_id: null, tool_call: null,
    tool_result: null, tool_is_error: false, checkpoint: null, changed_files: false, usage: null,
    started_at: i, ended_at: i });
  await s.appendEvent('crash', { type: 'status', status: 'running', activity: 'writing' });
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
    const ids = new Set((await store.listSteps('crash')).map((s) => s.id));
    const missing = reported.filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
    expect((await store.eventsAfter('crash', 0)).length).toBeGreaterThanOrEqual(reported.length);
  });
});

describe('migration 2: what followed each instruction', () => {
  it('reads an old log: an instruction belongs to the step taken after it, unless a rollback left its position first', async () => {
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
    await legacy.close();

    const upgraded = openSqliteStore(file);
    try {
      expect(upgraded.schemaVersion()).toBe(7);
      const followed = Object.fromEntries((await upgraded.listInterventions('s')).map((i) => [i.id, i.followed_by]));
      expect(followed).toEqual({ ivA: 'st2', rb1: null, ivB: 'rb2', rb2: null, ivC: 'st2b', ivD: null });
    } finally {
      await upgraded.close();
    }
  });
});

describe('status changes (migration 6)', () => {
  /** What statusChanges answered before migration 6: the scan of the session's log, on `file`. */
  const scanBefore = (file: string) => {
    const db = new Database(file, { readonly: true });
    const scan = db.prepare(STATUS_SCAN_BEFORE_6);
    return { of: (id: string) => scan.all(id), close: () => db.close() };
  };

  it('answers what the scan of the log answered, for any log of appends (property)', async () => {
    const scan = scanBefore(path.join(dir, 'potato.db'));
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(eventLog, async (log) => {
          const ids = Array.from({ length: LOG_SESSIONS }, (_, i) => `scan-${run}-${i}`);
          run++;
          await writeLog(store, ids, log);
          for (const id of ids) expect(await store.statusChanges(id)).toEqual(scan.of(id));
        }),
        { numRuns: 100 },
      );
    } finally {
      scan.close();
    }
  });

  it('fills the table from the events of a file written before it: the same answers as before (property)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(eventLog, async (log) => {
        // A file at schema 5, its events stored as the store then stored them.
        const file = path.join(dir, `old-${run++}.db`);
        const raw = new Database(file);
        raw.exec(
          'CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
        );
        for (const m of MIGRATIONS.filter((m) => m.version <= 5)) {
          raw.exec(m.sql);
          raw.prepare('INSERT INTO migrations VALUES (?, ?, 0)').run(m.version, m.name);
        }
        const ids = Array.from({ length: LOG_SESSIONS }, (_, i) => `old-${i}`);
        const insertSession = raw.prepare(`INSERT INTO sessions (id, task, annotator, backend, backend_settings,
            status, workspace, usage, created_at, updated_at)
          VALUES (?, 't', 'a', 'ollama', '{}', 'stopped', '/ws', '{"input_tokens":0,"output_tokens":0}', 0, 0)`);
        for (const id of ids) insertSession.run(id);
        const insertEvent = raw.prepare('INSERT INTO events (session_id, seq, at, body) VALUES (?, ?, ?, ?)');
        const seqs = ids.map(() => 0);
        const made: { at: number; status: string }[][] = ids.map(() => []);
        for (const [n, e] of keptEvents(log).entries()) {
          insertEvent.run(ids[e.session], ++seqs[e.session]!, 1000 + n, JSON.stringify(e.body));
          const status = statusOf(e.body);
          if (status !== null) made[e.session]!.push({ at: 1000 + n, status });
        }
        raw.close();
        const scan = scanBefore(file);
        const before = ids.map((id) => scan.of(id));
        scan.close();
        expect(before).toEqual(made);

        const upgraded = openSqliteStore(file);
        try {
          expect(upgraded.schemaVersion()).toBe(7);
          for (const [i, id] of ids.entries()) expect(await upgraded.statusChanges(id)).toEqual(before[i]);
        } finally {
          await upgraded.close();
        }
      }),
      { numRuns: 30 },
    );
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
    close: async () => await db.close(),
  };
}

/**
 * The PostgreSQL store against a real server (the run's throwaway cluster, test/postgres/): the
 * Store contract, each test in a fresh schema; then what is its own: migrations applied once by
 * processes opening at once, a newer schema refused, a step payload stored once, command output
 * with NUL bytes, one snapshot per transaction, gapless numbers from several processes writing
 * in transactions, a URL's password kept out of errors, and the status changes (migration 4)
 * answering what the scan of the log answered, for logs appended now and for databases written
 * before.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { liveLease, SessionLeases } from '../../src/session/lease.js';
import type { Step } from '../../src/steps/types.js';
import { openStore } from '../../src/store/open.js';
import { MIGRATIONS, STATUS_SCAN_BEFORE_4 } from '../../src/store/postgres/migrations.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/store.js';
import { admin, type FreshSchema, freshSchema, postgresUrl } from '../postgres/harness.js';
import { describeStoreContract, editStep, newSession } from './contract.js';
import { eventLog, keptEvents, LOG_SESSIONS, type StatusChange, statusOf, writeLog } from './status-log.js';

describeStoreContract('PostgreSQL', async () => {
  const schema = await freshSchema();
  const store = await schema.open();
  return {
    store,
    reopen: () => schema.open(),
    dispose: async () => {
      await store.close();
      await schema.drop();
    },
  };
});

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('openPostgresStore', () => {
  let schema: FreshSchema;
  let store: PostgresStore | undefined;
  beforeEach(async () => {
    schema = await freshSchema();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await schema.drop();
  });

  it('applies its migrations once when several processes open a fresh database at once', async () => {
    const stores = await Promise.all([schema.open(), schema.open(), schema.open(), schema.open()]);
    store = stores[0];
    for (const s of stores.slice(1)) await s.close();
    expect(await store!.schemaVersion()).toBe(5);
    const rows = await admin(
      async (c) => (await c.query(`SELECT version, name FROM ${schema.name}.potato_migrations`)).rows,
    );
    expect(rows).toEqual([
      { version: 1, name: 'initial schema' },
      { version: 2, name: 'logins: the SHA-256 of each cookie, so every replica and a restart keep them' },
      { version: 3, name: 'session commands: controls a replica hands to the one running the session' },
      { version: 4, name: 'status changes: one row per session event, so a page load does not scan the log' },
      { version: 5, name: 'failed logins per name and address, so a lockout holds across replicas and restarts' },
    ]);
  });

  it('refuses a database a newer potato wrote, saying to upgrade', async () => {
    store = await schema.open();
    await admin((c) =>
      c.query(`INSERT INTO ${schema.name}.potato_migrations (version, name, applied_at) VALUES (99, 'future', 0)`),
    );
    await expect(schema.open()).rejects.toThrow(/newer version of potato \(schema 99, this one knows 5\): upgrade/);
  });

  it('keeps a step payload once, and command output with NUL bytes whole', async () => {
    store = await schema.open();
    await store.createSession(newSession('once'));
    const step: Step = {
      ...editStep('once', 'o0', null, 0),
      type: 'bash_command',
      payload: {
        type: 'bash_command',
        command: 'printf "a\\0b"',
        output: 'a\u0000b',
        exit_code: 0,
        timed_out: false,
        truncated: false,
      },
      tool_result: 'a\u0000b',
    };
    await store.insertStep(step);
    await store.appendEvent('once', { type: 'step', step });
    const row = await admin(
      async (c) =>
        (await c.query(`SELECT body::text AS body, step_id FROM ${schema.name}.events WHERE session_id = 'once'`))
          .rows[0],
    );
    expect(row.step_id).toBe('o0');
    expect(row.body).not.toContain('printf');
    expect(await store.getStep('o0')).toEqual(step);
    expect((await store.eventsAfter('once', 0))[0]).toMatchObject({ type: 'step', step });
  });

  it('reads one snapshot inside a transaction while another handle writes', async () => {
    store = await schema.open();
    const other = await schema.open();
    try {
      await store.createSession(newSession('snap'));
      await store.insertStep(editStep('snap', 'p0', null, 0));
      await store.appendEvent('snap', { type: 'head', branch_id: 'b', head_step_id: 'p0' });
      const seen = await store.transaction(async (tx) => {
        const steps = await tx.listSteps('snap');
        // Written and committed elsewhere between the two reads.
        await other.insertStep(editStep('snap', 'p1', 'p0', 1));
        await other.appendEvent('snap', { type: 'head', branch_id: 'b', head_step_id: 'p1' });
        return { steps: steps.length, lastSeq: await tx.lastSeq('snap') };
      });
      expect(seen).toEqual({ steps: 1, lastSeq: 1 });
      expect(await store.lastSeq('snap')).toBe(2);
    } finally {
      await other.close();
    }
  });

  it('numbers events without gaps or repeats when three processes append in transactions at once', async () => {
    store = await schema.open();
    await store.createSession(newSession('shared'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-pg-writers-'));
    const script = path.join(dir, 'append.mts');
    // Each writer: pairs of events in one transaction (a label and its event, as the API does)
    // and single events outside one, so transactions collide with each other and with appends.
    fs.writeFileSync(
      script,
      `import { openPostgresStore } from ${JSON.stringify(path.join(projectRoot, 'src/store/postgres/store.ts'))};
const s = await openPostgresStore(process.argv[2], { schema: process.argv[3] });
const status = { type: 'status', status: 'running', activity: 'thinking' };
for (let i = 0; i < 60; i++) {
  await s.transaction(async (tx) => {
    await tx.appendEvent('shared', status);
    await tx.updateSession('shared', { status: 'running' });
    await tx.appendEvent('shared', status);
  });
  await s.appendEvent('shared', status);
}
await s.close();
`,
    );
    const run = () =>
      new Promise<number>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script, postgresUrl(), schema.name], {
          cwd: projectRoot,
          stdio: 'inherit',
        });
        child.on('exit', (code) => resolve(code ?? -1));
      });
    try {
      expect(await Promise.all([run(), run(), run()])).toEqual([0, 0, 0]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const seqs = (await store.eventsAfter('shared', 0)).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 3 * 60 * 3 }, (_, i) => i + 1));
    expect(await store.lastSeq('shared')).toBe(540);
  });

  it('tells a watcher of the newest event another handle appends once it commits, and of none rolled back', async () => {
    store = await schema.open();
    const writer = await schema.open();
    const seen: string[] = [];
    let arrived: () => void = () => undefined;
    // The channel is the database's: other tests' appends may arrive too, and are left out.
    const undone = `undone-${schema.name}`;
    const kept = `kept-${schema.name}`;
    const stop = await store.watchEvents!(
      (id, seq) => {
        if (id !== undone && id !== kept) return;
        seen.push(`${id === kept ? 'kept' : 'undone'}:${seq}`);
        arrived();
      },
      () => undefined,
    );
    try {
      await writer.createSession(newSession(undone));
      await writer.createSession(newSession(kept));
      const status = { type: 'status', status: 'running', activity: 'thinking' } as const;
      await expect(
        writer.transaction(async (tx) => {
          await tx.appendEvent(undone, status);
          throw new Error('undo');
        }),
      ).rejects.toThrow('undo');
      const all = new Promise<void>((resolve) => {
        arrived = () => {
          if (seen.at(-1) === 'kept:2') resolve();
        };
      });
      await writer.transaction(async (tx) => {
        await tx.appendEvent(kept, status);
        await tx.appendEvent(kept, status);
      });
      await all;
      // Appends that commit together may be told as one (the newest seq: a watcher reads all
      // after what it has); the rolled-back append, made first, is never told.
      expect(seen.filter((s) => s !== 'kept:1')).toEqual(['kept:2']);
    } finally {
      await stop();
      await writer.close();
    }
  });

  it('tells watchers of new events again after its notifying connection broke', async () => {
    store = await schema.open();
    const writer = await schema.open();
    const id = `renotify-${schema.name}`;
    let newest = 0;
    let wake: () => void = () => undefined;
    const stop = await store.watchEvents!(
      (sessionId, seq) => {
        if (sessionId !== id) return;
        newest = Math.max(newest, seq);
        wake();
      },
      () => undefined,
    );
    const until = (seq: number) =>
      new Promise<void>((resolve) => {
        wake = () => {
          if (newest >= seq) resolve();
        };
        wake();
      });
    const status = { type: 'status', status: 'running', activity: 'thinking' } as const;
    try {
      await writer.createSession(newSession(id));
      await writer.appendEvent(id, status);
      await until(1);
      const ended = await admin(
        async (c) =>
          (
            await c.query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [
              `potato-live notifier ${schema.name}`,
            ])
          ).rows,
      );
      expect(ended).toEqual([{ ok: true }]);
      await writer.appendEvent(id, status);
      await until(2);
      expect(newest).toBe(2);
    } finally {
      await stop();
      await writer.close();
    }
  });

  it('listens again when its listening connection breaks, says events may have been missed, and hears the next', async () => {
    store = await schema.open();
    const writer = await schema.open();
    const id = `relisten-${schema.name}`;
    const heard: number[] = [];
    let gaps = 0;
    let wake: () => void = () => undefined;
    const stop = await store.watchEvents!(
      (sessionId, seq) => {
        if (sessionId !== id) return;
        heard.push(seq);
        wake();
      },
      () => {
        gaps++;
        wake();
      },
    );
    const until = (pred: () => boolean) =>
      new Promise<void>((resolve) => {
        wake = () => {
          if (pred()) resolve();
        };
        wake();
      });
    try {
      await writer.createSession(newSession(id));
      await writer.appendEvent(id, { type: 'status', status: 'running', activity: 'thinking' });
      await until(() => heard.length === 1);
      // The server ends the listening connection (a restart, a network cut would do the same).
      const ended = await admin(
        async (c) =>
          (
            await c.query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [
              `potato-live listener ${schema.name}`,
            ])
          ).rows,
      );
      expect(ended).toEqual([{ ok: true }]);
      await until(() => gaps === 1);
      await writer.appendEvent(id, { type: 'status', status: 'paused', activity: 'idle' });
      await until(() => heard.length === 2);
      expect(heard).toEqual([1, 2]);
    } finally {
      await stop();
      await writer.close();
    }
  });

  it("judges leases by the database's clock: a replica whose clock runs an hour ahead neither takes a live lease nor loses its own", async () => {
    store = await schema.open();
    const ahead = await schema.open();
    await store.createSession(newSession('L'));
    const ttlMs = 60_000;
    // Another machine's process (not known dead here) runs the session, on a clock that is right.
    const running = new SessionLeases(store, { ttlMs, heartbeatMs: 30_000, owner: 'otherhost:4242:cafe' });
    const skewed = new SessionLeases(ahead, { ttlMs, heartbeatMs: 30_000, owner: 'thishost:1:beef' });
    try {
      await running.acquire('L');
      const before = Date.now();
      vi.useFakeTimers({ toFake: ['Date'], now: before + 3_600_000 });
      expect(Math.abs((await ahead.now()) - before)).toBeLessThan(30_000);
      await expect(skewed.acquire('L')).rejects.toThrow(/run by another server process \(otherhost:4242:cafe/);
      expect(await liveLease(ahead, 'L', skewed.owner)).toMatchObject({ owner: 'otherhost:4242:cafe' });
      // Its own lease lasts a TTL of the database's clock, not an hour more.
      await store.createSession(newSession('M'));
      await skewed.acquire('M');
      expect((await ahead.getLease('M'))!.expires_at - before).toBeLessThan(ttlMs + 30_000);
    } finally {
      vi.useRealTimers();
      await running.close();
      await skewed.close();
      await ahead.close();
    }
  });

  it('is what openStore opens when output.database_url_env names a variable holding the URL', async () => {
    const url = schema.url;
    const config = { output: { path: '/nonexistent/output', database_url_env: 'POTATO_TEST_DATABASE_URL' } };
    const opened = await openStore(config, { POTATO_TEST_DATABASE_URL: url });
    try {
      await opened.createSession(newSession('via-config'));
    } finally {
      await opened.close();
    }
    const ids = await admin(async (c) => (await c.query(`SELECT id FROM ${schema.name}.sessions`)).rows);
    expect(ids).toEqual([{ id: 'via-config' }]);
  });

  it('never puts the password of the URL in its error', async () => {
    const missing = path.join(os.tmpdir(), 'no-such-socket-dir');
    const err = await openPostgresStore(`postgresql://potato:hunter2-secret@/potato?host=${missing}`).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/cannot open the PostgreSQL store: .*no-such-socket-dir/);
    expect(`${err?.message}\n${err?.stack}\n${String((err?.cause as Error | undefined)?.stack)}`).not.toContain(
      'hunter2',
    );
  });
});

describe('status changes (migration 4)', () => {
  /**
   * What statusChanges answered before migration 4: the scan of the session's log, run on `c`
   * (search_path set to the schema). null where it failed: PostgreSQL cannot read a field of a
   * json body that holds \u0000 or a lone surrogate, so a session event with one in its task or
   * end reason made the scan (the session page) fail.
   */
  const scanBefore = async (c: pg.Client, id: string): Promise<StatusChange[] | null> => {
    try {
      const r = await c.query(STATUS_SCAN_BEFORE_4, [id]);
      return r.rows.map((row) => ({ at: Number(row.at), status: row.status }));
    } catch (err) {
      if ((err as { code?: string }).code === '22P05' || (err as { code?: string }).code === '22P02') return null;
      throw err;
    }
  };

  let schema: FreshSchema;
  beforeEach(async () => {
    schema = await freshSchema();
  });
  afterEach(async () => {
    await schema.drop();
  });

  it('answers what the scan of the log answered, for any log of appends, and where the scan failed answers all the same (property)', async () => {
    const store = await schema.open();
    let run = 0;
    let failedBefore = 0;
    try {
      await admin(async (c) => {
        await c.query(`SET search_path TO ${schema.name}`);
        await fc.assert(
          fc.asyncProperty(eventLog, async (log) => {
            const ids = Array.from({ length: LOG_SESSIONS }, (_, i) => `scan-${run}-${i}`);
            run++;
            const expected = await writeLog(store, ids, log);
            for (const [i, id] of ids.entries()) {
              const before = await scanBefore(c, id);
              if (before === null) failedBefore++;
              expect(await store.statusChanges(id)).toEqual(before ?? expected[i]);
            }
          }),
          { numRuns: 60 },
        );
      });
    } finally {
      await store.close();
    }
    // The logs hold such text often enough that both cases were checked.
    expect(failedBefore).toBeGreaterThan(0);
    expect(failedBefore).toBeLessThan(run * LOG_SESSIONS);
  });

  it('fills the table from the events of a database written before it: the same answers as before (property)', async () => {
    await fc.assert(
      fc.asyncProperty(eventLog, async (log) => {
        // A schema at version 3, its events stored as the store then stored them.
        const old = await freshSchema();
        try {
          const ids = Array.from({ length: LOG_SESSIONS }, (_, i) => `old-${i}`);
          const made: StatusChange[][] = ids.map(() => []);
          const before = await admin(async (c) => {
            await c.query(`SET search_path TO ${old.name}`);
            await c.query(
              'CREATE TABLE potato_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
            );
            for (const m of MIGRATIONS.filter((m) => m.version <= 3)) {
              await c.query(m.sql);
              await c.query('INSERT INTO potato_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
            }
            for (const id of ids) {
              await c.query(
                `INSERT INTO sessions (id, task, annotator, backend, backend_settings, status, workspace, usage, created_at, updated_at)
                  VALUES ($1, '"t"', 'a', 'ollama', '{}', 'stopped', '/ws', '{"input_tokens":0,"output_tokens":0}', 0, 0)`,
                [id],
              );
            }
            for (const [n, e] of keptEvents(log).entries()) {
              const id = ids[e.session]!;
              await c.query(
                `WITH next AS (
                  INSERT INTO event_counters (session_id, last_seq) VALUES ($1, 1)
                  ON CONFLICT (session_id) DO UPDATE SET last_seq = event_counters.last_seq + 1 RETURNING last_seq
                ) INSERT INTO events (session_id, seq, at, body) SELECT $1, last_seq, $2, $3 FROM next`,
                [id, 1000 + n, JSON.stringify(e.body)],
              );
              const status = statusOf(e.body);
              if (status !== null) made[e.session]!.push({ at: 1000 + n, status });
            }
            const answers: (StatusChange[] | null)[] = [];
            for (const id of ids) answers.push(await scanBefore(c, id));
            return answers;
          });
          const upgraded = await old.open();
          try {
            expect(await upgraded.schemaVersion()).toBe(5);
            for (const [i, id] of ids.entries()) {
              if (before[i] !== null) expect(before[i]).toEqual(made[i]);
              expect(await upgraded.statusChanges(id)).toEqual(before[i] ?? made[i]);
            }
          } finally {
            await upgraded.close();
          }
        } finally {
          await old.drop();
        }
      }),
      { numRuns: 15 },
    );
  });
});

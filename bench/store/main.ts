/**
 * @module bench/store/main
 * What the store costs the engine on SQLite and on PostgreSQL, the same operations in the same
 * run (SQLite is the baseline; ratios are PostgreSQL / SQLite):
 *  - appendEvent, one writer: what the hub pays per live update;
 *  - a step write: the recorder's transaction (insertStep, updateBranch, settleInstructions);
 *  - a session page: the API's snapshot transaction (steps, branches, interventions,
 *    annotations, labels, status changes, last_seq) of a session with 200 steps;
 *  - appendEvent from 20 sessions at once (20 live sessions in one process): events per second;
 *  - statusChanges of a session with 50,000 events (a session page reads it), against the scan of
 *    the session's events it ran before the status_changes table (the old query on the same
 *    database, interleaved): the ratio is scan / table. And what keeping the table costs a write:
 *    appendEvent of a session event and of an output event with its trigger, against the same
 *    store with the trigger dropped (two sessions' worth of writes, interleaved).
 * PostgreSQL is a cluster from scripts/postgres/start-cluster.sh with its durability defaults
 * (POTATO_PG_DURABLE=1: every commit waits for its WAL to reach the disk) over a Unix socket;
 * SQLite is the file store with its defaults (WAL, synchronous=NORMAL: no fsync per commit).
 * PostgreSQL is measured twice: as configured, and with `synchronous_commit=off` for the session
 * (SQLite NORMAL's trade), set through the URL's options.
 * Run: npx tsx bench/store/main.ts [iterations] [--events 50000] [--short]
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { SessionEventBody, SessionStatus } from '../../src/session/events.js';
import { MIGRATIONS as PG_MIGRATIONS, STATUS_SCAN_BEFORE_4 } from '../../src/store/postgres/migrations.js';
import { openPostgresStore } from '../../src/store/postgres/store.js';
import { MIGRATIONS as SQLITE_MIGRATIONS, STATUS_SCAN_BEFORE_6 } from '../../src/store/sqlite/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { SessionRecord, Store } from '../../src/store/types.js';
import { editStep, newSession } from '../../test/store/records.js';
import { startDurableCluster } from '../lib/postgres.js';

const { values: args, positionals } = parseArgs({
  options: { events: { type: 'string' }, short: { type: 'boolean', default: false } },
  allowPositionals: true,
});
const ITERATIONS = Number(positionals[0] ?? (args.short ? 50 : 500));
/** Events of the long session whose status changes are read. */
const LONG_EVENTS = Number(args.events ?? (args.short ? 5000 : 50_000));
const status = { type: 'status', status: 'running', activity: 'thinking' } as const;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const stats = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: pct(sorted, 50), p95: pct(sorted, 95) };
};

async function timed(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    out.push(performance.now() - t);
  }
  return out;
}

interface Result {
  append: { p50: number; p95: number };
  step: { p50: number; p95: number };
  page: { p50: number; p95: number };
  concurrentPerSecond: number;
}

async function measure(store: Store): Promise<Result> {
  await store.createSession(newSession('bench'));
  await store.insertBranch({
    id: 'b0',
    session_id: 'bench',
    name: 'branch-A',
    fork_step_id: null,
    parent_branch_id: null,
    reason: null,
    head_step_id: null,
    git_ref: 'branch-A',
    created_at: 0,
  });
  // Warm up connections and statement plans.
  for (let i = 0; i < 20; i++) await store.appendEvent('bench', status);

  const append = stats(await timed(ITERATIONS, () => store.appendEvent('bench', status)));
  let parent: string | null = null;
  const step = stats(
    await timed(200, async (i) => {
      const s = editStep('bench', `s${i}`, parent, i);
      await store.transaction(async (tx) => {
        await tx.insertStep(s);
        await tx.updateBranch('b0', { head_step_id: s.id });
        await tx.settleInstructions('bench', s.id);
      });
      parent = s.id;
    }),
  );
  const page = stats(
    await timed(Math.max(20, ITERATIONS / 10), () =>
      store.transaction(async (tx) =>
        Promise.all([
          tx.getSession('bench'),
          tx.listSteps('bench'),
          tx.listBranches('bench'),
          tx.listInterventions('bench'),
          tx.listAnnotations('bench'),
          tx.listStepLabels('bench'),
          tx.statusChanges('bench'),
          tx.lastSeq('bench'),
        ]),
      ),
    ),
  );

  const sessions = Array.from({ length: 20 }, (_, i) => `live-${i}`);
  for (const id of sessions) await store.createSession(newSession(id));
  const perSession = Math.max(10, ITERATIONS / 10);
  const t = performance.now();
  await Promise.all(
    sessions.map(async (id) => {
      for (let i = 0; i < perSession; i++) await store.appendEvent(id, status);
    }),
  );
  const concurrentPerSecond = (sessions.length * perSession) / ((performance.now() - t) / 1000);
  return { append, step, page, concurrentPerSecond };
}

type Stats = { p50: number; p95: number };
type StatusRows = { at: number; status: SessionStatus | null }[];

const OUTPUT = 'tests/test_parser.py::test_split PASSED                                  [ 50%]\n'.repeat(4);
const sessionBody = (s: SessionRecord, n: number): SessionEventBody => ({
  type: 'session',
  session: { ...s, status: n % 2 === 0 ? 'running' : 'paused' },
});
const outputBody: SessionEventBody = { type: 'partial', key: 'turn-1:call-1', kind: 'output', text: OUTPUT };

/**
 * A long session as a live one writes it: mostly streamed output (300 bytes an event), a status
 * event and a usage event every 10, a session event (a status change) every 1,000. Written in
 * transactions of 1,000 events, so loading PostgreSQL does not wait for a flush per event.
 */
const bodyAt = (s: SessionRecord, n: number): SessionEventBody =>
  n % 1000 === 0
    ? sessionBody(s, n / 1000)
    : n % 10 === 1
      ? status
      : n % 10 === 2
        ? { type: 'usage', total: { input_tokens: n, output_tokens: n } }
        : outputBody;

async function longSession(store: Store, id: string, events: number): Promise<void> {
  const s = await store.createSession(newSession(id));
  for (let start = 0; start < events; start += 1000) {
    const end = Math.min(events, start + 1000);
    await store.transaction(async (tx) => {
      for (let n = start; n < end; n++) await tx.appendEvent(id, bodyAt(s, n));
    });
  }
}

/** Sessions in the database the backfill migration reads (each as long as the long session). */
const BACKFILL_SESSIONS = 10;
const oldRecord = (id: string): SessionRecord => ({ ...newSession(id), created_at: 0, updated_at: 0 });
/** The table of applied migrations as each store creates it before its first migration. */
const MIGRATIONS_TABLE = {
  sqlite: 'CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  postgres:
    'CREATE TABLE potato_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
};

/**
 * How long the first open of a SQLite file written before the table takes (migration 6 fills it
 * from every event), for BACKFILL_SESSIONS sessions of LONG_EVENTS events. The events are put in
 * raw, as the store stored them then.
 */
async function liteBackfill(file: string): Promise<number> {
  const raw = new Database(file);
  raw.pragma('journal_mode = WAL');
  raw.exec(MIGRATIONS_TABLE.sqlite);
  for (const m of SQLITE_MIGRATIONS.filter((m) => m.version < 6)) {
    raw.exec(m.sql);
    raw.prepare('INSERT INTO migrations VALUES (?, ?, 0)').run(m.version, m.name);
  }
  const session = raw.prepare(`INSERT INTO sessions (id, task, annotator, backend, backend_settings, status, workspace,
      usage, created_at, updated_at) VALUES (?, 't', 'a', 'ollama', '{}', 'stopped', '/ws', '{}', 0, 0)`);
  const event = raw.prepare('INSERT INTO events (session_id, seq, at, body) VALUES (?, ?, ?, ?)');
  raw.transaction(() => {
    for (let i = 0; i < BACKFILL_SESSIONS; i++) {
      const id = `old-${i}`;
      session.run(id);
      for (let n = 0; n < LONG_EVENTS; n++) event.run(id, n + 1, n, JSON.stringify(bodyAt(oldRecord(id), n)));
    }
  })();
  raw.close();
  const t = performance.now();
  const store = openSqliteStore(file);
  const ms = performance.now() - t;
  const found = (await store.statusChanges('old-0')).length;
  await store.close();
  if (found !== Math.ceil(LONG_EVENTS / 1000)) throw new Error(`the backfill found ${found} status changes`);
  return ms;
}

/** The same on PostgreSQL (migration 4), in a schema of its own. */
async function pgBackfill(url: string, admin: pg.Client): Promise<number> {
  await admin.query('CREATE SCHEMA backfill; SET search_path TO backfill');
  await admin.query(MIGRATIONS_TABLE.postgres);
  for (const m of PG_MIGRATIONS.filter((m) => m.version < 4)) {
    await admin.query(m.sql);
    await admin.query('INSERT INTO potato_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
  }
  for (let i = 0; i < BACKFILL_SESSIONS; i++) {
    const id = `old-${i}`;
    await admin.query(
      `INSERT INTO sessions (id, task, annotator, backend, backend_settings, status, workspace, usage, created_at,
        updated_at) VALUES ($1, '"t"', 'a', 'ollama', '{}', 'stopped', '/ws', '{}', 0, 0)`,
      [id],
    );
    // The same mix as bodyAt, made by the server: one statement per session.
    const s = oldRecord(id);
    await admin.query(
      `INSERT INTO events (session_id, seq, at, body)
        SELECT $1, n + 1, n, (CASE WHEN n % 1000 = 0 THEN (CASE WHEN n % 2000 = 0 THEN $2 ELSE $3 END)
          WHEN n % 10 = 1 THEN $4 WHEN n % 10 = 2 THEN $5 ELSE $6 END)::json
        FROM generate_series(0, $7::int - 1) AS n`,
      [
        id,
        JSON.stringify(sessionBody(s, 0)),
        JSON.stringify(sessionBody(s, 1)),
        JSON.stringify(status),
        JSON.stringify(bodyAt(s, 2)),
        JSON.stringify(outputBody),
        LONG_EVENTS,
      ],
    );
    await admin.query('INSERT INTO event_counters VALUES ($1, $2)', [id, LONG_EVENTS]);
  }
  await admin.query('RESET search_path');
  const t = performance.now();
  const store = await openPostgresStore(`${url}&options=${encodeURIComponent('-c search_path=backfill')}`);
  const ms = performance.now() - t;
  const found = (await store.statusChanges('old-0')).length;
  await store.close();
  if (found !== Math.ceil(LONG_EVENTS / 1000)) throw new Error(`the backfill found ${found} status changes`);
  return ms;
}

/**
 * statusChanges of the long session against `scan` (the query it ran before the table), the two
 * interleaved after a warm-up; the answers must be the same.
 */
async function statusRead(
  store: Store,
  scan: (id: string) => Promise<StatusRows>,
): Promise<{ table: Stats; scan: Stats; changes: number }> {
  const id = 'long';
  await longSession(store, id, LONG_EVENTS);
  const fromTable = await store.statusChanges(id);
  if (JSON.stringify(fromTable) !== JSON.stringify(await scan(id))) {
    throw new Error('statusChanges and the scan of the log disagree');
  }
  for (let i = 0; i < 5; i++) {
    await store.statusChanges(id);
    await scan(id);
  }
  const table: number[] = [];
  const scanned: number[] = [];
  for (let i = 0; i < Math.max(20, ITERATIONS / 10); i++) {
    table.push(...(await timed(1, () => store.statusChanges(id))));
    scanned.push(...(await timed(1, () => scan(id))));
  }
  return { table: stats(table), scan: stats(scanned), changes: fromTable.length };
}

/**
 * What the status_changes trigger costs a write: appendEvent of a session event and of an output
 * event on `withTrigger`, against `without` (the same store, its trigger dropped), interleaved.
 */
async function triggerCost(withTrigger: Store, without: Store): Promise<Record<'session' | 'output', [Stats, Stats]>> {
  const on = await withTrigger.createSession(newSession('trigger'));
  const off = await without.createSession(newSession('trigger'));
  for (let i = 0; i < 20; i++) {
    await withTrigger.appendEvent('trigger', outputBody);
    await without.appendEvent('trigger', outputBody);
  }
  const pair = async (body: (s: SessionRecord, i: number) => SessionEventBody): Promise<[Stats, Stats]> => {
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      a.push(...(await timed(1, () => withTrigger.appendEvent('trigger', body(on, i)))));
      b.push(...(await timed(1, () => without.appendEvent('trigger', body(off, i)))));
    }
    return [stats(a), stats(b)];
  };
  return { session: await pair(sessionBody), output: await pair(() => outputBody) };
}

const work = mkdtempSync(path.join(tmpdir(), 'potato-bench-store-'));
// As root the cluster runs as the postgres user, which must pass through this folder.
chmodSync(work, 0o711);
const pgCluster = startDurableCluster(path.join(work, 'pg'));
try {
  const { url } = pgCluster;
  const liteFile = path.join(work, 'potato.db');
  const sqlite = openSqliteStore(liteFile);
  const lite = await measure(sqlite);
  const liteReader = new Database(liteFile, { readonly: true });
  const liteScan = liteReader.prepare(STATUS_SCAN_BEFORE_6);
  const liteStatus = await statusRead(sqlite, async (id) => liteScan.all(id) as StatusRows);
  liteReader.close();
  await sqlite.close();
  // Two fresh files, one with its trigger dropped.
  const liteOn = openSqliteStore(path.join(work, 'trigger-on.db'));
  const liteOff = openSqliteStore(path.join(work, 'trigger-off.db'));
  const dropper = new Database(path.join(work, 'trigger-off.db'));
  dropper.exec('DROP TRIGGER events_status_change');
  dropper.close();
  const liteTrigger = await triggerCost(liteOn, liteOff);
  await liteOn.close();
  await liteOff.close();
  const liteMigration = await liteBackfill(path.join(work, 'before-6.db'));

  const postgres = await openPostgresStore(url);
  const durable = await measure(postgres);
  const pgReader = new pg.Client({ connectionString: url });
  await pgReader.connect();
  const pgStatus = await statusRead(postgres, async (id) =>
    (await pgReader.query(STATUS_SCAN_BEFORE_4, [id])).rows.map((r) => ({ at: Number(r.at), status: r.status })),
  );
  await pgReader.end();
  await postgres.close();
  // The same server, commits not waiting for the WAL flush (SQLite NORMAL's trade: a crash of the
  // database's machine may lose the last commits, never corrupts). A fresh schema: no data shared.
  const relaxedUrl = (schema: string) =>
    `${url}&options=${encodeURIComponent(`-c synchronous_commit=off -c search_path=${schema}`)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('CREATE SCHEMA async; CREATE SCHEMA trigger_on; CREATE SCHEMA trigger_off');
  const relaxed = await openPostgresStore(relaxedUrl('async'));
  const pgAsync = await measure(relaxed);
  await relaxed.close();
  // The trigger's cost where a write costs least: commits not waiting for the flush.
  const pgOn = await openPostgresStore(relaxedUrl('trigger_on'));
  const pgOff = await openPostgresStore(relaxedUrl('trigger_off'));
  await admin.query('DROP TRIGGER events_status_change ON trigger_off.events');
  const pgTrigger = await triggerCost(pgOn, pgOff);
  await pgOn.close();
  await pgOff.close();
  const pgMigration = await pgBackfill(url, admin);
  await admin.end();

  const fmt = (n: number, digits: number) => n.toFixed(digits).padStart(9);
  /** One row: p50 and p95 of a and of b, then b/a at p50; `digits` after the point. */
  const line = (what: string, a: Stats, b: Stats, digits = 2) =>
    console.log(
      `${what.padEnd(34)}${fmt(a.p50, digits)}  ${fmt(a.p95, digits)}${fmt(b.p50, digits)}${fmt(b.p95, digits)}${`${(b.p50 / a.p50).toFixed(digits === 2 ? 1 : 2)}x`.padStart(15)}`,
    );
  const header = (what: string, a: string, b: string, ratio: string) =>
    console.log(
      `${what.padEnd(34)}${`${a} p50`.padStart(11)}${'p95'.padStart(9)}${`${b} p50`.padStart(9)}${'p95'.padStart(9)}${ratio.padStart(15)}`,
    );
  console.log(`${ITERATIONS} appends, 200 step writes, session page of 200 steps; ms`);
  header('operation', 'SQLite', 'PG', 'PG/SQLite p50');
  for (const [name, r] of [
    ['PostgreSQL', durable],
    ['PostgreSQL, synchronous_commit=off', pgAsync],
  ] as const) {
    console.log(`\n${name}`);
    line('appendEvent (one writer)', lite.append, r.append);
    line('step write (transaction)', lite.step, r.step);
    line('session page (snapshot)', lite.page, r.page);
    console.log(
      `appendEvent, 20 sessions at once: SQLite ${lite.concurrentPerSecond.toFixed(0)}/s, ${name} ${r.concurrentPerSecond.toFixed(0)}/s (${(r.concurrentPerSecond / lite.concurrentPerSecond).toFixed(2)}x)`,
    );
  }

  console.log(
    `\nstatusChanges of a session with ${LONG_EVENTS} events (${liteStatus.changes} status changes): the table against the scan of the log it ran before; ms`,
  );
  header('store', 'table', 'scan', 'scan/table p50');
  line('SQLite', liteStatus.table, liteStatus.scan, 3);
  line('PostgreSQL', pgStatus.table, pgStatus.scan, 3);
  console.log(`\nWhat keeping the table costs a write: appendEvent without the trigger, and with it; ms`);
  header('store, event', 'w/o', 'with', 'with/w/o p50');
  const cost = (what: string, [withIt, without]: [Stats, Stats]) => line(what, without, withIt, 3);
  cost('SQLite, session event', liteTrigger.session);
  cost('SQLite, output event', liteTrigger.output);
  cost('PostgreSQL (sync off), session', pgTrigger.session);
  cost('PostgreSQL (sync off), output', pgTrigger.output);
  const total = BACKFILL_SESSIONS * LONG_EVENTS;
  console.log(
    `\nFirst open of a database written before the table (${BACKFILL_SESSIONS} sessions, ${total} events; the migration fills it): SQLite ${(liteMigration / 1000).toFixed(2)} s, PostgreSQL ${(pgMigration / 1000).toFixed(2)} s`,
  );
} finally {
  pgCluster.stop();
  rmSync(work, { recursive: true, force: true });
}

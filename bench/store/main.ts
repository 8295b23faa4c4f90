/**
 * @module bench/store/main
 * What the store costs the engine on SQLite and on PostgreSQL, the same operations in the same
 * run (SQLite is the baseline; ratios are PostgreSQL / SQLite):
 *  - appendEvent, one writer: what the hub pays per live update;
 *  - a step write: the recorder's transaction (insertStep, updateBranch, settleInstructions);
 *  - a session page: the API's snapshot transaction (steps, branches, interventions,
 *    annotations, labels, last_seq) of a session with 200 steps;
 *  - appendEvent from 20 sessions at once (20 live sessions in one process): events per second.
 * PostgreSQL is a cluster from scripts/postgres/start-cluster.sh with its durability defaults
 * (POTATO_PG_DURABLE=1: every commit waits for its WAL to reach the disk) over a Unix socket;
 * SQLite is the file store with its defaults (WAL, synchronous=NORMAL: no fsync per commit).
 * PostgreSQL is measured twice: as configured, and with `synchronous_commit=off` for the session
 * (SQLite NORMAL's trade), set through the URL's options.
 * Run: npx tsx bench/store/main.ts [iterations]
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openPostgresStore } from '../../src/store/postgres/store.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';
import { editStep, newSession } from '../../test/store/contract.js';

const ITERATIONS = Number(process.argv[2] ?? 500);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
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

const work = mkdtempSync(path.join(tmpdir(), 'potato-bench-store-'));
// As root the cluster runs as the postgres user, which must pass through this folder.
chmodSync(work, 0o711);
const cluster = path.join(work, 'pg');
try {
  const url = execFileSync('bash', [path.join(root, 'scripts/postgres/start-cluster.sh'), cluster], {
    encoding: 'utf8',
    env: { ...process.env, POTATO_PG_DURABLE: '1' },
  }).trim();
  const sqlite = openSqliteStore(path.join(work, 'potato.db'));
  const lite = await measure(sqlite);
  await sqlite.close();
  const postgres = await openPostgresStore(url);
  const durable = await measure(postgres);
  await postgres.close();
  // The same server, commits not waiting for the WAL flush (SQLite NORMAL's trade: a crash of the
  // database's machine may lose the last commits, never corrupts). A fresh schema: no data shared.
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('CREATE SCHEMA async');
  await admin.end();
  const relaxed = await openPostgresStore(
    `${url}&options=${encodeURIComponent('-c synchronous_commit=off -c search_path=async')}`,
  );
  const pgAsync = await measure(relaxed);
  await relaxed.close();

  const fmt = (n: number) => n.toFixed(2).padStart(9);
  console.log(`${ITERATIONS} appends, 200 step writes, session page of 200 steps; ms`);
  console.log(
    `${'operation'.padEnd(34)}${'SQLite p50'.padStart(11)}${'p95'.padStart(9)}${'PG p50'.padStart(9)}${'p95'.padStart(9)}${'PG/SQLite p50'.padStart(15)}`,
  );
  const row = (what: string, a: { p50: number; p95: number }, b: { p50: number; p95: number }) =>
    console.log(
      `${what.padEnd(34)}${fmt(a.p50)}  ${fmt(a.p95)}${fmt(b.p50)}${fmt(b.p95)}${`${(b.p50 / a.p50).toFixed(1)}x`.padStart(15)}`,
    );
  for (const [name, r] of [
    ['PostgreSQL', durable],
    ['PostgreSQL, synchronous_commit=off', pgAsync],
  ] as const) {
    console.log(`\n${name}`);
    row('appendEvent (one writer)', lite.append, r.append);
    row('step write (transaction)', lite.step, r.step);
    row('session page (snapshot)', lite.page, r.page);
    console.log(
      `appendEvent, 20 sessions at once: SQLite ${lite.concurrentPerSecond.toFixed(0)}/s, ${name} ${r.concurrentPerSecond.toFixed(0)}/s (${(r.concurrentPerSecond / lite.concurrentPerSecond).toFixed(2)}x)`,
    );
  }
} finally {
  execFileSync('bash', [path.join(root, 'scripts/postgres/stop-cluster.sh'), cluster], { stdio: 'inherit' });
  rmSync(work, { recursive: true, force: true });
}

/**
 * @module bench/store-copy/main
 * What `potato store copy` costs: a SQLite store of N sessions (default 20), each with 150 steps,
 * two branches, 10 interventions, 50 labels, 2 answers and 3,000 events (statuses, partials, step
 * events), copied into PostgreSQL (a cluster from scripts/postgres/start-cluster.sh, durable
 * commits, Unix socket). In the same run, as baselines: reading everything from SQLite alone (what
 * any copy must read), and the same events written one `restoreEvents` call per event in one
 * transaction (a round trip per row, what paging avoids). Ratios are against the shipped copy.
 * Run: npx tsx bench/store-copy/main.ts [sessions] [--short]  (--short: 3 sessions)
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { SessionEventBody } from '../../src/session/events.js';
import { copyStore } from '../../src/store/copy.js';
import { openPostgresStore } from '../../src/store/postgres/store.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';
import { editStep, newSession } from '../../test/store/records.js';
import { startDurableCluster } from '../lib/postgres.js';

const { values: args, positionals } = parseArgs({
  options: { short: { type: 'boolean', default: false } },
  allowPositionals: true,
});
const SESSIONS = Number(positionals[0] ?? (args.short ? 3 : 20));
const STEPS = 150;
const EVENTS = 3000;

async function fill(store: Store): Promise<void> {
  for (let n = 0; n < SESSIONS; n++) {
    const id = `s${n}`;
    await store.transaction(async (tx) => {
      await tx.createSession({ ...newSession(id), status: 'finished' });
      let parent: string | null = null;
      for (let i = 0; i < STEPS; i++) {
        const step = editStep(id, `${id}-${i}`, parent, i);
        await tx.insertStep(step);
        parent = step.id;
      }
      const branch = (name: string, fork: string | null, from: string | null) => ({
        id: `${id}-${name}`,
        session_id: id,
        name,
        fork_step_id: fork,
        parent_branch_id: from,
        reason: fork ? 'wrong file' : null,
        head_step_id: `${id}-${STEPS - 1}`,
        git_ref: `potato/${name}`,
        created_at: 1,
      });
      await tx.insertBranch(branch('branch-A', null, null));
      await tx.insertBranch(branch('branch-B', `${id}-10`, `${id}-branch-A`));
      for (let i = 0; i < 10; i++) {
        await tx.insertIntervention({
          id: `${id}-i${i}`,
          session_id: id,
          branch_id: `${id}-branch-A`,
          type: 'instruction',
          after_step_id: `${id}-${i * 10}`,
          after_step: i * 10,
          content: 'keep the change small',
          annotator: 'observer1',
          created_at: i,
        });
      }
      for (let i = 0; i < 50; i++) {
        await tx.upsertStepLabel({
          session_id: id,
          step_id: `${id}-${i}`,
          annotator: 'observer1',
          label: i % 7 ? 'correct' : 'incorrect',
          first_error: i === 7,
          updated_at: i,
        });
      }
      for (const scheme of ['outcome', 'notes']) {
        await tx.upsertAnnotation({
          session_id: id,
          annotator: 'observer1',
          branch_id: null,
          scheme,
          value: 'resolved',
          updated_at: 1,
        });
      }
      for (let i = 0; i < EVENTS; i++) {
        const body: SessionEventBody =
          i % 20 === 0 && i / 20 < STEPS
            ? { type: 'step', step: editStep(id, `${id}-${i / 20}`, null, i / 20) }
            : i % 3 === 0
              ? { type: 'status', status: 'running', activity: 'thinking' }
              : { type: 'partial', key: `k${i}`, kind: 'output', text: `line ${i} of the test output\n`.repeat(4) };
        await tx.appendEvent(id, body);
      }
    });
  }
}

/** Every record read once, as the copy reads them. */
async function readAll(store: Store): Promise<number> {
  let rows = 0;
  for (const s of await store.listSessions()) {
    rows += 1 + (await store.listSteps(s.id)).length + (await store.listBranches(s.id)).length;
    rows += (await store.listInterventions(s.id)).length + (await store.listAnnotations(s.id)).length;
    rows += (await store.listStepLabels(s.id)).length;
    for (let after = 0; ; ) {
      const page = await store.eventsAfter(s.id, after, 2000);
      if (page.length === 0) break;
      rows += page.length;
      after = page.at(-1)!.seq;
    }
  }
  return rows;
}

/** The events again, one restoreEvents call per event (a statement each), all in one transaction as the copy. */
async function eventByEvent(source: Store, into: Store): Promise<void> {
  await into.transaction(async (target) => {
    for (const s of await source.listSessions()) {
      await target.restoreSession({
        session: s,
        steps: await source.listSteps(s.id),
        branches: await source.listBranches(s.id),
        interventions: [],
        annotations: [],
        labels: [],
      });
      for (const e of await source.eventsAfter(s.id, 0)) await target.restoreEvents(s.id, [e]);
    }
  });
}

const seconds = async (fn: () => Promise<unknown>): Promise<number> => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};

const work = mkdtempSync(path.join(tmpdir(), 'potato-bench-copy-'));
chmodSync(work, 0o711);
const pgCluster = startDurableCluster(path.join(work, 'pg'));
try {
  const { url } = pgCluster;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('CREATE SCHEMA paged; CREATE SCHEMA by_event');
  await admin.end();
  const inSchema = (name: string) => openPostgresStore(url, { schema: name });

  const source = openSqliteStore(path.join(work, 'potato.db'));
  const built = await seconds(() => fill(source));
  let rows = 0;
  const read = await seconds(async () => {
    rows = await readAll(source);
  });
  const paged = await inSchema('paged');
  const copy = await seconds(() => copyStore(source, paged, { leaseIsLive: () => false }));
  const counts = await paged.tableCounts();
  await paged.close();
  const single = await inSchema('by_event');
  const oneByOne = await seconds(() => eventByEvent(source, single));
  await single.close();
  await source.close();

  const events = counts.events ?? 0;
  console.log(
    `${SESSIONS} sessions: ${rows.toLocaleString('en')} rows (${events.toLocaleString('en')} events), built in ${built.toFixed(1)} s`,
  );
  console.log(`${'pass'.padEnd(44)}${'s'.padStart(8)}${'rows/s'.padStart(10)}${'x copy'.padStart(9)}`);
  const row = (what: string, s: number, n: number) =>
    console.log(
      `${what.padEnd(44)}${s.toFixed(2).padStart(8)}${Math.round(n / s)
        .toLocaleString('en')
        .padStart(10)}${(s / copy).toFixed(2).padStart(9)}`,
    );
  row('read everything from SQLite (baseline)', read, rows);
  row('potato store copy (pages of 2,000 events)', copy, rows);
  row('sessions + events, one call per event', oneByOne, events + SESSIONS * (STEPS + 3));
} finally {
  pgCluster.stop();
  rmSync(work, { recursive: true, force: true });
}

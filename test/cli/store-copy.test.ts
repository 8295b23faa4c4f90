/**
 * @module test/cli/store-copy
 * A team moves from one machine to PostgreSQL: a session run by a real `potato start` on SQLite
 * (paused, instructed, branched, labelled and answered), `potato store copy` refused while that
 * server runs it, then, with the server stopped, copied into an empty database (the run's
 * throwaway cluster, a fresh schema); every record reads back identical from PostgreSQL, a
 * `potato start` on PostgreSQL serves it (same snapshot, same events by seq) to the login made on
 * SQLite, and a second copy into the now full database is refused naming what is there.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { SessionEvent } from '../../src/session/events.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { SessionRecord, Store } from '../../src/store/types.js';
import { type FreshSchema, freshSchema, postgresUrl } from '../postgres/harness.js';
import { exited, serveChild } from '../server/child.js';
import { demoCopy, freePort } from '../server/demo.js';
import { Client, Watcher } from '../server/harness.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** `potato store copy ARGS` as a user runs it, in `cwd`, with `env` added. */
function potatoStoreCopy(
  cwd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
      path.join(ROOT, 'src/cli/main.ts'),
      'store',
      'copy',
      ...args,
    ],
    {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

/** Everything a store holds of a session, read through the Store. */
async function everything(store: Store, id: string) {
  return {
    session: await store.getSession(id),
    steps: await store.listSteps(id),
    branches: await store.listBranches(id),
    interventions: await store.listInterventions(id),
    annotations: await store.listAnnotations(id),
    labels: await store.listStepLabels(id),
    events: await store.eventsAfter(id, 0),
    lastSeq: await store.lastSeq(id),
    statusChanges: await store.statusChanges(id),
  };
}

describe('potato store copy: from SQLite to PostgreSQL', () => {
  const children: ChildProcess[] = [];
  const watchers: Watcher[] = [];
  let schema: FreshSchema | undefined;
  afterEach(async () => {
    for (const w of watchers.splice(0)) w.ws.terminate();
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await schema?.drop();
  });

  it('moves a real session whole, serves it on PostgreSQL to the same login, and refuses to copy twice', async () => {
    schema = await freshSchema();
    const url = schema.url;
    const env = { POTATO_DATABASE_URL: url };
    const config = demoCopy((doc) => {
      doc.live_coding_agent.scripted.turn_delay_ms = 300;
    });
    const dir = path.dirname(config);

    // One machine: a session on SQLite, steered and annotated through the API.
    const port = await freePort();
    const onSqlite = await serveChild(config, port, children);
    const c = new Client(`http://127.0.0.1:${port}`);
    expect((await c.login('demo', 'potato')).status).toBe(200);
    const { status, body: session } = await c.json<SessionRecord>('POST', '/api/sessions', {
      task: 'Fix the failing test in tests/test_parser.py',
    });
    expect(status).toBe(201);
    const w = new Watcher(c.base, session.id, 0, c.cookie);
    watchers.push(w);
    const steps = () => w.events.flatMap((e) => (e.type === 'step' ? [e.step] : []));
    const statuses = () => w.events.flatMap((e) => (e.type === 'status' ? [e.status] : []));
    const control = async (what: string, body?: unknown) =>
      (await c.request('POST', `/api/sessions/${session.id}/${what}`, body)).status;
    await w.until(() => steps().length >= 2, 60_000);
    expect(await control('pause')).toBe(204);
    await w.until(() => statuses().at(-1) === 'paused', 30_000);

    // The server holds the session's lease: the copy is refused, naming it, and writes nothing.
    const whileRunning = await potatoStoreCopy(
      dir,
      ['--project', 'output', '--database_url_env', 'POTATO_DATABASE_URL'],
      env,
    );
    expect(whileRunning.err).toContain(`a server process still runs a session of the source: ${session.id} (`);
    expect(whileRunning.err).toContain('Stop every server on it');
    expect(whileRunning.code).toBe(1);
    const empty = await schema.open();
    try {
      expect(Object.values(await empty.tableCounts()).every((n) => n === 0)).toBe(true);
    } finally {
      await empty.close();
    }

    expect(await control('instruction', { text: 'keep the parser change small' })).toBe(204);
    await w.until(() => w.events.some((e) => e.type === 'intervention' && e.intervention.type === 'instruction'));
    expect(await control('rollback', { to_step_id: steps()[0]!.id, reason: 'start over after the first step' })).toBe(
      204,
    );
    await w.until(() => w.events.some((e) => e.type === 'intervention' && e.intervention.type === 'branch'));
    expect([204, 409]).toContain(await control('resume'));
    await w.until(() => statuses().at(-1) === 'finished', 120_000);
    const [first, second] = steps();
    for (const [step, label] of [
      [first!, 'correct'],
      [second!, 'incorrect'],
    ] as const) {
      const put = await c.request('PUT', `/api/sessions/${session.id}/labels/${step.id}`, {
        label,
        first_error: label === 'incorrect',
      });
      expect(put.status).toBe(200);
    }
    const answered = await c.request('PUT', `/api/sessions/${session.id}/annotations`, {
      branch_id: null,
      answers: { outcome: 'resolved', notes: 'needed one rollback' },
    });
    expect(answered.status).toBe(200);
    const snapshot = await c.json<{ last_seq: number }>('GET', `/api/sessions/${session.id}`);
    const replayOnSqlite = new Watcher(c.base, session.id, 0, c.cookie);
    watchers.push(replayOnSqlite);
    await replayOnSqlite.until(() => replayOnSqlite.lastSeq >= snapshot.body.last_seq);

    // Stopped, and the config pointed at PostgreSQL, as docs/deploy.md says.
    onSqlite.kill('SIGTERM');
    expect((await exited(onSqlite)).code).toBe(0);
    const doc = parse(readFileSync(config, 'utf8')) as { output: Record<string, unknown> };
    doc.output.database_url_env = 'POTATO_DATABASE_URL';
    writeFileSync(config, stringify(doc));

    const copied = await potatoStoreCopy(dir, ['--config', 'config.yaml'], env);
    expect(copied.err).toBe('');
    expect(copied.code).toBe(0);
    const outputPath = path.join(dir, 'output');
    expect(copied.out).toContain(
      `copying SQLite ${path.join(outputPath, 'potato.db')} into PostgreSQL (the URL in POTATO_DATABASE_URL)`,
    );
    expect(copied.out).toMatch(/^sessions +1 +1$/m);
    expect(copied.out).toMatch(/^session_leases +0 +0 +not copied: which server process runs a session/m);
    expect(copied.out).toContain(
      'verified: every copied table, and every rebuilt one the source has too, holds as many rows as in the source',
    );
    expect(copied.out).toContain(`stay in the folder ${outputPath} (output.path)`);
    expect(`${copied.out}${whileRunning.err}${whileRunning.out}`).not.toContain(postgresUrl());

    const sqlite = openSqliteStore(path.join(outputPath, 'potato.db'));
    const pg = await schema.open();
    try {
      const counts = await sqlite.tableCounts();
      for (const table of [
        'sessions',
        'steps',
        'branches',
        'interventions',
        'annotations',
        'step_labels',
        'events',
        'status_changes',
      ]) {
        const printed = new RegExp(`^${table} +([\\d,]+) +([\\d,]+)`, 'm').exec(copied.out);
        expect(printed?.slice(1, 3), table).toEqual([
          counts[table]!.toLocaleString('en'),
          counts[table]!.toLocaleString('en'),
        ]);
      }
      expect((await pg.listSessions()).map((s) => s.id)).toEqual([session.id]);
      const before = await everything(sqlite, session.id);
      // A session worth moving: two branches, the controls, the labels and the answers.
      expect(before.branches.map((b) => b.name)).toEqual(['branch-A', 'branch-B']);
      expect(before.interventions.map((i) => i.type)).toEqual(
        expect.arrayContaining(['pause', 'instruction', 'branch']),
      );
      expect(before.labels).toHaveLength(2);
      expect(before.annotations).toHaveLength(2);
      expect(before.events.map((e: SessionEvent) => e.seq)).toEqual(
        Array.from({ length: before.lastSeq }, (_, i) => i + 1),
      );
      expect(await everything(pg, session.id)).toEqual(before);
      const byHash = (a: { id_hash: string }, b: { id_hash: string }) => a.id_hash.localeCompare(b.id_hash);
      expect((await pg.listLogins()).sort(byHash)).toEqual((await sqlite.listLogins()).sort(byHash));
    } finally {
      await sqlite.close();
      await pg.close();
    }

    // A server on PostgreSQL serves it: the login made on SQLite, the same snapshot, the same events.
    const pgPort = await freePort();
    await serveChild(config, pgPort, children, env);
    const onPg = new Client(`http://127.0.0.1:${pgPort}`);
    onPg.cookie = c.cookie;
    expect(await onPg.json('GET', '/api/me')).toMatchObject({ status: 200, body: { username: 'demo' } });
    expect(await onPg.json('GET', `/api/sessions/${session.id}`)).toEqual(snapshot);
    const replayOnPg = new Watcher(onPg.base, session.id, 0, onPg.cookie);
    watchers.push(replayOnPg);
    await replayOnPg.until(() => replayOnPg.lastSeq >= snapshot.body.last_seq);
    expect(replayOnPg.events).toEqual(replayOnSqlite.events);

    // Copying again into the database that now holds it is refused, naming what is there.
    const again = await potatoStoreCopy(dir, ['--config', 'config.yaml'], env);
    expect(again.code).toBe(1);
    expect(again.err).toContain('error: the target is not empty: it holds 1 row in sessions, ');
    expect(again.err).toContain('Copy only into an empty database');
    expect(again.err).not.toContain(postgresUrl());
  }, 300_000);
});

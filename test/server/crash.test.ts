/**
 * @module test/server/crash.test
 * kill -9 in the middle of a session: the real server (the `potato start` CLI, run by tsx) on a
 * copy of the demo, a browser-like client watching, SIGKILL, restart. Everything that was sent
 * before the kill is still there, the session says `interrupted`, and /continue resumes it. On
 * either store: the SQLite file, and PostgreSQL (the test cluster, a fresh schema).
 */
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../src/session/events.js';
import type { Step } from '../../src/steps/types.js';
import type { SessionRecord } from '../../src/store/types.js';
import { type FreshSchema, freshSchema } from '../postgres/harness.js';
import { exited, serveChild } from './child.js';
import { demoCopy, freePort } from './demo.js';
import { Client, Watcher } from './harness.js';

const children: ChildProcess[] = [];
const watchers: Watcher[] = [];

afterEach(() => {
  for (const w of watchers.splice(0)) w.ws.terminate();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const schemas: FreshSchema[] = [];
afterEach(async () => {
  for (const s of schemas.splice(0)) await s.drop();
});

/** The store's config and environment: SQLite by default, or a fresh PostgreSQL schema. */
async function storeFor(kind: 'SQLite' | 'PostgreSQL'): Promise<{ url?: string; env: NodeJS.ProcessEnv }> {
  if (kind === 'SQLite') return { env: {} };
  const schema = await freshSchema();
  schemas.push(schema);
  const url = schema.url;
  return { url, env: { POTATO_DATABASE_URL: url } };
}

describe.each(['SQLite', 'PostgreSQL'] as const)('a server killed mid-session (%s)', (kind) => {
  it('keeps every step and event it sent, marks the session interrupted, and continues it', async () => {
    const { url, env } = await storeFor(kind);
    const config = demoCopy((doc) => {
      doc.live_coding_agent.scripted.turn_delay_ms = 400;
      if (url) (doc.output as Record<string, unknown>).database_url_env = 'POTATO_DATABASE_URL';
    });
    const serve = (file: string, p: number) => serveChild(file, p, children, env);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let server = await serve(config, port);
    // It says which store it opened, and never the URL.
    expect(server.output()).toContain(
      kind === 'SQLite' ? 'store: SQLite' : 'store: PostgreSQL (the URL in POTATO_DATABASE_URL)',
    );
    if (url) expect(server.output()).not.toContain(url);
    const client = new Client(base);
    expect((await client.login('demo', 'potato')).status).toBe(200);
    const { body: session } = await client.json<SessionRecord>('POST', '/api/sessions', {
      task: 'Fix the failing test in tests/test_parser.py',
    });
    const w = new Watcher(base, session.id, 0, client.cookie);
    watchers.push(w);
    const stepsSeen = () => w.events.filter((e) => e.type === 'step').length;
    await w.until(() => stepsSeen() >= 3, 30_000);

    server.kill('SIGKILL');
    expect(await exited(server)).toEqual({ code: null, signal: 'SIGKILL' });
    await w.closed;
    const sent: SessionEvent[] = w.events;
    const sentSteps = sent.flatMap((e) => (e.type === 'step' ? [e.step] : []));
    const statusesSent = sent.flatMap((e) => (e.type === 'status' ? [e.status] : []));
    expect(statusesSent.at(-1)).toBe('running');

    server = await serve(config, port);
    // Logins live in the store: the restart logged nobody out.
    expect((await client.json('GET', '/api/me')).status).toBe(200);
    const snap = await client.json<{ session: SessionRecord; steps: Step[]; last_seq: number }>(
      'GET',
      `/api/sessions/${session.id}`,
    );
    expect(snap.body.session.status).toBe('interrupted');
    expect(snap.body.session.end_reason).toContain('stopped while the session was running');
    const kept = new Map(snap.body.steps.map((s) => [s.id, s]));
    for (const s of sentSteps) expect(kept.get(s.id)).toEqual(s);

    // A replay from 0 holds every event the browser had, unchanged, then says interrupted.
    const replay = new Watcher(base, session.id, 0, client.cookie);
    watchers.push(replay);
    await replay.until(() => replay.lastSeq >= snap.body.last_seq);
    const bySeq = new Map(replay.events.map((e) => [e.seq, e]));
    for (const e of sent) {
      if (e.type === 'partial') continue; // coalesced differently per batch; their text is in the steps
      expect(bySeq.get(e.seq)).toEqual(e);
    }
    expect(replay.events.flatMap((e) => (e.type === 'status' ? [e.status] : [])).at(-1)).toBe('interrupted');
    expect(replay.lastSeq).toBeGreaterThan(w.lastSeq);

    // Continue: the agent picks up on the same branch and finishes the task.
    expect((await client.request('POST', `/api/sessions/${session.id}/continue`)).status).toBe(204);
    await replay.until(
      () => replay.events.flatMap((e) => (e.type === 'status' ? [e.status] : [])).at(-1) === 'finished',
      60_000,
    );
    const after = await client.json<{ session: SessionRecord; steps: Step[] }>('GET', `/api/sessions/${session.id}`);
    expect(after.body.session.status).toBe('finished');
    expect(after.body.steps.length).toBeGreaterThan(sentSteps.length);

    // SIGTERM: sessions saved, sockets closed, exit 0.
    server.kill('SIGTERM');
    expect(await exited(server)).toEqual({ code: 0, signal: null });
    await replay.closed;
  });
});

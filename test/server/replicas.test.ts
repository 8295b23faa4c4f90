/**
 * Several server replicas on one PostgreSQL database (the run's throwaway cluster, a fresh schema
 * per test). In process, each with its own store handle: a login made on one is accepted by the
 * other, a lockout earned on one holds on the other, a viewer on either gets the same events of a
 * session only one of them writes, and a control sent to the other reaches it. Then three real
 * `potato start` processes on one database and one output folder (with a short session lease): a
 * session run on the first, watched and steered from the others, the first killed with SIGKILL,
 * the session interrupted and continued on the second.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type PotatoServer } from '../../src/server/server.js';
import type { SessionEvent } from '../../src/session/events.js';
import type { Step } from '../../src/steps/types.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import type { SessionRecord } from '../../src/store/types.js';
import { HeldClock } from '../clock.js';
import { type FreshSchema, freshSchema } from '../postgres/harness.js';
import { exited, serveChild } from './child.js';
import { demoCopy, freePort } from './demo.js';
import { Client, ManagerDouble, tempDir, Watcher, writeConfig } from './harness.js';

const OWNERS = ['replica-host-1:101:aaaa', 'replica-host-2:102:bbbb'];

interface Replica {
  store: PostgresStore;
  manager: ManagerDouble;
  server: PotatoServer;
  base: string;
}

describe('replicas on one PostgreSQL database', () => {
  let schema: FreshSchema;
  let replicas: Replica[] = [];
  const watchers: Watcher[] = [];
  /** The replicas' clock of logins and lockouts: real time unless a test holds it. */
  let clock: HeldClock;

  beforeEach(async () => {
    schema = await freshSchema();
    clock = new HeldClock();
    const dir = tempDir();
    const config = writeConfig(dir);
    for (let i = 0; i < 2; i++) {
      const store = await schema.open();
      const manager = new ManagerDouble(store, path.join(dir, 'workspace'), config);
      // Owner ids of another host: liveness is judged by the lease's expiry alone, as across machines.
      const server = createServer({
        config,
        store,
        manager,
        ownerId: OWNERS[i],
        forwardTimeoutMs: 1500,
        log: () => {},
        now: clock.now,
      });
      const { url } = await server.listen(0, '127.0.0.1');
      replicas.push({ store, manager, server, base: url });
    }
  });

  afterEach(async () => {
    for (const w of watchers.splice(0)) w.ws.terminate();
    for (const r of replicas) {
      await r.server.close();
      await r.store.close();
    }
    replicas = [];
    await schema.drop();
  });

  it('accepts on one replica the login made on another, and sends viewers on both the same events', async () => {
    const [one, two] = replicas as [Replica, Replica];
    const onOne = new Client(one.base);
    expect((await onOne.login('alice', 'alice-pw')).status).toBe(200);
    const onTwo = new Client(two.base);
    onTwo.cookie = onOne.cookie;
    expect(await onTwo.json('GET', '/api/me')).toMatchObject({ status: 200, body: { username: 'alice' } });

    // The session runs on replica one: only its manager writes events.
    const s = await one.manager.createSession('alice');
    await one.manager.emit(s.id, { type: 'status', status: 'running', activity: 'thinking' });
    const near = new Watcher(one.base, s.id, 0, onOne.cookie);
    const far = new Watcher(two.base, s.id, 0, onTwo.cookie);
    watchers.push(near, far);
    await Promise.all([near.opened, far.opened]);
    for (let i = 0; i < 30; i++) {
      await one.manager.emit(s.id, {
        type: 'status',
        status: 'running',
        activity: i % 2 ? 'thinking' : 'running_command',
        message: `turn ${i}`,
      });
    }
    await one.manager.emit(s.id, { type: 'status', status: 'paused', activity: 'idle' });
    await Promise.all([near.until(() => near.lastSeq === 32), far.until(() => far.lastSeq === 32)]);
    const seqs = (w: Watcher) => w.events.map((e) => e.seq);
    expect(seqs(far)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    expect(far.events).toEqual(near.events);
  });

  it('enforces on one replica a lockout earned on another, and counts guesses spread over both one by one', async () => {
    clock.hold();
    const [one, two] = replicas as [Replica, Replica];
    const login = (r: Replica, password: string) => new Client(r.base).login('alice', password);
    // Three wrong passwords through each: six failures of one name from one address, locking it.
    for (const r of [one, two]) for (let i = 0; i < 3; i++) expect((await login(r, `guess-${i}`)).status).toBe(401);
    for (const r of [two, one]) {
      const locked = await login(r, 'alice-pw');
      expect(locked.status).toBe(429);
      expect(locked.headers.get('retry-after')).toBe('2');
    }

    // Once the lock passes, a burst spread over both replicas is charged one guess at a time: the
    // first fails and doubles the lock, every other waits without a hash.
    await clock.advance(2000);
    const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => login(i % 2 ? one : two, `again-${i}`)));
    expect(burst.filter((r) => r.status === 401)).toHaveLength(1);
    expect(burst.filter((r) => r.status === 429)).toHaveLength(39);
    expect(burst.every((r) => r.headers.get('set-cookie') === null)).toBe(true);
    // The right password too, on either, until it passes.
    await clock.advance(3999);
    expect((await login(two, 'alice-pw')).status).toBe(429);
    await clock.advance(1);

    // The right password through one clears the count for both: five failures are free again.
    expect((await login(one, 'alice-pw')).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await login(two, `later-${i}`)).status).toBe(401);
    expect((await login(one, 'alice-pw')).status).toBe(200);
  });

  it('hands a control sent to a replica that does not run the session to the one that does, with its answer', async () => {
    const [one, two] = replicas as [Replica, Replica];
    const s = await one.manager.createSession('alice');
    one.manager.run(s.id);
    const now = Date.now();
    expect(await one.store.acquireLease(s.id, OWNERS[0]!, now, now + 60_000, () => false)).toEqual({ acquired: true });

    const onTwo = new Client(two.base);
    expect((await onTwo.login('alice', 'alice-pw')).status).toBe(200);
    expect((await onTwo.request('POST', `/api/sessions/${s.id}/pause`)).status).toBe(204);
    expect((await onTwo.request('POST', `/api/sessions/${s.id}/instruction`, { text: 'use the parser' })).status).toBe(
      204,
    );
    // The owner's answer comes back as it is, a refusal too (the body is checked on the owner).
    expect((await onTwo.request('POST', `/api/sessions/${s.id}/resume`)).status).toBe(204);
    const bad = await onTwo.json('POST', `/api/sessions/${s.id}/instruction`, { text: '  ' });
    expect(bad).toEqual({
      status: 400,
      body: { error: 'bad request body: text: the instruction is empty', code: 'bad_request' },
    });
    expect(one.manager.calls).toEqual([
      { control: 'pause', args: ['alice'] },
      { control: 'instruct', args: ['use the parser', 'alice'] },
      { control: 'resume', args: ['alice'] },
    ]);
    expect(two.manager.calls).toEqual([]);
    // Another annotator's request is refused where it arrives, as if the session did not exist.
    const bob = new Client(two.base);
    expect((await bob.login('bob', 'bob-pw')).status).toBe(200);
    expect((await bob.request('POST', `/api/sessions/${s.id}/stop`)).status).toBe(404);
    expect(one.manager.calls).toHaveLength(3);
  });

  it('answers 503 naming the session when the replica holding its lease does not answer, and runs nothing later', async () => {
    const [one, two] = replicas as [Replica, Replica];
    const s = await one.manager.createSession('alice');
    // A replica on another host that took the lease and then hung: its lease is still live.
    const now = Date.now();
    const hung = 'replica-host-3:103:cccc';
    expect(await one.store.acquireLease(s.id, hung, now, now + 60_000, () => false)).toEqual({ acquired: true });
    const onTwo = new Client(two.base);
    expect((await onTwo.login('alice', 'alice-pw')).status).toBe(200);
    const res = await onTwo.json('POST', `/api/sessions/${s.id}/pause`);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: 'unavailable' });
    expect((res.body as { error: string }).error).toContain(
      `the server running session ${s.id} did not answer within 1.5 s`,
    );
    // The request was withdrawn: a replica that comes up under that owner id finds nothing to run.
    const ran: string[] = [];
    const leftover = await one.store.serveRequests!(hung, async (r) => {
      ran.push(r.path);
      return { status: 204, body: '', contentType: null };
    });
    await leftover();
    expect(ran).toEqual([]);
    expect([...one.manager.calls, ...two.manager.calls]).toEqual([]);
  });
});

describe('three potato start processes on one PostgreSQL database and one output folder', () => {
  const children: ChildProcess[] = [];
  const watchers: Watcher[] = [];
  let schema: FreshSchema | undefined;
  afterEach(async () => {
    for (const w of watchers.splice(0)) w.ws.terminate();
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await schema?.drop();
  });

  it('runs a session on one, shows it and takes its controls on all, and continues it on another when the first dies', async () => {
    schema = await freshSchema();
    const url = schema.url;
    const config = demoCopy((doc) => {
      doc.live_coding_agent.scripted.turn_delay_ms = 600;
      (doc.output as Record<string, unknown>).database_url_env = 'POTATO_DATABASE_URL';
      // Failover in seconds rather than the default's 45: swept every 3 s, as a deployment may set it.
      doc.session_lease = { ttl_ms: 6000, heartbeat_ms: 1000 };
      // Every event on the wire by its own seq: with buffered output two streamed-text events in a
      // row travel as one, and the replay below would miss a seq that is in the log.
      doc.live_coding_agent.streaming.buffer_output = false;
    });
    const ports = [await freePort(), await freePort(), await freePort()];
    const servers = [];
    // One after another: the first applies the migrations, the others find them done.
    for (const port of ports) servers.push(await serveChild(config, port, children, { POTATO_DATABASE_URL: url }));
    const clients = ports.map((p) => new Client(`http://127.0.0.1:${p}`));
    const [c1, c2, c3] = clients as [Client, Client, Client];

    // A login made on 1 works on 2 and 3.
    expect((await c1.login('demo', 'potato')).status).toBe(200);
    c2.cookie = c1.cookie;
    c3.cookie = c1.cookie;
    expect(await c3.json('GET', '/api/me')).toMatchObject({ status: 200, body: { username: 'demo' } });

    const { status, body: session } = await c1.json<SessionRecord>('POST', '/api/sessions', {
      task: 'Fix the failing test in tests/test_parser.py',
    });
    expect(status).toBe(201);
    const w2 = new Watcher(c2.base, session.id, 0, c2.cookie);
    const w3 = new Watcher(c3.base, session.id, 0, c3.cookie);
    watchers.push(w2, w3);
    const steps = (w: Watcher) => w.events.flatMap((e) => (e.type === 'step' ? [e.step] : []));
    const statuses = (w: Watcher) => w.events.flatMap((e) => (e.type === 'status' ? [e.status] : []));
    await w2.until(() => steps(w2).length >= 2, 60_000);

    // Paused from 2, instructed from 3, rolled back from 2 (a new branch, as the demo branches):
    // each reaches replica 1, which runs it.
    const control = async (c: Client, what: string, body?: unknown) =>
      (await c.request('POST', `/api/sessions/${session.id}/${what}`, body)).status;
    expect(await control(c2, 'pause')).toBe(204);
    await w3.until(() => statuses(w3).at(-1) === 'paused', 30_000);
    expect(await control(c3, 'instruction', { text: 'keep the parser change small' })).toBe(204);
    await w2.until(() => w2.events.some((e) => e.type === 'intervention' && e.intervention.type === 'instruction'));
    const first = steps(w2)[0]!;
    expect(await control(c2, 'rollback', { to_step_id: first.id, reason: 'start over after the first step' })).toBe(
      204,
    );
    await w3.until(() =>
      w3.events.some((e) => e.type === 'intervention' && ['rollback', 'branch'].includes(e.intervention.type)),
    );
    const resumed = await control(c3, 'resume');
    // Whether a rollback leaves the session paused is the engine's; either way it runs after this.
    expect([204, 409]).toContain(resumed);
    const stepsBeforeKill = steps(w2).length;
    await w2.until(() => steps(w2).length > stepsBeforeKill, 60_000);

    // Replica 1 dies: replicas 2 and 3 mark the session interrupted once its lease is gone.
    servers[0]!.kill('SIGKILL');
    expect(await exited(servers[0]!)).toEqual({ code: null, signal: 'SIGKILL' });
    await Promise.all([
      w2.until(() => statuses(w2).at(-1) === 'interrupted', 60_000),
      w3.until(() => statuses(w3).at(-1) === 'interrupted', 60_000),
    ]);

    // Continued on 2 to the end.
    expect(await control(c2, 'continue')).toBe(204);
    await Promise.all([
      w2.until(() => statuses(w2).at(-1) === 'finished', 90_000),
      w3.until(() => statuses(w3).at(-1) === 'finished', 90_000),
    ]);

    // No step lost or duplicated: what the viewers saw is what the store has, once each.
    const snap = await c3.json<{ steps: Step[]; last_seq: number }>('GET', `/api/sessions/${session.id}`);
    const last = snap.body.last_seq;
    await Promise.all([w2.until(() => w2.lastSeq >= last), w3.until(() => w3.lastSeq >= last)]);
    // Both viewers got the same events by seq (partials are coalesced per batch; their text is in the steps).
    const bySeq = (w: Watcher) => w.events.filter((e: SessionEvent) => e.type !== 'partial' && e.seq <= last);
    expect(bySeq(w3)).toEqual(bySeq(w2));
    const stored = snap.body.steps.map((s) => s.id);
    expect(new Set(stored).size).toBe(stored.length);
    expect(steps(w2).map((s) => s.id)).toEqual(stored);
    const replay = new Watcher(c3.base, session.id, 0, c3.cookie);
    watchers.push(replay);
    await replay.until(() => replay.lastSeq >= last);
    expect(replay.events.map((e) => e.seq).filter((seq) => seq <= last)).toEqual(
      Array.from({ length: last }, (_, i) => i + 1),
    );
  }, 300_000);
});

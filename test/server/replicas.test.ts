/**
 * Several server replicas on one PostgreSQL database (the run's throwaway cluster, a fresh schema
 * per test), each with its own store handle as a separate process would have: a login made on
 * one is accepted by the other, and a viewer on either gets the same events, by seq, of a session
 * whose events only one of them writes.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type PotatoServer } from '../../src/server/server.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { type FreshSchema, freshSchema } from '../postgres/harness.js';
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

  beforeEach(async () => {
    schema = await freshSchema();
    const dir = tempDir();
    const config = writeConfig(dir);
    for (let i = 0; i < 2; i++) {
      const store = await schema.open();
      const manager = new ManagerDouble(store, path.join(dir, 'workspace'), config);
      // Owner ids of another host: liveness is judged by the lease's expiry alone, as across machines.
      const server = createServer({ config, store, manager, ownerId: OWNERS[i], log: () => {} });
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
});

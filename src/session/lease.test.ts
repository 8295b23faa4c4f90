/**
 * SessionLeases' heartbeat against a real SQLite store: a lease that lapsed while this process
 * stalled is taken back, and one that another live process now holds is given up and reported.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { newSession } from '../../test/store/contract.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/store.js';
import type { SessionLease } from '../store/types.js';
import { SessionLeases } from './lease.js';

let dir: string;
let store: SqliteStore;
let leases: SessionLeases | undefined;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-lease-'));
  store = openSqliteStore(path.join(dir, 'potato.db'));
  await store.createSession(newSession('S'));
});
afterEach(async () => {
  await leases?.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('takes back a lease that lapsed while nobody else took it', async () => {
  const lost: string[] = [];
  leases = new SessionLeases(store, { ttlMs: 60_000, heartbeatMs: 20, onLost: (id) => lost.push(id) });
  await leases.acquire('S');
  // As if the sweep of another process had found it expired during a stall.
  await store.releaseLease('S', leases.owner);
  await expect.poll(async () => (await store.getLease('S'))?.owner).toBe(leases.owner);
  expect(lost).toEqual([]);
});

it('gives up a session another live process has taken, and says who holds it', async () => {
  const lost: [string, SessionLease][] = [];
  leases = new SessionLeases(store, { ttlMs: 60_000, heartbeatMs: 20, onLost: (id, held) => lost.push([id, held]) });
  await leases.acquire('S');
  await store.releaseLease('S', leases.owner);
  // A process on another host (so not known dead here) holds it now.
  const now = Date.now();
  expect(await store.acquireLease('S', 'otherhost:4242:cafe', now, now + 60_000, () => false)).toEqual({
    acquired: true,
  });
  await expect.poll(() => lost.length).toBe(1);
  expect(lost[0]).toEqual(['S', expect.objectContaining({ owner: 'otherhost:4242:cafe' })]);
  expect((await store.getLease('S'))?.owner).toBe('otherhost:4242:cafe');
});

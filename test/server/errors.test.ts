/**
 * @module test/server/errors.test
 * A wrapped failure through the real HTTP server: the status comes from the outer error's code,
 * the whole cause chain reaches the server log, and a 5xx body holds none of it (a cause can
 * name paths on the host). A caller's mistake keeps its message in the body.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/checkpoints/git/store.js';
import { createServer, type PotatoServer } from '../../src/server/server.js';
import { StoreError } from '../../src/store/errors.js';
import type { Store } from '../../src/store/types.js';
import { openTestStore } from '../store/test-store.js';
import { Client, ManagerDouble, tempDir, writeConfig } from './harness.js';

describe('errors with causes over HTTP', () => {
  let store: Store;
  let disposeStore: () => Promise<void>;
  let manager: ManagerDouble;
  let server: PotatoServer;
  let alice: Client;
  let sessionId: string;
  const logged: string[] = [];

  beforeEach(async () => {
    const dir = tempDir();
    const config = writeConfig(dir);
    ({ store, dispose: disposeStore } = await openTestStore(path.join(dir, 'output', 'potato.db')));
    manager = new ManagerDouble(store, path.join(dir, 'workspace'), config);
    server = createServer({ config, store, manager, log: (line) => logged.push(line) });
    const { url } = await server.listen(0, '127.0.0.1');
    alice = new Client(url);
    expect((await alice.login('alice', 'alice-pw')).status).toBe(200);
    sessionId = (await alice.json<{ id: string }>('POST', '/api/sessions', { task: 'fix it' })).body.id;
    logged.length = 0;
  });

  afterEach(async () => {
    await server.close();
    await disposeStore();
  });

  it('answers a store failure under a checkpoint failure with 500, logging both messages and showing neither', async () => {
    const storeFailure = new StoreError('database disk image is malformed: /srv/secret-project/output/potato.db');
    manager.failNext = new CheckpointError('could not record the rollback checkpoint', 'checkpoint_failed', {
      cause: storeFailure,
    });
    const res = await alice.json<{ error: string; code: string }>('POST', `/api/sessions/${sessionId}/pause`);
    expect(res).toEqual({ status: 500, body: { error: 'internal error: see the server log', code: 'internal' } });
    expect(logged).toHaveLength(1);
    const line = JSON.parse(logged[0]!) as { level: number; method: string; path: string; err: { stack: string } };
    expect(line).toMatchObject({ level: 50, method: 'POST', path: `/api/sessions/${sessionId}/pause` });
    expect(line.err.stack).toContain('CheckpointError: could not record the rollback checkpoint');
    expect(line.err.stack).toContain('caused by: StoreError: database disk image is malformed: /srv/secret-project');
  });

  it('answers a checkpoint the caller named wrongly with 404 and its message, logging no error', async () => {
    manager.failNext = new CheckpointError('no commit 0123abc in the workspace: pass a checkpoint id', 'not_found', {
      cause: new Error('git object 0123abc does not exist in this repository'),
    });
    const res = await alice.json<{ error: string; code: string }>('POST', `/api/sessions/${sessionId}/pause`);
    expect(res).toEqual({
      status: 404,
      body: { error: 'no commit 0123abc in the workspace: pass a checkpoint id', code: 'not_found' },
    });
    // A refusal is an info line without the cause's stack; no error-level line.
    const lines = logged.map((l) => JSON.parse(l) as { level: number; err?: unknown });
    expect(lines.filter((l) => l.level >= 50 || l.err !== undefined)).toEqual([]);
  });
});

/**
 * @module test/server/live-engine.test
 * The server with the real engine: startServer on a copy of the demo (scripted agent, local
 * sandbox, git checkpoints, SQLite or, in the engine-pg project, PostgreSQL), driven over HTTP
 * and WebSockets as the browser drives it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { type StartedServer, startServer } from '../../src/server/start.js';
import type { Step } from '../../src/steps/types.js';
import type { SessionRecord } from '../../src/store/types.js';
import { pointConfigAtTestStore } from '../store/test-store.js';
import { demoCopy } from './demo.js';
import { Client, Watcher } from './harness.js';

let running: StartedServer | undefined;
let dropStore: (() => Promise<void>) | undefined;
/** What the server logged: shown when a test fails, so a 500 explains itself. */
const logs: string[] = [];
const watchers: Watcher[] = [];

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && logs.length > 0) console.error(logs.join('\n'));
  logs.length = 0;
  for (const w of watchers.splice(0)) w.ws.terminate();
  await running?.close();
  running = undefined;
  await dropStore?.();
  dropStore = undefined;
});

async function boot(turnDelayMs: number) {
  const file = demoCopy((doc) => {
    doc.live_coding_agent.scripted.turn_delay_ms = turnDelayMs;
  });
  const config = loadConfig(file);
  dropStore = await pointConfigAtTestStore(config);
  running = await startServer(config, { port: 0, host: '127.0.0.1', handleSignals: false, log: (m) => logs.push(m) });
  const client = new Client(running.url);
  expect((await client.login('demo', 'potato')).status).toBe(200);
  return client;
}

function watch(client: Client, id: string, after = 0): Watcher {
  const w = new Watcher(client.base, id, after, client.cookie);
  watchers.push(w);
  return w;
}

const statusOf = (w: Watcher) =>
  w.events.filter((e) => e.type === 'status').map((e) => (e.type === 'status' ? e.status : ''));

describe('live server with the real engine', () => {
  it('streams a whole session to two viewers, identical to what the store holds', async () => {
    const client = await boot(50);
    const started = await client.json<SessionRecord>('POST', '/api/sessions', {
      task: 'Fix the failing test in tests/test_parser.py',
    });
    expect(started.status).toBe(201);
    const id = started.body.id;
    const a = watch(client, id);
    const b = watch(client, id);
    const ended = (w: Watcher) => statusOf(w).some((s) => s === 'finished' || s === 'failed');
    await a.until(() => ended(a), 30_000);
    await b.until(() => ended(b), 30_000);
    expect(statusOf(a).at(-1)).toBe('finished');

    const snap = await client.json<{ session: SessionRecord; steps: Step[]; last_seq: number }>(
      'GET',
      `/api/sessions/${id}`,
    );
    expect(snap.body.session.status).toBe('finished');
    const streamed = (w: Watcher) => w.events.flatMap((e) => (e.type === 'step' ? [e.step.id] : []));
    expect(streamed(a)).toEqual(snap.body.steps.map((s) => s.id));
    expect(streamed(b)).toEqual(streamed(a));
    expect(snap.body.steps.map((s) => s.type)).toContain('file_edit');
    // Seqs only grow; coalesced partials may skip some, but nothing arrives twice.
    for (const w of [a, b]) {
      const seqs = w.events.map((e) => e.seq);
      expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
      expect(w.lastSeq).toBe(snap.body.last_seq);
    }

    // The file tree and a file at the edit's checkpoint come from the session's git history.
    const edit = snap.body.steps.find((s) => s.type === 'file_edit')!;
    const tree = await client.json<{ files: string[] }>('GET', `/api/sessions/${id}/tree?commit=${edit.checkpoint}`);
    expect(tree.body.files).toContain('src/parser.py');
    const file = await client.json<{ content: string }>(
      'GET',
      `/api/sessions/${id}/file?path=src/parser.py&commit=${edit.checkpoint}`,
    );
    expect(file.body.content).toContain('line.replace(":", "=", 1)');
  });

  it('pauses, takes an instruction and resumes through the API; the viewer sees each', async () => {
    const client = await boot(300);
    const { body: s } = await client.json<SessionRecord>('POST', '/api/sessions', { task: 'Fix the failing test' });
    const w = watch(client, s.id);
    await w.until(() => w.events.some((e) => e.type === 'step'), 20_000);
    expect((await client.request('POST', `/api/sessions/${s.id}/pause`)).status).toBe(204);
    await w.until(() => statusOf(w).includes('paused'), 20_000);
    const again = await client.json<{ code: string }>('POST', `/api/sessions/${s.id}/pause`);
    expect(again.status).toBe(409);
    expect(
      (await client.request('POST', `/api/sessions/${s.id}/instruction`, { text: 'use a regex separator' })).status,
    ).toBe(204);
    expect((await client.request('POST', `/api/sessions/${s.id}/resume`)).status).toBe(204);
    await w.until(() => statusOf(w).at(-1) === 'finished', 30_000);
    const kinds = w.events.flatMap((e) => (e.type === 'intervention' ? [e.intervention.type] : []));
    expect(kinds).toEqual(expect.arrayContaining(['pause', 'instruction', 'resume']));
    const stop = await client.json<{ code: string }>('POST', `/api/sessions/${s.id}/stop`);
    expect(stop.status).toBe(409);
  });
});

/**
 * @module test/export/server-export.test
 * The auto-export through the real server: `potato start`'s startServer on a copy of the demo,
 * a session run over HTTP, then a step label and a rating sent over HTTP after it ended. The
 * session's shards in output/ follow each request, with one line per unit and no duplicate.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { EXPORT_FORMATS } from '../../src/config/schema.js';
import { type StartedServer, startServer } from '../../src/server/start.js';
import type { SessionRecord } from '../../src/store/types.js';
import { demoCopy } from '../server/demo.js';
import { Client } from '../server/harness.js';
import { pointConfigAtTestStore } from '../store/test-store.js';

let running: StartedServer | undefined;
let dropStore: (() => Promise<void>) | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  await dropStore?.();
  dropStore = undefined;
});

/** Wait for a condition the server makes true (no fixed sleep): polls every 20 ms, up to `ms`. */
async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const lines = (file: string): Record<string, unknown>[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];

describe('the server keeps output/ equal to the store', () => {
  it('rewrites the session’s lines when the annotator labels and rates over HTTP after the end', async () => {
    const file = demoCopy((doc) => {
      doc.live_coding_agent.scripted.turn_delay_ms = 0;
      doc.output = { path: './output/', export_formats: [...EXPORT_FORMATS] };
    });
    const config = loadConfig(file);
    dropStore = await pointConfigAtTestStore(config);
    running = await startServer(config, { port: 0, host: '127.0.0.1', handleSignals: false, log: () => {} });
    const client = new Client(running.url);
    expect((await client.login('demo', 'potato')).status).toBe(200);
    const started = await client.json<SessionRecord>('POST', '/api/sessions', { task: 'Fix the failing test' });
    const id = started.body.id;
    const store = running.store;
    await until('the session to end', async () =>
      ['finished', 'failed'].includes((await store.getSession(id))!.status),
    );
    const shard = (format: string) => path.join(config.output.path, format, `${id}.jsonl`);
    await until('its trajectories shard', () => lines(shard('trajectories')).length === 1);
    expect(lines(shard('trajectories'))[0]!.outcome).toBeNull();
    expect(fs.existsSync(shard('prm_from_branches'))).toBe(false);

    const step = (await store.listSteps(id)).find((s) => s.step_idx === 3)!;
    const labelled = await client.json('PUT', `/api/sessions/${id}/labels/${step.id}`, {
      label: 'incorrect',
      first_error: true,
    });
    expect(labelled.status).toBe(200);
    await until('the label in prm_from_branches', () => lines(shard('prm_from_branches')).length === 1);
    const prm = lines(shard('prm_from_branches'))[0] as { first_error_step: number; steps: Record<string, unknown>[] };
    expect(prm.first_error_step).toBe(3);
    expect(prm.steps[2]).toMatchObject({ label: 'incorrect', label_source: 'annotator', labelled_by: 'demo' });

    const rated = await client.json('PUT', `/api/sessions/${id}/annotations`, {
      branch_id: null,
      answers: { outcome: 'partial', notes: 'found it late' },
    });
    expect(rated.status).toBe(200);
    await until('the rating in trajectories', () => lines(shard('trajectories'))[0]?.outcome === 'partial');
    for (const format of EXPORT_FORMATS) {
      const ids = lines(shard(format)).map((l) => l.id);
      expect(new Set(ids).size, format).toBe(ids.length);
    }
    expect(lines(shard('trajectories'))).toHaveLength(1);
    // Closing flushes the merged files: they hold the session's lines once.
    await running.close();
    running = undefined;
    expect(lines(path.join(config.output.path, 'trajectories.jsonl')).map((l) => l.outcome)).toEqual(['partial']);
  }, 60_000);
});

/**
 * @module test/cli/start-postgres
 * `potato start --task` on a config whose output.database_url_env names a PostgreSQL database:
 * the whole session lands there (session, steps, gapless events), no SQLite file is made, and
 * `potato export --config` exports it from there;
 * with the variable unset it stops before anything runs, naming the variable.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FreshSchema, freshSchema } from '../postgres/harness.js';
import { demoProject, runHeadless } from './harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

const withDatabase = (cfg: string) =>
  cfg
    .replace('turn_delay_ms: 700', 'turn_delay_ms: 0')
    .replace('  path: "./output/"', '  path: "./output/"\n  database_url_env: POTATO_DATABASE_URL');

describe('potato start --task on PostgreSQL', () => {
  let schema: FreshSchema;
  beforeEach(async () => {
    schema = await freshSchema();
  });
  afterEach(async () => {
    await schema.drop();
  });

  it('keeps the whole session in the database the config names', async () => {
    const dir = demoProject(withDatabase);
    const url = schema.url;
    const { code, out, err } = await runHeadless(dir, { ...process.env, POTATO_DATABASE_URL: url });
    expect(err).toBe('');
    expect(code).toBe(0);
    const id = /^session (session_\S+) finished:/m.exec(out)?.[1];
    expect(id).toBeDefined();
    expect(existsSync(join(dir, 'output/potato.db'))).toBe(false);

    const store = await schema.open();
    try {
      expect((await store.getSession(id!))?.status).toBe('finished');
      const printed = [...out.matchAll(/^step (\d+): /gm)].map((m) => Number(m[1]));
      expect(printed.length).toBeGreaterThan(2);
      expect((await store.listSteps(id!)).map((s) => s.step_idx)).toEqual(printed);
      const seqs = (await store.eventsAfter(id!, 0)).map((e) => e.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    } finally {
      await store.close();
    }

    // `potato export --config` reads the same database: no potato.db needed in --project.
    const exported = spawnSync(
      process.execPath,
      [
        '--import',
        pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
        join(ROOT, 'src/cli/main.ts'),
        'export',
        '--format',
        'trajectories',
        '--project',
        'output',
        '--output',
        'out/trajectories.jsonl',
        '--config',
        'config.yaml',
      ],
      { cwd: dir, env: { ...process.env, POTATO_DATABASE_URL: url }, encoding: 'utf8' },
    );
    expect(exported.stderr).toBe('');
    expect(exported.status).toBe(0);
    const lines = readFileSync(join(dir, 'out/trajectories.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { session_id: string }).session_id)).toEqual([id]);
  });

  it('names the unset variable and runs nothing', async () => {
    const dir = demoProject(withDatabase);
    const env = { ...process.env };
    delete env.POTATO_DATABASE_URL;
    const { code, out, err } = await runHeadless(dir, env);
    expect(code).toBe(2);
    expect(err).toContain('POTATO_DATABASE_URL is not set: export it or change output.database_url_env');
    expect(out).toBe('');
    expect(existsSync(join(dir, 'output/potato.db'))).toBe(false);
  });
});

/**
 * @module test/cli/start-headless
 * `potato start CONFIG --task …` as a user runs it: steps print as they happen, and Ctrl-C
 * (SIGINT) stops the agent cleanly with every step kept in the store.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/store.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('potato start --task (headless)', () => {
  it('prints steps live and keeps everything when stopped with Ctrl-C', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'potato-cli-'));
    cpSync(join(ROOT, 'examples/demo'), dir, { recursive: true });
    const cfg = readFileSync(join(dir, 'config.yaml'), 'utf8').replace('turn_delay_ms: 700', 'turn_delay_ms: 400');
    writeFileSync(join(dir, 'config.yaml'), cfg);
    const child = spawn(
      process.execPath,
      [
        '--import',
        pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
        join(ROOT, 'src/cli/main.ts'),
        'start',
        'config.yaml',
        '--task',
        'Fix the failing test',
      ],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await new Promise<void>((r, reject) => {
      const timer = setTimeout(() => reject(new Error(`no step 4 printed within 60 s:\n${out}\n${err}`)), 60_000);
      child.stdout.on('data', (d) => {
        out += d;
        if (/step 4: /.test(out)) {
          clearTimeout(timer);
          r();
        }
      });
    });
    child.kill('SIGINT');
    const code = await exited;
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/^session (session_\S+): Fix the failing test$/m);
    expect(out).toMatch(/step 2: Read tests\/test_parser.py/);
    expect(out).toMatch(/stopping the agent; everything so far is saved/);
    const id = /^session (session_\S+):/m.exec(out)![1]!;
    expect(out).toMatch(new RegExp(`session ${id} stopped: stopped by the annotator`));
    const store = openSqliteStore(join(dir, 'output/potato.db'));
    try {
      const printed = [...out.matchAll(/^step (\d+): /gm)].map((m) => Number(m[1]));
      const stored = store.listSteps(id).map((s) => s.step_idx);
      // Every step that was printed is in the store, and nothing ran after the stop.
      expect(stored.slice(0, printed.length)).toEqual(printed);
      expect(store.getSession(id)!.status).toBe('stopped');
      expect(stored.length).toBeLessThan(10);
    } finally {
      store.close();
    }
  });
});

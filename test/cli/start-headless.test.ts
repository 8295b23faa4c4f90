/**
 * @module test/cli/start-headless
 * `potato start CONFIG --task …` as a user runs it: steps print as they happen, Ctrl-C
 * (SIGINT) stops the agent cleanly with every step kept in the store, and the exit code tells
 * a finished session (0) from a failed one (1).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import { demoProject, runHeadless, startHeadless } from './harness.js';

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('potato start --task (headless)', () => {
  it('prints steps live and keeps everything when stopped with Ctrl-C', async () => {
    const dir = demoProject((cfg) =>
      cfg
        .replace('turn_delay_ms: 700', 'turn_delay_ms: 400')
        // A key the local sandbox ignores: start says so on stderr.
        .replace('timeout: 600', 'timeout: 600\n    cpus: 4'),
    );
    const child = startHeadless(dir);
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
    expect(err).toBe(
      `warning: config ${join(dir, 'config.yaml')} line 16: live_coding_agent.sandbox.cpus has no effect: it applies to sandbox.type docker only\n`,
    );
    expect(code).toBe(0);
    expect(out).toMatch(/^session (session_\S+): Fix the failing test$/m);
    expect(out).toMatch(/step 2: Read tests\/test_parser.py/);
    expect(out).toMatch(/stopping the agent; everything so far is saved/);
    const id = /^session (session_\S+):/m.exec(out)![1]!;
    expect(out).toMatch(new RegExp(`session ${id} stopped: stopped by the annotator`));
    const store = openSqliteStore(join(dir, 'output/potato.db'));
    try {
      const printed = [...out.matchAll(/^step (\d+): /gm)].map((m) => Number(m[1]));
      const stored = (await store.listSteps(id)).map((s) => s.step_idx);
      // Every step that was printed is in the store, and nothing ran after the stop.
      expect(stored.slice(0, printed.length)).toEqual(printed);
      expect((await store.getSession(id))!.status).toBe('stopped');
      expect(stored.length).toBeLessThan(10);
    } finally {
      await store.close();
    }
  });

  it('exits 0 when the session finished', async () => {
    const dir = demoProject((cfg) => cfg.replace('turn_delay_ms: 700', 'turn_delay_ms: 0'));
    const { code, out, err } = await runHeadless(dir);
    expect(err).toBe('');
    expect(out).toMatch(/^session session_\S+ finished: the agent finished its work$/m);
    expect(code).toBe(0);
  });

  it('exits 1 when the session failed, saying why on stderr', async () => {
    const port = await closedPort();
    const dir = demoProject((cfg) =>
      cfg.replace(
        / {2}backend: "scripted"\n {2}scripted:\n.*\n.*\n/,
        `  backend: "ollama"\n  ollama:\n    host: "http://127.0.0.1:${port}"\n    model: "qwen2.5-coder:32b"\n`,
      ),
    );
    expect(readFileSync(join(dir, 'config.yaml'), 'utf8')).toContain('backend: "ollama"');
    const { code, out, err } = await runHeadless(dir);
    const reason = `nothing answers at http://127.0.0.1:${port}: is \`ollama serve\` running?`;
    expect(out).toContain(`failed: ${reason}\n`);
    const id = /^session (session_\S+):/m.exec(out)![1]!;
    expect(err).toBe(`error: session ${id} failed: ${reason}\n`);
    expect(code).toBe(1);
    const store = openSqliteStore(join(dir, 'output/potato.db'));
    try {
      expect((await store.getSession(id))!.status).toBe('failed');
    } finally {
      await store.close();
    }
  });
});

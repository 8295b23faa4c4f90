/**
 * @module test/server/faults
 * Real faults against the real server (`potato start` as a child process, scripted agent, local
 * sandbox, git checkpoints): the output folder on a 5 MiB tmpfs filled mid-session, and SIGTERM.
 * One fault costs at most the session it hits, says what happened, and never the server. On
 * either store (the engine-pg project gives each config a PostgreSQL schema: test/server/child.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Step } from '../../src/steps/types.js';
import type { Intervention, SessionRecord } from '../../src/store/types.js';
import { commandOutcome, cutCommand } from '../../src/web/trace/command-outcome.js';
import { exited, serveChild } from './child.js';
import { demoCopy, freePort } from './demo.js';
import { Client, tempDir, Watcher } from './harness.js';

const children: ChildProcess[] = [];
const watchers: Watcher[] = [];
const mounts: string[] = [];

afterEach(() => {
  for (const w of watchers.splice(0)) w.ws.terminate();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m]);
});

const statuses = (w: Watcher) => w.events.flatMap((e) => (e.type === 'status' ? [e] : []));
const lastStatus = (w: Watcher) => statuses(w).at(-1)?.status;

/** Fill the file system of `dir` with one file until it refuses (ENOSPC); returns the file. */
function fill(dir: string): string {
  const file = path.join(dir, 'filler.bin');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let offset = 0;
  const fd = openSync(file, 'w');
  try {
    for (;;) {
      writeSync(fd, chunk, 0, chunk.length, offset);
      offset += chunk.length;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return file;
}

const canMount = process.getuid?.() === 0;

describe('one fault costs at most one session', () => {
  it.skipIf(!canMount)(
    'a full output disk pauses the sessions; the server answers; they finish once space returns',
    async () => {
      const out = tempDir('potato-tmpfs-');
      mkdirSync(out, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=5m', 'tmpfs', out]);
      mounts.push(out);
      const config = demoCopy((doc) => {
        doc.live_coding_agent.scripted.turn_delay_ms = 300;
        doc.output = { path: out, format: 'jsonl', export_formats: ['trajectories'] };
      });
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const server = await serveChild(config, port, children);
      const client = new Client(base);
      expect((await client.login('demo', 'potato')).status).toBe(200);
      const start = () =>
        client.json<SessionRecord>('POST', '/api/sessions', { task: 'Fix the failing test in tests/test_parser.py' });
      const a = (await start()).body;
      const b = (await start()).body;
      const wa = new Watcher(base, a.id, 0, client.cookie);
      const wb = new Watcher(base, b.id, 0, client.cookie);
      watchers.push(wa, wb);
      await wa.until(() => wa.events.filter((e) => e.type === 'step').length >= 2, 30_000);

      const filler = fill(out);
      const deadline = Date.now() + 30_000;
      while (!server.output().includes('disk full: session waiting for space')) {
        if (Date.now() > deadline) throw new Error(`no session met the full disk:\n${server.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The server is alive and answers while the disk is full.
      expect(server.exitCode).toBeNull();
      const list = await client.json<SessionRecord[]>('GET', '/api/sessions');
      expect(list.status).toBe(200);
      expect(list.body.map((s) => s.id)).toEqual(expect.arrayContaining([a.id, b.id]));

      rmSync(filler);
      const finished = (w: Watcher) => () => lastStatus(w) === 'finished';
      await wa.until(finished(wa), 60_000);
      await wb.until(finished(wb), 60_000);
      // The pause said why, and the session went on from where it was.
      const all = [...statuses(wa), ...statuses(wb)];
      expect(all.some((s) => s.status === 'paused' && /output disk is full/.test(s.message ?? ''))).toBe(true);
      expect(all.some((s) => /space is back/.test(s.message ?? ''))).toBe(true);
      for (const w of [wa, wb]) {
        const idx = w.events.flatMap((e) => (e.type === 'step' ? [e.step.step_idx] : []));
        // One path, no step number twice: nothing half-written, nothing forked.
        expect(new Set(idx).size).toBe(idx.length);
      }
      expect(server.exitCode).toBeNull();
      server.kill('SIGTERM');
      expect(await exited(server)).toEqual({ code: 0, signal: null });
    },
  );

  it('SIGTERM is recorded as a shutdown, not as the annotator stopping the session', async () => {
    const config = demoCopy((doc) => {
      doc.live_coding_agent.scripted.turn_delay_ms = 400;
    });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let server = await serveChild(config, port, children);
    const client = new Client(base);
    expect((await client.login('demo', 'potato')).status).toBe(200);
    const { body: session } = await client.json<SessionRecord>('POST', '/api/sessions', { task: 'Fix the test' });
    const w = new Watcher(base, session.id, 0, client.cookie);
    watchers.push(w);
    await w.until(() => w.events.filter((e) => e.type === 'step').length >= 2, 30_000);
    server.kill('SIGTERM');
    expect(await exited(server)).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('SIGTERM');

    server = await serveChild(config, port, children);
    expect((await client.login('demo', 'potato')).status).toBe(200);
    const snap = await client.json<{ session: SessionRecord; interventions: Intervention[] }>(
      'GET',
      `/api/sessions/${session.id}`,
    );
    expect(snap.body.session.status).toBe('stopped');
    expect(snap.body.session.end_reason).toMatch(/server shut down \(SIGTERM\)/);
    expect(snap.body.session.end_reason).not.toMatch(/annotator/);
    const last = snap.body.interventions.at(-1)!;
    expect(last).toMatchObject({ type: 'shutdown', annotator: 'system' });
    expect(snap.body.interventions.some((i) => i.type === 'stop')).toBe(false);
  });

  it('a workspace that cannot be copied is a failed session (201) with the reason', async () => {
    const config = demoCopy();
    const port = await freePort();
    const server = await serveChild(config, port, children);
    const client = new Client(`http://127.0.0.1:${port}`);
    expect((await client.login('demo', 'potato')).status).toBe(200);
    // Where the copies go is a file now: making the session's folder there fails. (On PostgreSQL
    // nothing has made output/ yet.)
    mkdirSync(path.join(path.dirname(config), 'output'), { recursive: true });
    writeFileSync(path.join(path.dirname(config), 'output', 'workspaces'), 'not a folder');
    const res = await client.json<SessionRecord>('POST', '/api/sessions', { task: 'Fix the test' });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('failed');
    expect(res.body.end_reason).toMatch(/EEXIST|ENOTDIR/);
    expect(server.output()).toMatch(/session could not start/);
  });

  it("two servers on one output folder: neither runs nor marks the other one's session; /continue names the owner", async () => {
    const config = demoCopy((doc) => {
      doc.live_coding_agent.scripted.turn_delay_ms = 2500;
    });
    const [p1, p2] = [await freePort(), await freePort()];
    const one = await serveChild(config, p1, children);
    const c1 = new Client(`http://127.0.0.1:${p1}`);
    expect((await c1.login('demo', 'potato')).status).toBe(200);
    const { body: session } = await c1.json<SessionRecord>('POST', '/api/sessions', { task: 'Fix the test' });
    const w = new Watcher(`http://127.0.0.1:${p1}`, session.id, 0, c1.cookie);
    watchers.push(w);
    await w.until(() => w.events.filter((e) => e.type === 'step').length >= 1, 30_000);

    // A second server starts on the same folder while the session runs in the first.
    let two = await serveChild(config, p2, children);
    expect(two.output()).toMatch(/another server process runs 1 session/);
    const c2 = new Client(`http://127.0.0.1:${p2}`);
    expect((await c2.login('demo', 'potato')).status).toBe(200);
    const cont = await c2.json<{ error: string; code: string }>('POST', `/api/sessions/${session.id}/continue`);
    expect(cont.status).toBe(409);
    if (process.env.POTATO_TEST_STORE === 'postgres') {
      // Replicas on one database: the control reached the owner, which says why it cannot.
      expect(cont.body.error).toMatch(/already running/);
    } else {
      expect(cont.body.error).toMatch(/run by another server process/);
      expect(cont.body.error).toContain(`:${one.pid}:`);
    }
    // It restarts: the session it does not own is not marked interrupted.
    two.kill('SIGTERM');
    await exited(two);
    two = await serveChild(config, p2, children);
    expect((await c2.login('demo', 'potato')).status).toBe(200);
    const seen = await c2.json<{ session: SessionRecord }>('GET', `/api/sessions/${session.id}`);
    expect(seen.body.session.status).not.toBe('interrupted');

    // The first finishes it alone: one path, each step number once, finished once.
    await w.until(() => lastStatus(w) === 'finished', 60_000);
    const snap = await c1.json<{ steps: { step_idx: number }[] }>('GET', `/api/sessions/${session.id}`);
    const idx = snap.body.steps.map((s) => s.step_idx);
    expect(new Set(idx).size).toBe(idx.length);
    expect(statuses(w).filter((s) => s.status === 'finished' && s.activity === 'idle')).toHaveLength(1);
  });

  it('SIGKILL with a local command running: the restart kills what the command left running', async () => {
    const config = demoCopy((doc) => {
      (doc.live_coding_agent.scripted as Record<string, unknown>).script = './tick-script.yaml';
    });
    const dir = path.dirname(config);
    // A marker no other process on the machine has in its command line.
    const marker = `tick-${path.basename(dir)}.py`;
    writeFileSync(
      path.join(dir, 'repo', marker),
      // One line of output, then only the workspace: a closed pipe does not stop it, as with a build or a server.
      'import time\nprint("started", flush=True)\nfor i in range(600):\n    open("ticks.txt", "a").write(f"{i}\\n")\n    time.sleep(0.1)\n',
    );
    writeFileSync(
      path.join(dir, 'tick-script.yaml'),
      `turns:\n  - text: Running it.\n    tool_calls:\n      - bash_command: { command: "python3 ${marker}" }\n  - text: Done.\n    tool_calls: []\n`,
    );
    const running = () =>
      readdirSync('/proc')
        .filter((n) => /^\d+$/.test(n))
        .filter((n) => {
          try {
            return readFileSync(`/proc/${n}/cmdline`, 'utf8').includes(marker);
          } catch {
            return false;
          }
        });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let server = await serveChild(config, port, children);
    const client = new Client(base);
    expect((await client.login('demo', 'potato')).status).toBe(200);
    const { body: session } = await client.json<SessionRecord>('POST', '/api/sessions', { task: 'Tick' });
    const w = new Watcher(base, session.id, 0, client.cookie);
    watchers.push(w);
    await w.until(() => w.events.some((e) => e.type === 'partial' && e.kind === 'output'), 30_000);
    server.kill('SIGKILL');
    await exited(server);
    // The command outlived its server…
    expect(running().length).toBeGreaterThan(0);
    server = await serveChild(config, port, children);
    // …and the next start ended it before serving.
    expect(running()).toEqual([]);
    expect(server.output()).toMatch(/killed \d+ process\(es\) left by a stopped server/);
    // The command has its step, with the output it had printed, marked as cut.
    expect((await client.login('demo', 'potato')).status).toBe(200);
    const snap = await client.json<{ steps: Step[] }>('GET', `/api/sessions/${session.id}`);
    const cut = snap.body.steps.find((s) => s.type === 'bash_command');
    expect(cut?.payload).toMatchObject({
      type: 'bash_command',
      exit_code: null,
      cut: expect.stringMatching(/server stopped/),
    });
    expect(cut?.payload.type === 'bash_command' && cut.payload.output).toContain('started');
    expect(cut?.tool_result).toMatch(/\[cut: the server stopped/);
    // The trace's terminal block says so in words, with no exit code.
    const shown = cut && commandOutcome({ exitCode: null, ...cutCommand(cut) });
    expect(shown?.text).toMatch(/^cut: the server stopped while the command ran/);
  });
});

/**
 * @module bench/live/main
 * Live latency: from a step's creation in the controller to its arrival at a WebSocket client,
 * with 20 sessions running at once (real server process, real SQLite store, scripted agent,
 * local sandbox, git checkpoints) and 5 viewers each. Measured at update_interval_ms = 100 (the
 * default) and, in the same run, at 10 (the schema's minimum: close to sending every event at
 * once) as the baseline. Then the server's CPU over 5 s with every session finished and all
 * 100 sockets still open (process.cpuUsage of the server process, over IPC).
 *
 * Last, a slow viewer: one session whose command prints 1.5 MB/s for 45 s, five viewers and one
 * more that stops reading for 30 s during the command, then reads again: its catch-up time, the
 * five others' p99 meanwhile, and the server's peak RSS.
 *
 *   npx tsx bench/live/main.ts [sessions=20] [viewers=5] [turns=30]
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { stringify } from 'yaml';
import type { SessionEvent } from '../../src/session/events.js';
import type { SessionRecord } from '../../src/store/types.js';
import { demoCopy, freePort } from '../../test/server/demo.js';
import { Client, Watcher } from '../../test/server/harness.js';
import { ask, pct, startBenchServer } from '../lib/process.js';

const SESSIONS = Number(process.argv[2] ?? 20);
const VIEWERS = Number(process.argv[3] ?? 5);
const TURNS = Number(process.argv[4] ?? 30);

interface Sample {
  /** Arrival minus the event's `at` (persisted), ms. */
  fromEvent: number;
  /** Arrival minus the step's ended_at (created in the controller), ms. */
  fromStep: number;
}

/** A script of TURNS turns: thinking, a message, and a file read or a short command. */
function writeScript(dir: string): void {
  const turns = Array.from({ length: TURNS }, (_, i) => ({
    thinking: `Turn ${i}: let me look at the next thing. `.repeat(4),
    text: `Checking part ${i}.`,
    tool_calls: [i % 2 === 0 ? { file_read: { path: 'README.md' } } : { bash_command: { command: 'ls' } }],
  }));
  turns.push({ thinking: 'Done.', text: 'All checked.', tool_calls: [] as never[] });
  writeFileSync(path.join(dir, 'bench-script.yaml'), stringify({ turns }));
}

async function phase(intervalMs: number, measureIdle: boolean) {
  const config = demoCopy((doc) => {
    doc.live_coding_agent.scripted.turn_delay_ms = 250;
    (doc.live_coding_agent.scripted as Record<string, unknown>).script = './bench-script.yaml';
    doc.live_coding_agent.streaming.update_interval_ms = intervalMs;
  });
  writeScript(path.dirname(config));
  const port = await freePort();
  const child = await startBenchServer(config, port, process.env.POTATO_BENCH_PROFILE);
  const base = `http://127.0.0.1:${port}`;
  const client = new Client(base);
  await client.login('demo', 'potato');

  const samples: Sample[] = [];
  const clientLoop = monitorEventLoopDelay({ resolution: 5 });
  await ask(child, 'loop');
  clientLoop.enable();
  const watchers: Watcher[] = [];
  const ids: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const res = await client.json<SessionRecord>('POST', '/api/sessions', { task: `bench task ${i}` });
    if (res.status !== 201) throw new Error(`start failed: ${JSON.stringify(res.body)}`);
    ids.push(res.body.id);
    for (let v = 0; v < VIEWERS; v++) {
      const w = new Watcher(base, res.body.id, 0, client.cookie);
      watchers.push(w);
      await w.opened;
      const connectedAt = Date.now();
      w.ws.on('message', () => {
        const now = Date.now();
        const msg = w.messages.at(-1)!.msg;
        for (const e of msg.events as SessionEvent[]) {
          if (e.type !== 'step') continue;
          // Replayed events (sent before this viewer connected) are not live latency.
          if (e.at < connectedAt) continue;
          samples.push({ fromEvent: now - e.at, fromStep: now - e.step.ended_at });
        }
      });
    }
  }
  const ended = (w: Watcher) =>
    w.events.some((e) => e.type === 'status' && ['finished', 'failed', 'stopped'].includes(e.status));
  await Promise.all(watchers.map((w) => w.until(() => ended(w), 600_000)));
  clientLoop.disable();
  const serverLoop = (await ask(child, 'loop')) as { p50: number; p99: number; max: number };
  const loops = {
    server: serverLoop,
    client: { p50: clientLoop.percentile(50) / 1e6, p99: clientLoop.percentile(99) / 1e6, max: clientLoop.max / 1e6 },
    load: loadavg()[0]!,
  };
  const failed = watchers.filter((w) => w.events.some((e) => e.type === 'status' && e.status === 'failed')).length;

  let idleCpu: number | undefined;
  if (measureIdle) {
    await new Promise((r) => setTimeout(r, 1000));
    const a = (await ask(child, 'cpu')) as { cpu: NodeJS.CpuUsage; at: number };
    await new Promise((r) => setTimeout(r, 5000));
    const b = (await ask(child, 'cpu')) as { cpu: NodeJS.CpuUsage; at: number };
    const usedUs = b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
    idleCpu = usedUs / 1000 / (b.at - a.at);
  }
  for (const w of watchers) w.ws.terminate();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { intervalMs, samples, idleCpu, failed, sessions: ids.length, loops };
}

const SLOW_PAUSE_MS = 30_000;

/** One session printing 1.5 MB/s for 45 s; VIEWERS viewers and one that stops reading for 30 s. */
async function slowViewerPhase() {
  const config = demoCopy((doc) => {
    (doc.live_coding_agent.scripted as Record<string, unknown>).script = './slow-script.yaml';
    doc.live_coding_agent.streaming.update_interval_ms = 100;
  });
  const dir = path.dirname(config);
  writeFileSync(
    path.join(dir, 'repo', 'spew.py'),
    'import sys, time\nfor i in range(450):\n    sys.stdout.write("y" * 149999 + "\\n")\n    sys.stdout.flush()\n    time.sleep(0.1)\n',
  );
  const turns = [
    {
      thinking: 'Run the noisy job.',
      text: 'Running it.',
      tool_calls: [{ bash_command: { command: 'python3 spew.py' } }],
    },
    { thinking: 'Done.', text: 'Finished.', tool_calls: [] as never[] },
  ];
  writeFileSync(path.join(dir, 'slow-script.yaml'), stringify({ turns }));
  const port = await freePort();
  const child = await startBenchServer(config, port, process.env.POTATO_BENCH_PROFILE);
  const base = `http://127.0.0.1:${port}`;
  const client = new Client(base);
  await client.login('demo', 'potato');
  const res = await client.json<SessionRecord>('POST', '/api/sessions', { task: 'slow viewer' });
  const id = res.body.id;
  const latencies: number[] = [];
  const normal: Watcher[] = [];
  for (let v = 0; v < VIEWERS; v++) {
    const w = new Watcher(base, id, 0, client.cookie);
    await w.opened;
    w.ws.on('message', () => {
      const now = Date.now();
      for (const e of w.messages.at(-1)!.msg.events as SessionEvent[]) latencies.push(now - e.at);
    });
    normal.push(w);
  }
  const slow = new Watcher(base, id, 0, client.cookie);
  await slow.opened;
  const outputSeen = (w: Watcher) => w.events.some((e) => e.type === 'partial' && e.kind === 'output');
  await slow.until(() => outputSeen(slow), 60_000);
  slow.ws.pause();
  await new Promise((r) => setTimeout(r, SLOW_PAUSE_MS));
  const target = Math.max(...normal.map((w) => w.lastSeq));
  const resumedAt = Date.now();
  slow.ws.resume();
  await slow.until(() => slow.lastSeq >= target, 120_000);
  const catchUpMs = Date.now() - resumedAt;
  const commandRunning = !normal[0]!.events.some((e) => e.type === 'step' && e.step.type === 'bash_command');
  const ended = (w: Watcher) => w.events.some((e) => e.type === 'status' && e.status === 'finished');
  await Promise.all([...normal, slow].map((w) => w.until(() => ended(w), 120_000)));
  const same = slow.lastSeq === normal[0]!.lastSeq;
  const { maxRss } = (await ask(child, 'rss')) as { maxRss: number };
  for (const w of [...normal, slow]) w.ws.terminate();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { catchUpMs, commandRunning, same, p99: pct(latencies, 99), maxRssMb: maxRss / 1024 };
}

const main = await phase(100, true);
const baseline = await phase(10, false);
const slowRun = await slowViewerPhase();

const row = (name: string, r: typeof main) => {
  const ev = r.samples.map((s) => s.fromEvent);
  const st = r.samples.map((s) => s.fromStep);
  return {
    name,
    n: ev.length,
    p50: pct(ev, 50),
    p95: pct(ev, 95),
    p99: pct(ev, 99),
    stepP50: pct(st, 50),
    stepP99: pct(st, 99),
    failed: r.failed,
  };
};
const a = row('update_interval_ms = 100', main);
const b = row('update_interval_ms = 10 (baseline)', baseline);
console.log(`live: ${SESSIONS} sessions x ${VIEWERS} viewers, ${TURNS} turns each`);
console.log('| run | step events | p50 | p95 | p99 | p50 from ended_at | p99 from ended_at |');
console.log('|---|---|---|---|---|---|---|');
for (const r of [a, b]) {
  console.log(
    `| ${r.name} | ${r.n} | ${r.p50} ms | ${r.p95} ms | ${r.p99} ms | ${r.stepP50} ms | ${r.stepP99} ms |${r.failed ? ` (${r.failed} viewers saw a failed session)` : ''}`,
  );
}
for (const [name, r] of [
  ['100', main],
  ['10', baseline],
] as const) {
  const f = (x: number) => x.toFixed(1);
  const { server, client, load } = r.loops;
  console.log(
    `event-loop delay at ${name} ms: server p50/p99/max ${f(server.p50)}/${f(server.p99)}/${f(server.max)} ms, ` +
      `bench clients ${f(client.p50)}/${f(client.p99)}/${f(client.max)} ms; load average ${load.toFixed(1)}`,
  );
}
console.log(
  `ratio p50 (100 / 10): ${(a.p50 / Math.max(1, b.p50)).toFixed(2)}x; p99: ${(a.p99 / Math.max(1, b.p99)).toFixed(2)}x`,
);
console.log(`target p99 < interval + 30 ms = 130 ms: ${a.p99 < 130 ? 'met' : 'NOT met'} (p99 ${a.p99} ms)`);
console.log(
  `server CPU, ${SESSIONS} finished sessions with ${SESSIONS * VIEWERS} sockets open, over 5 s: ${((main.idleCpu ?? 0) * 100).toFixed(2)}% of one core (target < 50%)`,
);
console.log(
  `| slow viewer: paused ${SLOW_PAUSE_MS / 1000} s during a 1.5 MB/s command | catch-up ${slowRun.catchUpMs} ms` +
    ` (${slowRun.commandRunning ? 'before' : 'after'} the command ended) | other ${VIEWERS} viewers' p99 ${slowRun.p99} ms` +
    ` | server peak RSS ${slowRun.maxRssMb.toFixed(0)} MB | same last seq at the end: ${slowRun.same} |`,
);

/**
 * @module bench/capacity/main
 * How many live sessions one server process holds. One real `potato` server process on SQLite
 * (bench/lib/server.ts: startServer, the demo's config) runs scripted sessions at an annotator's
 * pace: a turn every 2 s, each with a small shell command and a file edit, so checkpoints,
 * inotify watches and processes are real. Each session has 3 WebSocket viewers measuring live
 * latency (arrival minus the event's `at`); a worker thread asks the API meanwhile (the session
 * list and one session, alternately). The session count rises step by step, each step on a
 * fresh server, until live p99 passes `update_interval_ms` + 30 ms, API p95 passes 100 ms, or
 * something runs out (a session that fails or cannot start, a socket cut, the server gone).
 *
 * Per step: live p50/p99, API p95, the server's RSS and CPU, its process tree's descriptors,
 * processes and inotify watches (from /proc) per session, and its event-loop delay. `--profile`
 * runs the server under `--cpu-prof` and prints where its time went.
 *
 *   npm run bench:capacity [-- --short] [-- --steps 25,50,100] [--window 30] [--profile] [--all] [--nofile N]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import type { SessionRecord } from '../../src/store/types.js';
import { demoCopy, freePort } from '../../test/server/demo.js';
import { Client } from '../../test/server/harness.js';
import { probeApi } from '../lib/api.js';
import {
  type CpuParts,
  cpuParts,
  cpuPartsSince,
  limits,
  processStats,
  schedStat,
  type TreeStats,
  treeStats,
} from '../lib/proc.js';
import { ask, pct, startBenchServer } from '../lib/process.js';
import { writeWorkScript } from '../lib/script.js';

const { values: args } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    steps: { type: 'string' },
    window: { type: 'string' },
    profile: { type: 'boolean', default: false },
    all: { type: 'boolean', default: false },
    'turn-ms': { type: 'string', default: '2000' },
    nofile: { type: 'string' },
  },
});
const STEPS = (args.steps ?? (args.short ? '4,8' : '25,50,100,200,300,500')).split(',').map(Number);
const WINDOW_MS = Number(args.window ?? (args.short ? 8 : 30)) * 1000;
const SETTLE_MS = args.short ? 3000 : 10_000;
const TURN_MS = Number(args['turn-ms']);
const VIEWERS = 3;
const INTERVAL_MS = 100;
const LIVE_P99_LIMIT = INTERVAL_MS + 30;
const API_P95_LIMIT = 100;
/** Sessions started at once while ramping up (an annotator team logging in, not one by one). */
const START_CONCURRENCY = 4;

/** One live socket: counts events, duplicates, and live latency of the events created in the window. */
class Viewer {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  lastSeq = 0;
  dups = 0;
  failed = false;
  closedEarly = false;

  constructor(url: string, cookie: string, samples: () => number[] | null) {
    this.ws = new WebSocket(url, { headers: { cookie } });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('close', () => (this.closedEarly = !stopping));
    this.ws.on('message', (data) => {
      const now = Date.now();
      const msg = JSON.parse(String(data)) as {
        events: { seq: number; at: number; type: string; status?: string }[];
      };
      const into = samples();
      for (const e of msg.events) {
        if (e.seq <= this.lastSeq) this.dups++;
        this.lastSeq = Math.max(this.lastSeq, e.seq);
        if (e.type === 'status' && e.status === 'failed') this.failed = true;
        if (into && e.at >= windowStart) into.push(now - e.at);
      }
    });
  }
}

let stopping = false;
let windowStart = Number.POSITIVE_INFINITY;

interface StepResult {
  sessions: number;
  started: number;
  startFailures: string[];
  liveN: number;
  liveP50: number;
  liveP99: number;
  apiN: number;
  apiP95: number;
  apiErrors: number;
  rssMb: number;
  heapMb: number;
  cpuServer: number;
  cpuTree: number;
  /** Share of the window the server's main thread ran on a core, and waited for one. */
  /** CPU seconds per second of the window, by part of the tree. */
  parts: CpuParts;
  mainThread: { onCpu: number; waiting: number };
  tree: TreeStats;
  /** Descriptors of the server process alone (its open-file limit counts these). */
  serverFds: number;
  perSession: { fds: number; watches: number; processes: number; rssMb: number };
  inotifyInstances: number;
  loop: { p50: number; p99: number; max: number };
  clientLoopP99: number;
  failedSessions: number;
  cutSockets: number;
  dups: number;
  serverDied: boolean;
  load: number;
  rampS: number;
  profile: string[];
}

async function step(n: number): Promise<StepResult> {
  stopping = false;
  windowStart = Number.POSITIVE_INFINITY;
  const turns = Math.ceil((n * 0.5 * 1000 + SETTLE_MS + WINDOW_MS + 120_000) / TURN_MS);
  const config = demoCopy((doc) => {
    doc.live_coding_agent.scripted.turn_delay_ms = TURN_MS;
    (doc.live_coding_agent.scripted as Record<string, unknown>).script = './capacity-script.yaml';
    doc.live_coding_agent.streaming.update_interval_ms = INTERVAL_MS;
    const sandbox = doc.live_coding_agent.sandbox as { allowed_commands: string[] };
    sandbox.allowed_commands = [...sandbox.allowed_commands, 'echo'];
  });
  const dir = path.dirname(config);
  writeWorkScript(dir, 'capacity-script.yaml', turns);
  const profileDir = args.profile ? mkdtempSync(path.join(tmpdir(), 'potato-capacity-prof-')) : undefined;
  const port = await freePort();
  const server = await startBenchServer(config, port, profileDir, args.nofile ? Number(args.nofile) : undefined);
  let serverDied = false;
  server.once('exit', () => (serverDied = !stopping));
  const pid = server.pid!;
  const base = `http://127.0.0.1:${port}`;
  const client = new Client(base);
  await client.login('demo', 'potato');
  const cookie = client.cookie!;
  const before = treeStats(pid);

  let samples: number[] | null = null;
  const viewers: Viewer[] = [];
  const ids: string[] = [];
  const startFailures: string[] = [];
  const rampStart = Date.now();
  const startOne = async (i: number) => {
    const res = await client.json<SessionRecord & { error?: string }>('POST', '/api/sessions', {
      task: `capacity session ${i}`,
    });
    if (res.status !== 201 || res.body.status === 'failed') {
      startFailures.push(`${res.status} ${res.body.error ?? res.body.end_reason ?? res.body.status}`);
      return;
    }
    ids.push(res.body.id);
    const url = `ws://127.0.0.1:${port}/api/sessions/${res.body.id}/events?after=0`;
    for (let v = 0; v < VIEWERS; v++) {
      const viewer = new Viewer(url, cookie, () => samples);
      viewers.push(viewer);
      await viewer.opened;
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: START_CONCURRENCY }, async () => {
      while (next < n && startFailures.length === 0 && !serverDied) await startOne(next++);
    }),
  );
  const rampS = (Date.now() - rampStart) / 1000;
  await new Promise((r) => setTimeout(r, SETTLE_MS));

  // The window: live latency of events created from now, the API from a worker, CPU and loop delay.
  const clientLoop = monitorEventLoopDelay({ resolution: 10 });
  clientLoop.enable();
  const profileFrom = (await ask(server, 'loop')).monotonicUs as number;
  const cpu0 = processStats(pid).ticks;
  const tree0 = treeStats(pid).ticks;
  const parts0 = cpuParts(pid);
  const sched0 = schedStat(pid);
  const t0 = performance.now();
  samples = [];
  windowStart = Date.now();
  const api =
    ids.length > 0
      ? await probeApi(
          ids.flatMap((id) => [`${base}/api/sessions`, `${base}/api/sessions/${id}`]),
          cookie,
          WINDOW_MS,
        )
      : { out: [], errors: 0 };
  const live = samples;
  samples = null;
  const elapsedS = (performance.now() - t0) / 1000;
  const sched1 = schedStat(pid);
  const mainThread = {
    onCpu: (sched1.onCpuNs - sched0.onCpuNs) / 1e9 / elapsedS,
    waiting: (sched1.waitNs - sched0.waitNs) / 1e9 / elapsedS,
  };
  const cpuServer = (processStats(pid).ticks - cpu0) / 100 / elapsedS;
  const parts = cpuPartsSince(parts0, cpuParts(pid));
  const tree = treeStats(pid);
  const serverFds = processStats(pid).fds;
  const cpuTree = (tree.ticks - tree0) / 100 / elapsedS;
  clientLoop.disable();
  const loopAnswer = serverDied ? null : await ask(server, 'loop');
  const loop = (loopAnswer ?? { p50: 0, p99: 0, max: 0 }) as StepResult['loop'];
  const profileWindow = loopAnswer ? { from: profileFrom, to: loopAnswer.monotonicUs as number } : undefined;
  const mem = serverDied ? { rss: 0, heapUsed: 0 } : ((await ask(server, 'mem')) as { rss: number; heapUsed: number });
  const count = Math.max(1, ids.length);

  stopping = true;
  for (const v of viewers) v.ws.terminate();
  if (!serverDied) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 120_000);
    await exited;
    clearTimeout(timer);
  }
  const profile = profileDir ? summariseProfile(profileDir, profileWindow) : [];
  // Sandboxed commands ran as another user; their files are removed as root or by the owner.
  rmSync(dir, { recursive: true, force: true });

  return {
    sessions: n,
    started: ids.length,
    startFailures,
    liveN: live.length,
    liveP50: pct(live, 50),
    liveP99: pct(live, 99),
    apiN: api.out.length,
    apiP95: pct(api.out, 95),
    apiErrors: api.errors,
    rssMb: mem.rss / 1024 / 1024,
    heapMb: mem.heapUsed / 1024 / 1024,
    cpuServer,
    cpuTree,
    parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v / 100 / elapsedS])) as unknown as CpuParts,
    mainThread,
    tree,
    serverFds,
    perSession: {
      fds: (tree.fds - before.fds) / count,
      watches: (tree.inotifyWatches - before.inotifyWatches) / count,
      processes: (tree.processes - before.processes) / count,
      rssMb: (tree.rssMb - before.rssMb) / count,
    },
    inotifyInstances: tree.inotifyInstances,
    loop,
    clientLoopP99: clientLoop.percentile(99) / 1e6,
    failedSessions: new Set(viewers.filter((v) => v.failed).map((v) => v.ws.url)).size,
    cutSockets: viewers.filter((v) => v.closedEarly).length,
    dups: viewers.reduce((a, v) => a + v.dups, 0),
    serverDied,
    load: loadavg()[0]!,
    rampS,
    profile,
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * Where the server's main thread spent its time, from its .cpuprofile: self time by area (our
 * folders, each package, Node, GC) and by function, and by the function of ours nearest on the
 * stack (so `rename` or `spawnSync` count against the code that called them). Twice: the whole
 * run (ramp, window and shutdown), then the measuring window alone (`window`, on the profile's
 * monotonic clock in µs), which is what the CPU per session-second is about.
 */
function summariseProfile(dir: string, window?: { from: number; to: number }): string[] {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return ['(no profile written)'];
  const prof = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as {
    nodes: ProfileNode[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((nd) => [nd.id, nd]));
  const parent = new Map<number, number>();
  for (const nd of prof.nodes) for (const c of nd.children ?? []) parent.set(c, nd.id);
  const selfIn = (from: number, to: number) => {
    const self = new Map<number, number>();
    let at = prof.startTime;
    for (const [i, id] of prof.samples.entries()) {
      const dt = prof.timeDeltas[i] ?? 0;
      at += dt;
      if (at >= from && at <= to) self.set(id, (self.get(id) ?? 0) + dt);
    }
    return self;
  };
  const where = (cf: ProfileNode['callFrame']) => cf.url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
  const label = (cf: ProfileNode['callFrame']) =>
    `${cf.functionName || '(anonymous)'}${where(cf) ? ` ${where(cf)}:${cf.lineNumber + 1}` : ''}`;
  const ours = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const cf = byId.get(at)!.callFrame;
      if (where(cf).startsWith('src/')) return label(cf);
    }
    return '(not under our code)';
  };
  const summary = (self: Map<number, number>, what: string): string[] => {
    let total = 0;
    const fn = new Map<string, number>();
    const area = new Map<string, number>();
    const caller = new Map<string, number>();
    const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
    for (const [id, us] of self) {
      const cf = byId.get(id)!.callFrame;
      if (cf.functionName === '(idle)') continue;
      total += us;
      const w = where(cf);
      add(fn, label(cf), us);
      add(caller, ours(id), us);
      const group = w.startsWith('src/')
        ? w.split('/').slice(0, 2).join('/')
        : w.includes('node_modules/')
          ? `node_modules/${w.split('node_modules/').pop()!.split('/')[0]}`
          : w.startsWith('node:')
            ? 'node internals'
            : cf.functionName.startsWith('(')
              ? cf.functionName
              : 'native (fs, crypto, ...)';
      add(area, group, us);
    }
    const top = (m: Map<string, number>, k: number) =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, k)
        .map(([name, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`);
    return [
      `${what}: ${(total / 1e6).toFixed(1)} s busy on the main thread; by area:`,
      ...top(area, 8),
      'by function (self time):',
      ...top(fn, 10),
      'by the nearest function of ours on the stack:',
      ...top(caller, 12),
    ];
  };
  return [
    `profile ${path.join(dir, file)}`,
    ...summary(selfIn(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY), 'whole run (ramp, window and shutdown)'),
    ...(window ? summary(selfIn(window.from, window.to), 'the window alone') : []),
  ];
}

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');

function verdict(r: StepResult): string[] {
  const why: string[] = [];
  if (r.serverDied) why.push('the server process died');
  if (r.startFailures.length > 0) why.push(`${r.startFailures.length} sessions could not start: ${r.startFailures[0]}`);
  if (r.failedSessions > 0) why.push(`${r.failedSessions} sessions failed`);
  if (r.cutSockets > 0) why.push(`${r.cutSockets} sockets were cut`);
  if (r.dups > 0) why.push(`${r.dups} duplicate events`);
  if (!(r.liveP99 <= LIVE_P99_LIMIT)) why.push(`live p99 ${f0(r.liveP99)} ms > ${LIVE_P99_LIMIT} ms`);
  if (!(r.apiP95 <= API_P95_LIMIT)) why.push(`API p95 ${f0(r.apiP95)} ms > ${API_P95_LIMIT} ms`);
  if (r.apiErrors > 0) why.push(`${r.apiErrors} API answers were not 200`);
  return why;
}

console.log(
  `capacity: steps ${STEPS.join(', ')} sessions x ${VIEWERS} viewers; a turn every ${TURN_MS} ms (shell command + file edit); ` +
    `window ${WINDOW_MS / 1000} s after ${SETTLE_MS / 1000} s settling; limits: live p99 <= ${LIVE_P99_LIMIT} ms, API p95 <= ${API_P95_LIMIT} ms`,
);
console.log(`limits here: ${JSON.stringify(limits())}; ${execFileSync('nproc').toString().trim()} cores`);
console.log(
  '| sessions | live events | live p50 | live p99 | API p95 | server RSS | heap | CPU server / tree (cores) | fds / session | inotify watches / session | processes / session | tree RSS / session | main thread on a core / waiting for one | loop delay p99 / max | client loop p99 | load | ramp | holds |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
let largest = 0;
const results: StepResult[] = [];
for (const n of STEPS) {
  const r = await step(n);
  results.push(r);
  const why = verdict(r);
  if (why.length === 0) largest = n;
  console.log(
    `| ${n} (${r.started} ran) | ${r.liveN} | ${f0(r.liveP50)} ms | ${f0(r.liveP99)} ms | ${f1(r.apiP95)} ms (${r.apiN}) | ${f0(r.rssMb)} MB | ${f0(r.heapMb)} MB | ` +
      `${r.cpuServer.toFixed(2)} / ${r.cpuTree.toFixed(2)} | ${f1(r.perSession.fds)} (${r.tree.fds} in all, ${r.serverFds} in the server) | ${f1(r.perSession.watches)} (${r.tree.inotifyWatches} in ${r.inotifyInstances} instances) | ` +
      `${f1(r.perSession.processes)} (${r.tree.processes} in all) | ${f1(r.perSession.rssMb)} MB | ${f0(100 * r.mainThread.onCpu)}% / ${f0(100 * r.mainThread.waiting)}% | ${f0(r.loop.p99)} / ${f0(r.loop.max)} ms | ${f0(r.clientLoopP99)} ms | ${r.load.toFixed(1)} | ${f0(r.rampS)} s | ${why.length === 0 ? 'yes' : `no: ${why.join('; ')}`} |`,
  );
  // Load-independent: CPU time, not latency, is what the machine's other work does not change much.
  const msPerSession = (1000 * r.mainThread.onCpu) / Math.max(1, r.started);
  console.log(
    `    main thread: ${msPerSession.toFixed(1)} ms of CPU per session-second (the server's fixed work included: one core would be full at about ${f0(1000 / msPerSession)} sessions); ` +
      `whole tree ${((1000 * r.cpuTree) / Math.max(1, r.started)).toFixed(1)} ms`,
  );
  const perSession = (cores: number) => `${((1000 * cores) / Math.max(1, r.started)).toFixed(1)} ms`;
  console.log(
    `    tree CPU per session-second by part: main thread ${perSession(r.parts.main)}, the server's other threads (file work in libuv's pool, the collector) ${perSession(r.parts.threads)}, ` +
      `process host ${perSession(r.parts.host)}, the agent's commands ${perSession(r.parts.commands)}, git ${perSession(r.parts.git)}`,
  );
  for (const line of r.profile) console.log(`    ${line}`);
  if (why.length > 0 && !args.all) break;
}
console.log(
  largest > 0
    ? `largest session count that holds: ${largest} (of ${STEPS.join(', ')})`
    : `no step held (smallest tried: ${STEPS[0]})`,
);

/**
 * @module bench/replicas/main
 * What replicas cost a viewer. Three real `potato start` processes on one PostgreSQL database
 * (a throwaway cluster from scripts/postgres/start-cluster.sh, durable as in production) and one
 * shared output folder run SESSIONS scripted sessions, started round-robin so each replica owns a
 * third; each session has VIEWERS WebSocket viewers, every one on a replica other than its
 * session's owner (events reach them by LISTEN/NOTIFY). Beside it, in the same run, one
 * `potato start` on SQLite carries the same load alone: the baseline.
 *
 * Per setup: live latency (arrival minus the event's `at`, every event created after the viewer
 * connected), API p95 (GET /api/sessions/:id, on a replica that does not own the session), the
 * CPU of each server process and of PostgreSQL, and the ratios against the SQLite process.
 * Target: live p99 < update_interval_ms + 50 ms.
 *
 *   npm run bench -- replicas [--short] [--sessions=20] [--viewers=5] [--turns=40] [--turn-ms=500] [--replicas=3]
 * (the larger counts at bench/capacity's pace, `--turn-ms=2000`, show what replicas add to one process.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { SessionEvent } from '../../src/session/events.js';
import type { SessionRecord } from '../../src/store/types.js';
import { type Served, serveChild } from '../../test/server/child.js';
import { demoCopy, freePort } from '../../test/server/demo.js';
import { Client, Watcher } from '../../test/server/harness.js';
import { probeApi } from '../lib/api.js';
import { startDurableCluster } from '../lib/postgres.js';
import { processStats, treeStats } from '../lib/proc.js';
import { pct } from '../lib/process.js';
import { writeWorkScript } from '../lib/script.js';

const { values: args } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    sessions: { type: 'string' },
    viewers: { type: 'string' },
    turns: { type: 'string' },
    'turn-ms': { type: 'string' },
    replicas: { type: 'string' },
    trace: { type: 'string' },
  },
});
/** --trace=FILE: every live sample as a JSON line (setup, session, seq, type, at, arrival), to see which events wait. */
const TRACE = args.trace;
const SESSIONS = Number(args.sessions ?? (args.short ? 3 : 20));
const VIEWERS = Number(args.viewers ?? (args.short ? 2 : 5));
const TURNS = Number(args.turns ?? (args.short ? 8 : 40));
const REPLICAS = Number(args.replicas ?? 3);
const API_WINDOW_MS = args.short ? 3000 : 10_000;
const TURN_MS = Number(args['turn-ms'] ?? 500);
const INTERVAL_MS = 100;
const TARGET_P99 = INTERVAL_MS + 50;
const _ROOT = path.resolve(import.meta.dirname, '../..');
const TERMINAL = ['finished', 'failed', 'stopped', 'interrupted'];

interface Result {
  name: string;
  liveN: number;
  liveP50: number;
  liveP99: number;
  apiN: number;
  apiP95: number;
  apiErrors: number;
  /** Cores used by each server process (main process alone) and by its whole tree, over the run. */
  cpu: { server: number; tree: number }[];
  /** Cores used by PostgreSQL (postmaster and its backends), when there is one. */
  pgCpu?: number;
  failed: number;
  seconds: number;
  load: number;
  /** The bench's own event-loop delay p99 (ms) and CPU (cores): is the client keeping up? */
  clientLoopP99: number;
  clientCpu: number;
}

/** Run the load on `servers` (the first one's login is used on all); owner of session i = servers[i % n]. */
const trace: object[] = [];
function traceType(e: SessionEvent): string {
  if (e.type === 'partial') return `partial:${e.kind}`;
  if (e.type === 'step') return `step:${e.step.type}`;
  if (e.type === 'status') return `status:${e.status}:${e.activity ?? ''}`;
  return e.type;
}

async function run(name: string, servers: { base: string; pid: number }[], pgPid?: number) {
  const [first] = servers;
  const login = new Client(first!.base);
  await login.login('demo', 'potato');
  const cookie = login.cookie!;
  const clients = servers.map((s) => {
    const c = new Client(s.base);
    c.cookie = cookie;
    return c;
  });
  const cpu0 = servers.map((s) => ({ server: processStats(s.pid).ticks, tree: treeStats(s.pid).ticks }));
  const pg0 = pgPid ? treeStats(pgPid).ticks : 0;
  const t0 = performance.now();
  const clientLoop = monitorEventLoopDelay({ resolution: 10 });
  clientLoop.enable();
  const clientCpu0 = process.cpuUsage();
  const samples: number[] = [];
  const watchers: Watcher[] = [];
  const apiUrls: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const owner = i % servers.length;
    const res = await clients[owner]!.json<SessionRecord>('POST', '/api/sessions', { task: `replica bench ${i}` });
    if (res.status !== 201) throw new Error(`${name}: start failed: ${JSON.stringify(res.body)}`);
    const others = servers.length === 1 ? [0] : servers.map((_, k) => k).filter((k) => k !== owner);
    apiUrls.push(`${servers[others[0]!]!.base}/api/sessions/${res.body.id}`);
    for (let v = 0; v < VIEWERS; v++) {
      const w = new Watcher(servers[others[v % others.length]!]!.base, res.body.id, 0, cookie);
      watchers.push(w);
      await w.opened;
      const connectedAt = Date.now();
      w.ws.on('message', () => {
        const now = Date.now();
        for (const e of w.messages.at(-1)!.msg.events as SessionEvent[]) {
          // Replayed events (created before this viewer connected) are not live latency.
          if (e.at < connectedAt) continue;
          samples.push(now - e.at);
          if (TRACE)
            trace.push({ setup: name, session: e.session_id, seq: e.seq, type: traceType(e), at: e.at, arrival: now });
        }
      });
    }
  }
  const ended = (w: Watcher) => w.events.some((e) => e.type === 'status' && TERMINAL.includes(e.status));
  // The API is asked while every session still runs (the script outlasts the ramp and this window).
  const apiRes = await probeApi(apiUrls, cookie, API_WINDOW_MS);
  await Promise.all(watchers.map((w) => w.until(() => ended(w), 600_000)));
  const seconds = (performance.now() - t0) / 1000;
  clientLoop.disable();
  const clientCpuUs = process.cpuUsage(clientCpu0);
  const cpu = servers.map((s, k) => ({
    server: (processStats(s.pid).ticks - cpu0[k]!.server) / 100 / seconds,
    tree: (treeStats(s.pid).ticks - cpu0[k]!.tree) / 100 / seconds,
  }));
  const pgCpu = pgPid ? (treeStats(pgPid).ticks - pg0) / 100 / seconds : undefined;
  const failed = new Set(
    watchers
      .filter((w) =>
        w.events.some((e) => e.type === 'status' && e.status !== 'finished' && TERMINAL.includes(e.status)),
      )
      .map((w) => w.ws.url),
  ).size;
  for (const w of watchers) w.ws.terminate();
  return {
    name,
    liveN: samples.length,
    liveP50: pct(samples, 50),
    liveP99: pct(samples, 99),
    apiN: apiRes.out.length,
    apiP95: pct(apiRes.out, 95),
    apiErrors: apiRes.errors,
    cpu,
    pgCpu,
    failed,
    seconds,
    load: loadavg()[0]!,
    clientLoopP99: clientLoop.percentile(99) / 1e6,
    clientCpu: (clientCpuUs.user + clientCpuUs.system) / 1e6 / seconds,
  } satisfies Result;
}

function demoConfig(postgres: boolean): string {
  const config = demoCopy((doc) => {
    doc.live_coding_agent.scripted.turn_delay_ms = TURN_MS;
    (doc.live_coding_agent.scripted as Record<string, unknown>).script = './replicas-script.yaml';
    doc.live_coding_agent.streaming.update_interval_ms = INTERVAL_MS;
    const sandbox = doc.live_coding_agent.sandbox as { allowed_commands: string[] };
    sandbox.allowed_commands = [...sandbox.allowed_commands, 'echo'];
    if (postgres) (doc.output as Record<string, unknown>).database_url_env = 'POTATO_DATABASE_URL';
  });
  writeWorkScript(path.dirname(config), 'replicas-script.yaml', TURNS);
  return config;
}

async function stopAll(children: Served[]): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** One `potato start` on SQLite: every session and every viewer on it. */
async function sqlitePhase(): Promise<Result> {
  const config = demoConfig(false);
  const children: Served[] = [];
  try {
    const port = await freePort();
    const child = await serveChild(config, port, children);
    return await run('SQLite, 1 process', [{ base: `http://127.0.0.1:${port}`, pid: child.pid! }]);
  } finally {
    await stopAll(children);
    // Sandboxed commands ran as another user; their files are removed as root or by the owner.
    rmSync(path.dirname(config), { recursive: true, force: true });
  }
}

/** REPLICAS `potato start` on one PostgreSQL database and one output folder. */
async function replicasPhase(): Promise<Result> {
  const cluster = startDurableCluster(mkdtempSync(path.join(tmpdir(), 'potato-bench-pg-')));
  const config = demoConfig(true);
  const children: Served[] = [];
  try {
    const servers = [];
    // One after another: the first applies the migrations, the others find them done.
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      const child = await serveChild(config, port, children, { POTATO_DATABASE_URL: cluster.url });
      servers.push({ base: `http://127.0.0.1:${port}`, pid: child.pid! });
    }
    return await run(`PostgreSQL, ${REPLICAS} replicas`, servers, cluster.pid);
  } finally {
    await stopAll(children);
    cluster.stop();
    rmSync(path.dirname(config), { recursive: true, force: true });
  }
}

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
const f2 = (x: number) => x.toFixed(2);
console.log(
  `replicas: ${SESSIONS} sessions x ${VIEWERS} viewers, ${TURNS + 1} turns each (a shell command and a file edit, ` +
    `${TURN_MS} ms apart), update_interval_ms ${INTERVAL_MS}; target live p99 < ${TARGET_P99} ms; ` +
    `${execFileSync('nproc').toString().trim()} cores, load average at start ${loadavg()[0]!.toFixed(1)}`,
);
const base = await sqlitePhase();
const reps = await replicasPhase();
console.log(
  '| setup | live events | live p50 | live p99 | API p95 (GET /api/sessions/:id) | CPU per server process (main / with children), cores | PostgreSQL CPU | bench client: loop delay p99, CPU | run | load | sessions not finished |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of [base, reps]) {
  console.log(
    `| ${r.name} | ${r.liveN} | ${f0(r.liveP50)} ms | ${f0(r.liveP99)} ms | ${r.apiP95.toFixed(1)} ms (${r.apiN}${r.apiErrors ? `, ${r.apiErrors} not 200` : ''}) | ` +
      `${r.cpu.map((c) => `${f2(c.server)} / ${f2(c.tree)}`).join('; ')} | ${r.pgCpu === undefined ? '–' : f2(r.pgCpu)} | ${f0(r.clientLoopP99)} ms, ${f2(r.clientCpu)} | ${f0(r.seconds)} s | ${r.load.toFixed(1)} | ${r.failed} |`,
  );
}
const ratio = (a: number, b: number) => `${(a / Math.max(1, b)).toFixed(2)}x`;
const sum = (r: Result) => r.cpu.reduce((a, c) => a + c.tree, 0) + (r.pgCpu ?? 0);
console.log(
  `ratios replicas / SQLite: live p50 ${ratio(reps.liveP50, base.liveP50)}, p99 ${ratio(reps.liveP99, base.liveP99)}, ` +
    `API p95 ${ratio(reps.apiP95, base.apiP95)}; CPU of all servers and the database ${f2(sum(reps))} / ${f2(sum(base))} cores = ${(sum(reps) / Math.max(0.01, sum(base))).toFixed(2)}x`,
);
console.log(
  `target live p99 < ${TARGET_P99} ms on the replicas: ${reps.liveP99 < TARGET_P99 ? 'met' : 'NOT met'} (p99 ${f0(reps.liveP99)} ms)`,
);
if (base.failed + reps.failed > 0 || base.apiErrors + reps.apiErrors > 0) process.exitCode = 1;
if (TRACE) writeFileSync(TRACE, `${trace.map((t) => JSON.stringify(t)).join('\n')}\n`);

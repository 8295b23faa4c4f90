/**
 * @module bench/lib/server
 * The server process the live and capacity benchmarks measure: `startServer` on a config, plus
 * an IPC channel so the benchmark reads the server's own figures apart from its clients':
 * `cpu` → process.cpuUsage(), `rss` → peak RSS, `loop` → event-loop delay since the last ask (and the
 * monotonic clock, in µs),
 * `mem` → process.memoryUsage(). Log lines at warn and above go to stderr (a benchmark that
 * runs something out must show the operator's message).
 *
 *   node --import tsx bench/lib/server.ts CONFIG PORT
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../../src/config/load.js';
import { startServer } from '../../src/server/start.js';

const [configPath, portText] = process.argv.slice(2);
if (!configPath || !portText) throw new Error('usage: server.ts CONFIG PORT');
const config = loadConfig(configPath);
const started = await startServer(config, {
  port: Number(portText),
  host: '127.0.0.1',
  log: (line) => {
    if ((JSON.parse(line) as { level?: number }).level! >= 40) process.stderr.write(`[server] ${line}\n`);
  },
});
// How long the server's event loop was blocked: latency the server itself adds.
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
process.on('message', (msg) => {
  if (msg === 'cpu') process.send?.({ cpu: process.cpuUsage(), at: performance.now() });
  // Peak resident set size so far, in KiB.
  if (msg === 'rss') process.send?.({ maxRss: process.resourceUsage().maxRSS });
  if (msg === 'mem') process.send?.(process.memoryUsage());
  if (msg === 'loop') {
    process.send?.({
      p50: loop.percentile(50) / 1e6,
      p99: loop.percentile(99) / 1e6,
      max: loop.max / 1e6,
      // The monotonic clock a --cpu-prof profile's timestamps are on (µs), to cut a window out of it.
      monotonicUs: Number(process.hrtime.bigint() / 1000n),
    });
    loop.reset();
  }
});
process.send?.({ ready: started.url });

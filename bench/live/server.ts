/**
 * @module bench/live/server
 * The server process the live benchmark measures: `startServer` on a config, plus an IPC
 * channel that answers `cpu` with this process's process.cpuUsage() and `rss` with its peak RSS,
 * so the benchmark can read the server's CPU and memory apart from its own clients'.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../../src/config/load.js';
import { startServer } from '../../src/server/start.js';

const [configPath, portText] = process.argv.slice(2);
if (!configPath || !portText) throw new Error('usage: server.ts CONFIG PORT');
const config = loadConfig(configPath);
const started = await startServer(config, { port: Number(portText), host: '127.0.0.1', log: () => {} });
// How long the server's event loop was blocked: latency the server itself adds.
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
process.on('message', (msg) => {
  if (msg === 'cpu') process.send?.({ cpu: process.cpuUsage(), at: performance.now() });
  // Peak resident set size so far, in KiB.
  if (msg === 'rss') process.send?.({ maxRss: process.resourceUsage().maxRSS });
  if (msg === 'loop') {
    process.send?.({ p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 });
    loop.reset();
  }
});
process.send?.({ ready: started.url });

/**
 * @module bench/live/server
 * The server process the live benchmark measures: `startServer` on a config, plus an IPC
 * channel that answers `cpu` with this process's process.cpuUsage(), so the benchmark can read
 * the server's CPU apart from its own clients'.
 */
import { loadConfig } from '../../src/config/load.js';
import { startServer } from '../../src/server/start.js';

const [configPath, portText] = process.argv.slice(2);
if (!configPath || !portText) throw new Error('usage: server.ts CONFIG PORT');
const config = loadConfig(configPath);
const started = await startServer(config, { port: Number(portText), host: '127.0.0.1', log: () => {} });
process.on('message', (msg) => {
  if (msg === 'cpu') process.send?.({ cpu: process.cpuUsage(), at: performance.now() });
});
process.send?.({ ready: started.url });

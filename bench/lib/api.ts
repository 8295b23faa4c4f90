/**
 * @module bench/lib/api
 * An API probe in its own worker thread, so the benchmark's viewers (parsing every event) do not
 * colour its timings: GET each URL in turn, one every 100 ms, for `durationMs`.
 */
import { Worker } from 'node:worker_threads';

const PROBE = `
const { workerData, parentPort } = require('node:worker_threads');
const { urls, cookie, durationMs } = workerData;
(async () => {
  const out = [];
  const end = Date.now() + durationMs;
  let errors = 0;
  for (let i = 0; Date.now() < end; i++) {
    const t = performance.now();
    const res = await fetch(urls[i % urls.length], { headers: { cookie } });
    await res.arrayBuffer();
    out.push(performance.now() - t);
    if (res.status !== 200) errors++;
    await new Promise((r) => setTimeout(r, 100));
  }
  parentPort.postMessage({ out, errors });
})();
`;

/** Round-trip times (ms) of the answers, and how many were not 200. */
export function probeApi(
  urls: string[],
  cookie: string,
  durationMs: number,
): Promise<{ out: number[]; errors: number }> {
  const w = new Worker(PROBE, { eval: true, workerData: { urls, cookie, durationMs } });
  return new Promise((resolve, reject) => {
    w.once('message', (m) => {
      resolve(m as { out: number[]; errors: number });
      void w.terminate();
    });
    w.once('error', reject);
  });
}

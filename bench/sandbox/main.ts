/**
 * @module bench/sandbox/main
 * Cost of one bash_command in the Docker sandbox against the local sandbox (spawn bash -c),
 * measured in the same run. A third column, one Engine exec per command (what the Docker
 * sandbox would cost without its runner shells), shows what the runners save.
 * Run: npx tsx bench/sandbox/main.ts [iterations]   (needs root or docker access; builds the
 * test images on first run through scripts/docker/).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { configSchema } from '../../src/config/schema.js';
import { DockerSandbox } from '../../src/sandbox/docker/index.js';
import { LocalSandbox } from '../../src/sandbox/local/local-sandbox.js';
import type { Sandbox } from '../../src/sandbox/types.js';

const ITERATIONS = Number(process.argv[2] ?? 100);
const WARMUP = 10;
const COMMANDS = ['true', 'echo hi', 'ls'];
const IMAGE = 'potato-test/busybox:latest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
execFileSync(path.join(root, 'scripts/docker/start-engine.sh'), { stdio: 'inherit' });
execFileSync(path.join(root, 'scripts/docker/build-test-images.sh'), ['busybox'], { stdio: 'inherit' });

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function time(run: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < WARMUP; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const t = performance.now();
    await run();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return { p50: pct(samples, 50), p95: pct(samples, 95) };
}

/** One Engine exec per command, the straightforward way, for comparison. */
async function plainExec(container: Docker.Container, command: string): Promise<void> {
  const exec = await container.exec({ Cmd: ['/bin/sh', '-c', command], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  stream.resume();
  await new Promise((resolve) => stream.once('end', resolve));
  await exec.inspect();
}

const workspace = mkdtempSync(path.join(tmpdir(), 'potato-bench-sandbox-'));
for (let i = 0; i < 20; i++) writeFileSync(path.join(workspace, `file${i}.txt`), 'x\n');
const cfg = configSchema.parse({
  live_coding_agent: { backend: 'scripted', sandbox: { type: 'docker', image: IMAGE, workspace } },
  annotators: [{ username: 'a', password: 'b' }],
}).live_coding_agent.sandbox;

const local: Sandbox = new LocalSandbox({ workspace });
const docker = new DockerSandbox(cfg, `bench-${process.pid}`);
await local.start();
await docker.start();
const container = docker.docker.getContainer(docker.containerId ?? '');

const fmt = (n: number) => n.toFixed(1).padStart(7);
console.log(`sandbox bench: ${ITERATIONS} runs per command after ${WARMUP} warm-up runs; times in ms`);
console.log('command      local p50/p95    docker p50/p95   overhead p50  ratio   one-exec-per-command p50/p95');
try {
  for (const command of COMMANDS) {
    const opts = { timeoutMs: 30_000 };
    const l = await time(() => local.exec(command, opts));
    const d = await time(() => docker.exec(command, opts));
    const e = await time(() => plainExec(container, command));
    console.log(
      `${command.padEnd(10)} ${fmt(l.p50)} ${fmt(l.p95)}  ${fmt(d.p50)} ${fmt(d.p95)}  ${fmt(d.p50 - l.p50)}     ${(d.p50 / l.p50).toFixed(2).padStart(5)}x  ${fmt(e.p50)} ${fmt(e.p95)}`,
    );
  }
} finally {
  await docker.close();
  await local.close();
}

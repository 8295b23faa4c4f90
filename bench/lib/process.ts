/**
 * @module bench/lib/process
 * What the benchmarks that drive a real server process share: start bench/lib/server.ts as a
 * child (optionally under `--cpu-prof`), ask it over IPC, and percentiles.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/** Ask the server process one IPC question (see bench/lib/server.ts). */
export function ask(child: ChildProcess, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as Record<string, unknown>));
    child.send(msg);
  });
}

/**
 * Start bench/lib/server.ts on `config`; resolves once it listens. `profileDir` writes a CPU
 * profile there at exit; `nofile` lowers the server's open-file limit (prlimit), to see what an
 * operator sees when it runs out.
 */
export async function startBenchServer(
  config: string,
  port: number,
  profileDir?: string,
  nofile?: number,
): Promise<ChildProcess> {
  const node = [
    process.execPath,
    ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
    '--import',
    'tsx',
    'bench/lib/server.ts',
    config,
    String(port),
  ];
  const [file, ...args] = nofile ? ['prlimit', `--nofile=${nofile}:${nofile}`, '--', ...node] : node;
  const child = spawn(file!, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return child;
}

/**
 * @module test/cli/harness
 * The `potato` CLI as a user runs it: a copy of the demo project with its config edited, and
 * `potato start config.yaml --task …` as a child process (through tsx, from the sources).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '../..');

/** A copy of the demo project whose config.yaml went through `edit`. */
export function demoProject(edit: (config: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'potato-cli-'));
  // As root, the local sandbox's own user must pass through this folder to its workspace.
  chmodSync(dir, 0o711);
  cpSync(join(ROOT, 'examples/demo'), dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), edit(readFileSync(join(dir, 'config.yaml'), 'utf8')));
  return dir;
}

export function startHeadless(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
): ChildProcess & { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream } {
  return spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
      join(ROOT, 'src/cli/main.ts'),
      'start',
      'config.yaml',
      '--task',
      'Fix the failing test',
    ],
    { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Run to the end: exit code, pid and everything printed. */
export async function runHeadless(
  dir: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ code: number | null; pid: number; out: string; err: string }> {
  const child = startHeadless(dir, env);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return { code, pid: child.pid!, out, err };
}

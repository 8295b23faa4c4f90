/**
 * @module test/server/child
 * `potato start` as a child process (the CLI run by tsx), for the tests that kill, fill the disk
 * under, or run two of the real server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { freshSchema } from '../postgres/harness.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Served extends ChildProcess {
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

/** The database URL of each config file a server started on in the engine-pg project. */
const databases = new Map<string, string>();
const URL_VARIABLE = 'POTATO_TEST_CHILD_DATABASE_URL';

/**
 * In the engine-pg project (POTATO_TEST_STORE=postgres) a config that names no database gets one,
 * a fresh schema, written into it as `output.database_url_env`: its restarts, and a second server
 * on the same file, share it as replicas do. Elsewhere the config is left alone.
 */
async function storeEnv(config: string): Promise<NodeJS.ProcessEnv> {
  if (process.env.POTATO_TEST_STORE !== 'postgres') return {};
  let url = databases.get(config);
  if (url === undefined) {
    const doc = parseDocument(readFileSync(config, 'utf8'));
    if (doc.getIn(['output', 'database_url_env']) !== undefined) return {};
    url = (await freshSchema()).url;
    doc.setIn(['output', 'database_url_env'], URL_VARIABLE);
    writeFileSync(config, doc.toString());
    databases.set(config, url);
  }
  return { [URL_VARIABLE]: url };
}

/** Start `potato start CONFIG -p PORT` and wait until it answers; it is pushed onto `children`. */
export async function serveChild(
  config: string,
  port: number,
  children: ChildProcess[],
  env: NodeJS.ProcessEnv = {},
): Promise<Served> {
  const store = await storeEnv(config);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', config, '-p', String(port)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...store, ...env },
  }) as Served;
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  child.output = () => output;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${output}`);
    const up = await fetch(`http://127.0.0.1:${port}/api/me`).then(
      (r) => r.status === 401,
      () => false,
    );
    if (up) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the server did not answer within 30 s:\n${output}`);
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

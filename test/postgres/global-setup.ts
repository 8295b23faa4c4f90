/**
 * @module test/postgres/global-setup
 * One throwaway PostgreSQL cluster for the test run (scripts/postgres/start-cluster.sh), its URL
 * handed to the tests through `inject('postgres')`. When it cannot start (PostgreSQL is not
 * installed), the reason is handed over instead and every test that needs it fails with it:
 * the other tests of the project still run, and nothing is skipped in silence.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: { url: string } | { error: string };
  }
}

const scripts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/postgres');

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'potato-pg-'));
  try {
    const url = execFileSync('bash', [path.join(scripts, 'start-cluster.sh'), dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
    project.provide('postgres', { url });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    project.provide('postgres', { error: stderr || (err as Error).message });
  }
  return () => {
    execFileSync('bash', [path.join(scripts, 'stop-cluster.sh'), dir], { stdio: 'inherit' });
  };
}

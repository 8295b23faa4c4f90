/**
 * @module bench/lib/postgres
 * A throwaway PostgreSQL cluster for a benchmark (scripts/postgres/start-cluster.sh) with the
 * durability of production (POTATO_PG_DURABLE=1: every commit waits for its WAL to reach the
 * disk), so commits cost what they would.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const SCRIPTS = path.resolve(import.meta.dirname, '../../scripts/postgres');

export interface BenchCluster {
  url: string;
  /** The postmaster's pid (its backends are its children: treeStats counts them). */
  pid: number;
  stop(): void;
}

/** Start a cluster in `dir` (a new folder; as root the postgres user must be able to reach it). */
export function startDurableCluster(dir: string): BenchCluster {
  const url = execFileSync('bash', [path.join(SCRIPTS, 'start-cluster.sh'), dir], {
    encoding: 'utf8',
    env: { ...process.env, POTATO_PG_DURABLE: '1' },
  }).trim();
  const pid = Number(readFileSync(path.join(dir, 'data/postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url,
    pid,
    stop: () => execFileSync('bash', [path.join(SCRIPTS, 'stop-cluster.sh'), dir], { stdio: 'inherit' }),
  };
}

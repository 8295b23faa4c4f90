/**
 * @module test/postgres/harness
 * What a test on PostgreSQL needs: the URL of the run's cluster (test/postgres/global-setup.ts),
 * failing loudly when there is none, and a fresh schema per test so tests share nothing.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/store.js';

/** The URL of the test cluster; throws, failing the test, when PostgreSQL could not start. */
export function postgresUrl(): string {
  const given = inject('postgres');
  if ('url' in given) return given.url;
  throw new Error(
    `these tests need PostgreSQL (Debian's postgresql package; .ci/run installs it), and the test cluster did not start: ${given.error}`,
  );
}

/** Run SQL as the cluster's owner, outside any store. */
export async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface FreshSchema {
  name: string;
  /** A URL whose connections use this schema (what a server's `output.database_url_env` would hold). */
  url: string;
  open(): Promise<PostgresStore>;
  drop(): Promise<void>;
}

/** A new empty schema; `open` gives a store on it, `drop` removes it and everything in it. */
export async function freshSchema(): Promise<FreshSchema> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE SCHEMA ${name}`));
  const base = postgresUrl();
  return {
    name,
    url: `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${name}`)}`,
    open: () => openPostgresStore(postgresUrl(), { schema: name }),
    drop: async () => {
      await admin((c) => c.query(`DROP SCHEMA ${name} CASCADE`));
    },
  };
}

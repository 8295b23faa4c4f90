/**
 * The store a test suite runs on: SQLite at the given file, or PostgreSQL (a fresh schema, dropped
 * on dispose) when POTATO_TEST_STORE=postgres, as the `engine-pg` project sets it. The same
 * session, control, export and server suites thereby run on both stores.
 */
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';
import { freshSchema } from '../postgres/harness.js';

export async function openTestStore(sqliteFile: string): Promise<{ store: Store; dispose: () => Promise<void> }> {
  if (process.env.POTATO_TEST_STORE === 'postgres') {
    const schema = await freshSchema();
    const store = await schema.open();
    return {
      store,
      dispose: async () => {
        await store.close();
        await schema.drop();
      },
    };
  }
  const store = openSqliteStore(sqliteFile);
  return { store, dispose: () => store.close() };
}

/**
 * For a suite that starts the server from a config (`startServer` opens the store the config
 * names): on PostgreSQL, point `output.database_url_env` at a fresh schema (its URL in a variable
 * of this process, as an operator would set it); on SQLite leave the config alone. The returned
 * function drops the schema.
 */
export async function pointConfigAtTestStore(config: {
  output: { database_url_env?: string };
}): Promise<() => Promise<void>> {
  if (process.env.POTATO_TEST_STORE !== 'postgres') return async () => undefined;
  const schema = await freshSchema();
  const variable = `POTATO_TEST_DATABASE_URL_${schema.name.toUpperCase()}`;
  process.env[variable] = schema.url;
  config.output.database_url_env = variable;
  return async () => {
    delete process.env[variable];
    await schema.drop();
  };
}

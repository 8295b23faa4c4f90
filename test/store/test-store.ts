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

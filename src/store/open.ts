/**
 * @module store/open
 * `openStore(config)`: the one place that picks the store. PostgreSQL when
 * `output.database_url_env` names a variable (its URL read from the environment, never logged),
 * else the SQLite file `<output.path>/potato.db`.
 */
import path from 'node:path';
import { ConfigError } from '../config/errors.js';
import { readSecret } from '../config/secrets.js';
import type { PotatoConfig } from '../config/types.js';
import { openPostgresStore } from './postgres/store.js';
import { openSqliteStore } from './sqlite/store.js';
import type { Store } from './types.js';

type Env = Readonly<Record<string, string | undefined>>;
/** What of the config says where the store is. */
type StoreConfig = { output: Pick<PotatoConfig['output'], 'path' | 'database_url_env'> };

const KEY = 'output.database_url_env';

/** Where the store of `config` is, in words safe to log: the SQLite path, or the variable naming the database. */
export function describeStore(config: StoreConfig): string {
  const env = config.output.database_url_env;
  return env ? `PostgreSQL (the URL in ${env})` : `SQLite ${path.join(config.output.path, 'potato.db')}`;
}

/** Open the store the config names. Throws ConfigError when the variable is unset or holds no PostgreSQL URL. */
export async function openStore(config: StoreConfig, env: Env = process.env): Promise<Store> {
  const name = config.output.database_url_env;
  if (name === undefined) return openSqliteStore(path.join(config.output.path, 'potato.db'));
  const url = readSecret(name, KEY, env);
  // The value is a secret: say what is wrong with it without repeating it.
  // (No WHATWG parse: `postgresql://user@/db?host=/run/postgresql`, a Unix socket, is not a URL to it.)
  if (!/^postgres(ql)?:\/\/./.test(url)) {
    throw new ConfigError([
      {
        text: `${name} (named by ${KEY}) does not hold a PostgreSQL URL: expected postgresql://user:password@host:5432/database`,
        path: KEY,
      },
    ]);
  }
  return openPostgresStore(url);
}

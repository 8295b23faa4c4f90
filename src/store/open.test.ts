/**
 * @module store/open.test
 * openStore picks SQLite when the config names no database, and says clearly, without the
 * secret, what is wrong with the variable when it does. (PostgreSQL itself: test/store/postgres.test.ts.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, MissingSecretError } from '../config/errors.js';
import { describeStore, openStore } from './open.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-open-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const output = (extra: { database_url_env?: string } = {}) => ({ output: { path: dir, ...extra } });

describe('openStore', () => {
  it('opens the SQLite file in output.path when no database is named', async () => {
    const store = await openStore(output(), {});
    try {
      await store.createSession({
        id: 's1',
        task: 't',
        annotator: 'a',
        backend: 'ollama',
        backend_settings: {},
        status: 'created',
        end_reason: null,
        workspace: '/w',
        base_commit: null,
        current_branch_id: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      });
    } finally {
      await store.close();
    }
    expect(fs.existsSync(path.join(dir, 'potato.db'))).toBe(true);
    expect(describeStore(output())).toBe(`SQLite ${path.join(dir, 'potato.db')}`);
  });

  it('names the unset variable and the key that names it', async () => {
    const config = output({ database_url_env: 'POTATO_DATABASE_URL' });
    await expect(openStore(config, {})).rejects.toThrow(MissingSecretError);
    await expect(openStore(config, { POTATO_DATABASE_URL: '' })).rejects.toThrow(
      'POTATO_DATABASE_URL is not set: export it or change output.database_url_env',
    );
    expect(fs.existsSync(path.join(dir, 'potato.db'))).toBe(false);
  });

  it('refuses a value that is no PostgreSQL URL without repeating it', async () => {
    const config = output({ database_url_env: 'POTATO_DATABASE_URL' });
    for (const value of ['mysql://root:hunter2@db/potato', 'hunter2', 'postgres:hunter2']) {
      const err = await openStore(config, { POTATO_DATABASE_URL: value }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect(err?.message).toBe(
        'POTATO_DATABASE_URL (named by output.database_url_env) does not hold a PostgreSQL URL: expected postgresql://user:password@host:5432/database',
      );
    }
    expect(describeStore(config)).toBe('PostgreSQL (the URL in POTATO_DATABASE_URL)');
  });
});

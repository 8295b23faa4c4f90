/**
 * @module cli/store.test
 * `potato store copy` refusing what it cannot do before it touches any database: no database
 * named, a URL given where the variable's name belongs (never repeated), no SQLite file to copy,
 * the named variable unset. The copy itself runs against a real PostgreSQL in test/store/copy.test.ts
 * and test/cli/store-copy.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite/store.js';
import { run } from './main.js';

async function potato(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(['node', 'potato', ...args], {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
  });
  return { code, stdout, stderr };
}

describe('potato store copy refuses before it copies', () => {
  let project: string;
  beforeEach(async () => {
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-store-cli-'));
    await openSqliteStore(path.join(project, 'potato.db')).close();
  });
  afterEach(() => {
    fs.rmSync(project, { recursive: true, force: true });
  });

  it('is listed in help', async () => {
    const { code, stdout } = await potato('store', '--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {2}copy\b/m);
    expect((await potato('--help')).stdout).toMatch(/^ {2}store\b/m);
  });

  it('asks which database when neither a config nor a variable names one', async () => {
    expect(await potato('store', 'copy', '--project', project)).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: name the PostgreSQL database to copy into: --config with a config whose output.database_url_env names the variable holding its URL, or --database_url_env NAME\n',
    });
  });

  it('takes the name of a variable, never a URL, and does not repeat what it was given', async () => {
    const r = await potato(
      'store',
      'copy',
      '--project',
      project,
      '--database_url_env',
      'postgresql://potato:s3cret@db/potato',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      '--database_url_env takes the NAME of the environment variable that holds the database URL',
    );
    expect(`${r.stdout}${r.stderr}`).not.toContain('s3cret');
  });

  it('names the folder without potato.db, and the variable that is not set', async () => {
    const elsewhere = path.join(project, 'empty');
    fs.mkdirSync(elsewhere);
    const none = await potato('store', 'copy', '--project', elsewhere, '--database_url_env', 'POTATO_DATABASE_URL');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`nothing to copy in ${elsewhere}: potato.db is missing`);
    const name = 'POTATO_TEST_UNSET_DATABASE_URL';
    delete process.env[name];
    const unset = await potato('store', 'copy', '--project', project, '--database_url_env', name);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain(`${name} is not set: export it`);
  });
});

/**
 * Copying a SQLite store into PostgreSQL (src/store/copy.ts, `potato store copy`) on a real
 * cluster, a fresh schema per test: a damaged record or a table the copy does not know leaves the
 * target empty and says which; a lease no live process holds stays behind; a workspace path
 * from another machine's output folder is moved under the new one, and the output says so.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Io, run } from '../../src/cli/main.js';
import { copyStore } from '../../src/store/copy.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { type FreshSchema, freshSchema } from '../postgres/harness.js';
import { editStep, newSession } from './records.js';

const nothingLive = { leaseIsLive: () => false };

describe('copying a SQLite store into PostgreSQL', () => {
  let dir: string;
  let schema: FreshSchema;
  let source: SqliteStore;
  let target: PostgresStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-copy-'));
    source = openSqliteStore(path.join(dir, 'output', 'potato.db'));
    schema = await freshSchema();
    target = await schema.open();
  });
  afterEach(async () => {
    await source.close();
    await target.close();
    await schema.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const targetIsEmpty = async () => Object.values(await target.tableCounts()).every((n) => n === 0);

  /** A session with two steps and an event, as a server would leave it. */
  async function recorded(id: string): Promise<void> {
    await source.createSession(newSession(id));
    await source.insertStep(editStep(id, `${id}-0`, null, 0));
    await source.insertStep(editStep(id, `${id}-1`, `${id}-0`, 1));
    await source.appendEvent(id, { type: 'status', status: 'running', activity: 'thinking' });
  }

  /** Write to the file behind the store's back, as a damaged or foreign file would hold it. */
  function raw(sql: string): void {
    const db = new Database(source.path);
    try {
      db.pragma('foreign_keys = OFF');
      db.exec(sql);
    } finally {
      db.close();
    }
  }

  it('writes nothing when a record fails on the way, and names the session it was copying', async () => {
    await recorded('good');
    await recorded('damaged');
    // A label of a step that is not there: SQLite took it with its checks off.
    raw(
      `INSERT INTO step_labels (session_id, step_id, annotator, label, first_error, updated_at)
        VALUES ('damaged', 'no-such-step', 'observer1', 'correct', 0, 1)`,
    );
    await expect(copyStore(source, target, nothingLive)).rejects.toThrow(
      /^copying session damaged failed, so nothing was copied: .*step_labels/,
    );
    // The session copied before it is gone too: one transaction.
    expect(await targetIsEmpty()).toBe(true);
    // Repaired, the same copy goes through.
    raw(`DELETE FROM step_labels WHERE step_id = 'no-such-step'`);
    const report = await copyStore(source, target, nothingLive);
    expect(report.tables.find((t) => t.table === 'steps')).toMatchObject({ source: 4, target: 4 });
    expect((await target.listSessions()).map((s) => s.id)).toEqual(['good', 'damaged']);
  });

  it('refuses a table it does not know before writing anything, saying where to teach it', async () => {
    await recorded('s1');
    raw('CREATE TABLE notes (id TEXT PRIMARY KEY)');
    await expect(copyStore(source, target, nothingLive)).rejects.toThrow(
      'the source store has a table this copy does not know (notes): nothing was copied. Say in src/store/copy.ts (TABLES) how it moves',
    );
    expect(await targetIsEmpty()).toBe(true);
  });

  it('leaves a lease no live process holds behind, and moves workspace paths under the output folder', async () => {
    const elsewhere = '/srv/old-machine/output/workspaces/moved';
    await source.createSession({ ...newSession('moved'), workspace: elsewhere, status: 'running' });
    await source.createSession({ ...newSession('custom'), workspace: '/data/kept-as-it-is' });
    // The owner died long ago on another host: its lease expired.
    expect(await source.acquireLease('moved', 'old-machine:4242:beef', 1000, 2000, () => false)).toEqual({
      acquired: true,
    });
    const output = path.join(dir, 'output');
    const name = 'POTATO_TEST_COPY_URL';
    const url = schema.url;
    process.env[name] = url;
    let out = '';
    let err = '';
    const io: Io = {
      out: (t) => {
        out += t;
      },
      err: (t) => {
        err += t;
      },
    };
    try {
      const code = await run(['node', 'potato', 'store', 'copy', '--project', output, '--database_url_env', name], io);
      expect(err).toBe('');
      expect(code).toBe(0);
    } finally {
      delete process.env[name];
    }
    expect(out).toMatch(/^session_leases +1 +0 +not copied: which server process runs a session/m);
    expect(out).toContain(
      `1 session's workspace path now points into ${path.join(output, 'workspaces')} (output.path)`,
    );
    expect(out).toContain(
      `2 sessions' workspaces are not there (${path.join(output, 'workspaces', 'moved')}, …): they can be viewed, labelled and exported, but not continued or rolled back until the folder is.`,
    );
    expect(out).not.toContain(url);
    expect((await target.getSession('moved'))?.workspace).toBe(path.join(output, 'workspaces', 'moved'));
    expect((await target.getSession('custom'))?.workspace).toBe('/data/kept-as-it-is');
    expect(await target.getLease('moved')).toBeNull();
    // The rest of the record is as it was.
    const { workspace: _w, ...rest } = (await source.getSession('moved'))!;
    expect(await target.getSession('moved')).toMatchObject(rest);
  });
});

/**
 * @module checkpoints/git/index-file
 * The git index (`$GIT_DIR/index`, version 2) written in process, so the user's `git status` in
 * the workspace agrees with the checkpoint without a `git reset` process that would read the
 * repository's config, run fsmonitor or filters, take index.lock behind the store's back, or
 * race a rollback. Entries whose stat data the store knows (the file on disk is the one hashed)
 * carry it; the others carry zeros, which git treats as "look at the contents".
 */
import { createHash } from 'node:crypto';
import { lstatSync, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { createFile } from './files.js';
import { CheckpointError } from './repo.js';

export interface IndexStat {
  ctimeMs: number;
  mtimeMs: number;
  dev: number;
  ino: number;
  uid: number;
  gid: number;
  size: number;
}

export interface IndexEntry {
  path: string;
  /** Git mode: 100644, 100755, 120000 or 160000. */
  mode: string;
  oid: string;
  stat: IndexStat | null;
}

const LOCK_STALE_MS = 10_000;

function secNs(ms: number): [number, number] {
  const sec = Math.floor(ms / 1000);
  return [sec >>> 0, Math.min(999_999_999, Math.max(0, Math.round((ms - sec * 1000) * 1e6))) >>> 0];
}

/** Serialise entries (any order) as an index file, checksum included. */
export function serializeIndex(entries: IndexEntry[]): Buffer {
  const rows = entries
    .map((e) => ({ e, name: Buffer.from(e.path, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.name, b.name));
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.write('DIRC', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(rows.length, 8);
  parts.push(header);
  for (const { e, name } of rows) {
    const len = 62 + name.length;
    const padded = Math.ceil((len + 1) / 8) * 8;
    const b = Buffer.alloc(padded);
    const s = e.stat;
    if (s) {
      const [cs, cn] = secNs(s.ctimeMs);
      const [ms, mn] = secNs(s.mtimeMs);
      b.writeUInt32BE(cs, 0);
      b.writeUInt32BE(cn, 4);
      b.writeUInt32BE(ms, 8);
      b.writeUInt32BE(mn, 12);
      b.writeUInt32BE(s.dev >>> 0, 16);
      b.writeUInt32BE(s.ino >>> 0, 20);
      b.writeUInt32BE(s.uid >>> 0, 28);
      b.writeUInt32BE(s.gid >>> 0, 32);
      b.writeUInt32BE(s.size >>> 0, 36);
    }
    b.writeUInt32BE(Number.parseInt(e.mode, 8), 24);
    b.write(e.oid, 40, 'hex');
    b.writeUInt16BE(Math.min(name.length, 0xfff), 60);
    name.copy(b, 62);
    parts.push(b);
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}

/**
 * Replace `$GIT_DIR/index` atomically under git's own `index.lock`. A lock held by a user's git
 * command right now is respected (false: try again later); one left by a crash is taken over.
 * The lock is made off the event loop (files.ts).
 */
export async function writeIndexFile(gitDir: string, entries: IndexEntry[]): Promise<boolean> {
  const lock = join(gitDir, 'index.lock');
  const data = serializeIndex(entries);
  try {
    await createFile(lock, data);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new CheckpointError(`cannot write ${lock}: ${(err as Error).message}`, 'checkpoint_failed', { cause: err });
    }
    let age = 0;
    try {
      age = Date.now() - lstatSync(lock).mtimeMs;
    } catch {
      // The lock went away since EEXIST: its holder just finished, and age 0 means try again later.
    }
    if (age < LOCK_STALE_MS) return false;
    rmSync(lock, { force: true });
    await createFile(lock, data);
  }
  // Renaming over the index makes ext4 start writing the new file's data first (auto_da_alloc): off the loop.
  await rename(lock, join(gitDir, 'index'));
  return true;
}

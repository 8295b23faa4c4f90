/**
 * @module checkpoints/git/files
 * How the checkpoint store makes a file without stalling the event loop. Making a file (an inode
 * and a directory entry) waits for the file system's journal: 0.2–1.5 ms of the calling thread
 * on this project's 2-core VM, far more under load, and the store makes several per checkpoint
 * (objects, a ref's lock, a record, the index's lock). So the open that creates the file runs on
 * libuv's pool; writing a small buffer into the open file, closing it, renaming it and appending
 * to an existing file cost microseconds and stay synchronous, each sparing a round trip through
 * the pool (bench/capacity and bench/checkpoint in docs/benchmarks.md).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, open, openSync, rmSync, write, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { reportIgnored } from '../../errors.js';

const openAsync = promisify(open);

/** Writes above this size go through the pool too (a large index file). */
const SYNC_WRITE_MAX = 256 * 1024;

/**
 * Create `file` holding `data`: `exclusive` (the default) fails with EEXIST when it is there
 * (a lock, a fresh temporary name); otherwise it is truncated. `mode` as for open(2).
 */
export async function createFile(
  file: string,
  data: Buffer | string,
  opts: { mode?: number; exclusive?: boolean } = {},
): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const fd = await openAsync(file, opts.exclusive === false ? 'w' : 'wx', opts.mode ?? 0o666);
  try {
    if (bytes.length > SYNC_WRITE_MAX) await writeAllAsync(fd, bytes);
    else for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
  } finally {
    closeSync(fd);
  }
}

/** The rest of `bytes` from `at`, on the pool. */
function writeFrom(fd: number, bytes: Buffer, at: number): Promise<number> {
  return new Promise((resolve, reject) =>
    write(fd, bytes, at, bytes.length - at, null, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

async function writeAllAsync(fd: number, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; ) at += await writeFrom(fd, bytes, at);
}

/**
 * Empty files made ahead of need, in the background, in a folder of the server's own inside the
 * git directory: the store fills one and renames it into place (an object, a record) or links
 * it as a lock, all cheap operations, so neither the loop nor a checkpoint waits for a file to
 * be made. When none is ready (a burst), the caller makes its file with createFile. close()
 * removes the unused ones; prime() the ones a crash left.
 */
export class SpareFiles {
  private readonly spare: string[] = [];
  private filling = false;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly low = 12,
    private readonly high = 32,
  ) {}

  /** Remove what a crash left, then start making spares (the first checkpoints find them ready). */
  prime(): void {
    rmSync(this.dir, { recursive: true, force: true });
    this.fill();
  }

  /** A spare file now holding `data` with permissions `mode`; its path, or null when none is ready. */
  filled(data: Buffer | string, mode: number): string | null {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let file = this.take(); file !== null; file = this.take()) {
      let fd: number | null = null;
      try {
        fd = openSync(file, constants.O_WRONLY | constants.O_NOFOLLOW);
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
        fchmodSync(fd, mode);
        return file;
      } catch (err) {
        rmSync(file, { force: true });
        // Removed under us (`git gc` clears temporary files): the next spare, or none.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      } finally {
        if (fd !== null) closeSync(fd);
      }
    }
    return null;
  }

  private take(): string | null {
    const file = this.spare.pop() ?? null;
    if (this.spare.length < this.low) this.fill();
    return file;
  }

  close(): void {
    this.closed = true;
    for (const f of this.spare.splice(0)) rmSync(f, { force: true });
  }

  private fill(): void {
    if (this.filling || this.closed) return;
    this.filling = true;
    const run = async () => {
      await mkdir(this.dir, { recursive: true });
      while (!this.closed && this.spare.length < this.high) {
        // A few at a time: libuv's pool has four threads.
        const batch = Array.from({ length: 4 }, () => join(this.dir, randomBytes(8).toString('hex')));
        await Promise.all(batch.map((file) => createFile(file, '', { mode: 0o600 })));
        if (this.closed) for (const file of batch) rmSync(file, { force: true });
        else this.spare.push(...batch);
      }
    };
    run()
      .catch((err: unknown) => {
        // Without spares each file is made as it is needed (createFile): slower, never wrong.
        if (!this.closed) reportIgnored(err, `making spare files in ${this.dir}`);
      })
      .finally(() => {
        this.filling = false;
      });
  }
}

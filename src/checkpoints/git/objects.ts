/**
 * @module checkpoints/git/objects
 * The git object database, written in process: an object is zlib-deflated
 * "<type> <size>\0<content>" stored as .git/objects/<2 hex>/<38 hex>, named by the SHA-1 of the
 * uncompressed bytes. Writing in process is what makes a one-file checkpoint take a millisecond
 * instead of four child processes. Reading tries the loose file first and falls back to one
 * long-lived `git cat-file --batch-command` for objects that live in packs.
 *
 * Trees, commits and small blobs are handled in memory; a file's blob from STREAM_MIN_BYTES up
 * goes through blobs.ts, streamed, so its size costs time in proportion and never memory.
 *
 * Object files are made in the background (files.ts: the open that creates one on libuv's pool,
 * never on the event loop), side by side; `settle()` is the barrier before a ref names them.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { constants, deflateSync, inflateSync } from 'node:zlib';
import type { HostedProcess } from '../../process/host.js';
import {
  BlobError,
  inflateLooseBlob,
  looseHeader,
  restoreTemp,
  SAFE_READ,
  STREAM_MIN_BYTES,
  writeLooseBlob,
} from './blobs.js';
import { createFile, type SpareFiles } from './files.js';
import { git, gitProcess } from './git.js';

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag';

export interface GitObject {
  type: ObjectType;
  data: Buffer;
}

export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export class ObjectStore {
  private readonly knownDirs = new Set<string>();
  /** Objects being written (write()), by id, until they are in place. */
  private readonly pending = new Map<string, Promise<void>>();
  /** The first background write that failed since the last settle(). */
  private failed: unknown = null;
  private batch: CatFileBatch | null = null;
  /** Ends every streamed read and write still running when the store closes. */
  private readonly aborter = new AbortController();

  constructor(
    private readonly objectsDir: string,
    /** The server's git directory: every git process here runs sealed against it (git.ts). */
    private readonly gitDir: string,
    /** Files made ahead of need (a writing store's); without them each object's file is made when written. */
    private readonly spares?: SpareFiles,
  ) {}

  /**
   * Store an object; its id at once. The file is made in the background (its folder, a temporary
   * name, then renamed, as git does: a reader never sees half an object); `settle()` waits for
   * every one, and nothing may name an object from a ref before that. Objects of one checkpoint
   * are thus written side by side instead of one after another.
   */
  write(type: ObjectType, content: Buffer): string {
    const header = Buffer.from(`${type} ${content.length}\0`);
    const full = Buffer.concat([header, content]);
    const oid = createHash('sha1').update(full).digest('hex');
    const dir = join(this.objectsDir, oid.slice(0, 2));
    const file = join(dir, oid.slice(2));
    // A lookup, not a write: cheap on the loop, and most objects written again are already there.
    if (this.pending.has(oid) || existsSync(file)) return oid;
    const data = deflateSync(full, { level: constants.Z_BEST_SPEED });
    const spare = this.spares?.filled(data, 0o444) ?? null;
    if (spare && (this.knownDirs.has(dir) || existsSync(dir))) {
      this.knownDirs.add(dir);
      try {
        // Whole already: renamed into place (a new name: cheap), it is there at once.
        renameSync(spare, file);
        return oid;
      } catch {
        // The fan-out folder went (a user's `git prune`) or is not one: the background write
        // below makes it, or its failure reaches settle() like any other.
        this.knownDirs.delete(dir);
      }
    }
    const keep = spare && existsSync(spare) ? spare : null;
    const done = this.writeLoose(dir, file, data, keep).finally(() => this.pending.delete(oid));
    // The failure is kept for settle(), which every caller awaits before naming the object from a ref.
    done.catch((err: unknown) => {
      this.failed ??= err;
    });
    this.pending.set(oid, done);
    return oid;
  }

  /**
   * Every object written so far is in place. Throws the first write that failed since the last
   * settle (the caller then must not use ids it got since: see GitCheckpointStore.commit).
   */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending.values()]);
    const failed = this.failed;
    this.failed = null;
    if (failed) throw failed;
  }

  /** Make the object's file: its fan-out folder first when needed, then `spare` (filled) or a new file renamed into place. */
  private async writeLoose(dir: string, file: string, data: Buffer, spare: string | null): Promise<void> {
    const tmp = spare ?? join(dir, `tmp_obj_${randomBytes(6).toString('hex')}`);
    try {
      if (!this.knownDirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.knownDirs.add(dir);
      }
      if (spare) {
        try {
          await rename(spare, file);
        } catch (err) {
          // A user's `git prune` removes fan-out directories it empties: make it again, once.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          await mkdir(dir, { recursive: true });
          await rename(spare, file);
        }
        return;
      }
      try {
        await createFile(tmp, data, { mode: 0o444 });
      } catch (err) {
        // A user's `git prune` removes fan-out directories it empties: make it again, once.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await mkdir(dir, { recursive: true });
        await createFile(tmp, data, { mode: 0o444 });
      }
      await rename(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /** The write of an object this store is still making, to wait for before reading it (no wait otherwise). */
  private writing(oid: string): Promise<void> | undefined {
    return this.pending.get(oid);
  }

  /**
   * Store the regular file at `abs` (`size` bytes when it was lstat'ed) as a blob; its id, or
   * null when it is no longer a readable regular file.
   */
  async writeFileBlob(abs: string, size: number, known?: string): Promise<string | null> {
    if (size >= STREAM_MIN_BYTES) return writeLooseBlob(this.objectsDir, abs, this.aborter.signal);
    let content: Buffer;
    let fd: number | null = null;
    try {
      fd = openSync(abs, SAFE_READ);
      if (!fstatSync(fd).isFile()) return null;
      content = readFileSync(fd);
    } catch {
      // Vanished or not a plain file since the lstat: not a file to store now.
      return null;
    } finally {
      if (fd !== null) closeSync(fd);
    }
    // The blob the tree already has (often packed, e.g. every file at step 0) is not written again.
    if (known && createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex') === known) {
      return known;
    }
    return this.write('blob', content);
  }

  /**
   * Make `abs` a regular file holding blob `oid`, with exactly `mode`: written aside and renamed
   * over `abs` (whatever file or symlink was there), so it holds the old or the new bytes, never
   * a mix. Streamed from STREAM_MIN_BYTES up; a packed blob then never passes through here.
   */
  async checkoutBlob(oid: string, abs: string, mode: number): Promise<void> {
    const writing = this.writing(oid);
    if (writing !== undefined) await writing;
    const loose = this.loosePath(oid);
    const info = looseHeader(loose) ?? (await this.batchOf().info(oid));
    if (info.type !== 'blob') throw new BlobError(`git object ${oid} is a ${info.type}, not a file's content.`);
    if (info.size < STREAM_MIN_BYTES) {
      // Small: beside the file, synchronously, as fast as the write itself.
      const tmp = join(dirname(abs), `.potato-restore-${randomBytes(6).toString('hex')}`);
      try {
        writeFileSync(tmp, (await this.read(oid)).data, { flag: 'wx', mode });
        chmodSync(tmp, mode);
        renameSync(tmp, abs);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
      return;
    }
    const tmp = await restoreTemp(this.objectsDir, abs);
    try {
      const signal = this.aborter.signal;
      if (existsSync(loose)) await inflateLooseBlob(loose, oid, tmp, mode, signal);
      else {
        await git(['cat-file', 'blob', oid], { gitDir: this.gitDir, stdoutFile: { path: tmp, mode }, signal });
        const got = (await stat(tmp)).size;
        if (got !== info.size) {
          throw new BlobError(`git cat-file wrote ${got} bytes of blob ${oid}, which has ${info.size}.`);
        }
      }
      // The umask applied at creation; the checkpoint's mode is exact.
      await chmod(tmp, mode);
      await rename(tmp, abs);
    } catch (err) {
      await rm(tmp, { force: true });
      if (this.aborter.signal.aborted) throw new BlobError(`restoring ${abs} was cancelled: the store closed.`);
      throw err;
    }
  }

  /** An object's type and size without reading its content (a loose one: its first bytes only). */
  async info(oid: string): Promise<{ type: ObjectType; size: number }> {
    const writing = this.writing(oid);
    if (writing !== undefined) await writing;
    const loose = looseHeader(this.loosePath(oid));
    if (loose) return { type: loose.type as ObjectType, size: loose.size };
    return this.batchOf().info(oid);
  }

  async read(oid: string): Promise<GitObject> {
    const writing = this.writing(oid);
    if (writing !== undefined) await writing;
    let raw: Buffer | null = null;
    try {
      raw = readFileSync(this.loosePath(oid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (raw) {
      const full = inflateSync(raw);
      const nul = full.indexOf(0);
      const [type] = full.subarray(0, nul).toString('latin1').split(' ');
      return { type: type as ObjectType, data: full.subarray(nul + 1) };
    }
    return this.batchOf().read(oid);
  }

  /** Ends the batch process and cancels streamed reads and writes still running. */
  close(): void {
    this.aborter.abort(new BlobError('the checkpoint store closed.'));
    this.batch?.close();
    this.batch = null;
  }

  private loosePath(oid: string): string {
    return join(this.objectsDir, oid.slice(0, 2), oid.slice(2));
  }

  private batchOf(): CatFileBatch {
    if (this.aborter.signal.aborted) throw new BlobError('the checkpoint store is closed.');
    this.batch ??= new CatFileBatch(this.gitDir);
    return this.batch;
  }
}

interface Pending {
  oid: string;
  /** `info`: type and size only; `contents`: the object too. */
  what: 'info' | 'contents';
  resolve: (o: GitObject & { size: number }) => void;
  reject: (e: Error) => void;
}

/**
 * One `git cat-file --batch-command` process: requests are answered in order, so a FIFO of
 * waiters suffices. Output is kept as a list of chunks and joined once per object, so reading
 * an object costs time in proportion to its size.
 */
class CatFileBatch {
  private readonly child: HostedProcess;
  private readonly queue: Pending[] = [];
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** The header of the object whose content is awaited. */
  private body: { type: ObjectType; size: number } | null = null;
  private failed: Error | null = null;

  constructor(gitDir: string) {
    this.child = gitProcess(['cat-file', '--batch-command'], { gitDir });
    this.child.on('stdout', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.drain();
    });
    const fail = (err: Error) => {
      this.failed = err;
      for (const p of this.queue.splice(0)) p.reject(err);
    };
    this.child.on('error', fail);
    this.child.on('exit', (code) => fail(new Error(`git cat-file --batch-command exited (${code})`)));
  }

  read(oid: string): Promise<GitObject> {
    return this.ask(oid, 'contents');
  }

  info(oid: string): Promise<{ type: ObjectType; size: number }> {
    return this.ask(oid, 'info');
  }

  private ask(oid: string, what: Pending['what']): Promise<GitObject & { size: number }> {
    if (this.failed) return Promise.reject(this.failed);
    if (!/^[0-9a-f]{40}$/.test(oid)) return Promise.reject(new Error(`${oid} is not a git object id`));
    return new Promise((resolve, reject) => {
      this.queue.push({ oid, what, resolve, reject });
      this.child.write(`${what} ${oid}\n`);
    });
  }

  /** Remove and return the first `n` buffered bytes (one copy). */
  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = this.chunks[0]!;
      if (head.length <= need) {
        parts.push(head);
        this.chunks.shift();
        need -= head.length;
      } else {
        parts.push(head.subarray(0, need));
        this.chunks[0] = head.subarray(need);
        need = 0;
      }
    }
    this.buffered -= n;
    return Buffer.concat(parts, n);
  }

  /** Offset of the first newline in the buffered bytes, or -1. */
  private newline(): number {
    let base = 0;
    for (const c of this.chunks) {
      const i = c.indexOf(10);
      if (i >= 0) return base + i;
      base += c.length;
    }
    return -1;
  }

  private drain(): void {
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      if (!this.body) {
        const nl = this.newline();
        if (nl < 0) return;
        const parts = this.take(nl + 1)
          .subarray(0, nl)
          .toString('latin1')
          .split(' ');
        if (parts[1] === 'missing' || parts.length < 3) {
          this.queue.shift();
          head.reject(new Error(`git object ${head.oid} does not exist in this repository`));
          continue;
        }
        const header = { type: parts[1] as ObjectType, size: Number(parts[2]) };
        if (head.what === 'info') {
          this.queue.shift();
          head.resolve({ ...header, data: Buffer.alloc(0) });
          continue;
        }
        this.body = header;
      }
      if (this.buffered < this.body.size + 1) return;
      const data = this.take(this.body.size);
      this.take(1);
      const { type, size } = this.body;
      this.body = null;
      this.queue.shift();
      head.resolve({ type, size, data });
    }
  }

  close(): void {
    this.child.end();
  }
}

export interface TreeEntry {
  mode: string;
  oid: string;
}

export function parseTree(data: Buffer): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(32, i);
    const nul = data.indexOf(0, sp);
    const mode = data.subarray(i, sp).toString('latin1');
    const name = data.subarray(sp + 1, nul).toString('utf8');
    out.set(name, { mode, oid: data.subarray(nul + 1, nul + 21).toString('hex') });
    i = nul + 21;
  }
  return out;
}

export const TREE_MODE = '40000';

/** Git orders tree entries by name bytes, a subtree's name compared as if it ended in '/'. */
export function serializeTree(entries: Iterable<[string, TreeEntry]>): Buffer {
  const rows: { key: Buffer; bytes: Buffer }[] = [];
  for (const [name, e] of entries) {
    const nameBuf = Buffer.from(name, 'utf8');
    const key = e.mode === TREE_MODE ? Buffer.concat([nameBuf, Buffer.from('/')]) : nameBuf;
    rows.push({
      key,
      bytes: Buffer.concat([Buffer.from(`${e.mode} `), nameBuf, Buffer.from([0]), Buffer.from(e.oid, 'hex')]),
    });
  }
  rows.sort((a, b) => Buffer.compare(a.key, b.key));
  return Buffer.concat(rows.map((r) => r.bytes));
}

export interface CommitInfo {
  tree: string;
  parents: string[];
}

export function parseCommit(data: Buffer): CommitInfo {
  const text = data.toString('utf8');
  const headerEnd = text.indexOf('\n\n');
  const header = headerEnd < 0 ? text : text.slice(0, headerEnd);
  let tree = '';
  const parents: string[] = [];
  for (const line of header.split('\n')) {
    if (line.startsWith('tree ')) tree = line.slice(5);
    else if (line.startsWith('parent ')) parents.push(line.slice(7));
  }
  return { tree, parents };
}

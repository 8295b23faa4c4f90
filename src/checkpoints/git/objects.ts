/**
 * @module checkpoints/git/objects
 * The git object database, written in process: an object is zlib-deflated
 * "<type> <size>\0<content>" stored as .git/objects/<2 hex>/<38 hex>, named by the SHA-1 of the
 * uncompressed bytes. Writing in process is what makes a one-file checkpoint take a millisecond
 * instead of four child processes. Reading tries the loose file first and falls back to one
 * long-lived `git cat-file --batch` for objects that live in packs.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, deflateSync, inflateSync } from 'node:zlib';

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag';

export interface GitObject {
  type: ObjectType;
  data: Buffer;
}

export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export class ObjectStore {
  private readonly knownDirs = new Set<string>();
  private batch: CatFileBatch | null = null;

  constructor(
    private readonly objectsDir: string,
    private readonly repoDir: string,
  ) {}

  write(type: ObjectType, content: Buffer): string {
    const header = Buffer.from(`${type} ${content.length}\0`);
    const full = Buffer.concat([header, content]);
    const oid = createHash('sha1').update(full).digest('hex');
    const dir = join(this.objectsDir, oid.slice(0, 2));
    const file = join(dir, oid.slice(2));
    if (existsSync(file)) return oid;
    if (!this.knownDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.knownDirs.add(dir);
    }
    // Written aside then renamed, as git does, so a reader never sees half an object.
    const tmp = join(dir, `tmp_obj_${randomBytes(6).toString('hex')}`);
    writeFileSync(tmp, deflateSync(full, { level: constants.Z_BEST_SPEED }), { mode: 0o444 });
    renameSync(tmp, file);
    return oid;
  }

  async read(oid: string): Promise<GitObject> {
    let raw: Buffer | null = null;
    try {
      raw = readFileSync(join(this.objectsDir, oid.slice(0, 2), oid.slice(2)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (raw) {
      const full = inflateSync(raw);
      const nul = full.indexOf(0);
      const [type] = full.subarray(0, nul).toString('latin1').split(' ');
      return { type: type as ObjectType, data: full.subarray(nul + 1) };
    }
    this.batch ??= new CatFileBatch(this.repoDir);
    return this.batch.read(oid);
  }

  close(): void {
    this.batch?.close();
    this.batch = null;
  }
}

interface Pending {
  oid: string;
  resolve: (o: GitObject) => void;
  reject: (e: Error) => void;
}

/** One `git cat-file --batch` process: requests are answered in order, so a FIFO of waiters suffices. */
class CatFileBatch {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly queue: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private failed: Error | null = null;

  constructor(cwd: string) {
    this.child = spawn('git', ['cat-file', '--batch'], { cwd });
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.drain();
    });
    const fail = (err: Error) => {
      this.failed = err;
      for (const p of this.queue.splice(0)) p.reject(err);
    };
    this.child.on('error', fail);
    this.child.on('exit', (code) => fail(new Error(`git cat-file --batch exited (${code})`)));
    this.child.stdin.on('error', fail);
  }

  read(oid: string): Promise<GitObject> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ oid, resolve, reject });
      this.child.stdin.write(`${oid}\n`);
    });
  }

  private drain(): void {
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl).toString('latin1');
      const parts = line.split(' ');
      if (parts[1] === 'missing' || parts.length < 3) {
        this.buf = this.buf.subarray(nl + 1);
        this.queue.shift();
        head.reject(new Error(`git object ${head.oid} does not exist in this repository`));
        continue;
      }
      const size = Number(parts[2]);
      if (this.buf.length < nl + 1 + size + 1) return;
      const data: Buffer = Buffer.from(this.buf.subarray(nl + 1, nl + 1 + size));
      this.buf = this.buf.subarray(nl + 1 + size + 1);
      this.queue.shift();
      head.resolve({ type: parts[1] as ObjectType, data });
    }
  }

  close(): void {
    this.child.stdin.end();
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

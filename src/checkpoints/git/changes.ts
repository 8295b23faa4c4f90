/**
 * @module checkpoints/git/changes
 * What changed in the workspace since the last checkpoint, without hashing the whole tree.
 *
 * One inotify watch per non-ignored directory (fs.watch, one inotify instance per process)
 * records the names that changed. Before answering, a sentinel file written in the git
 * directory is waited for: inotify keeps one queue in order, so once its event arrives every
 * earlier event has been seen. Only the recorded paths are examined (lstat, then hash when the
 * stat signature moved). The kernel drops events when its queue overflows and Node does not
 * report that; but an overflow implies at least max_queued_events events since the last
 * answer, so past that count the detector falls back to a full scan, as it does when a watch
 * cannot be added. The full scan compares lstat signatures with a stat cache and hashes only
 * files whose signature moved or is too recent to trust (git's "racy" case).
 */

import {
  type FSWatcher,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  type Stats,
  watch,
} from 'node:fs';
import { join } from 'node:path';
import { reportIgnored } from '../../errors.js';
import { limitHint } from '../../process/limits.js';
import { createFile } from './files.js';
import type { IgnoreChecker } from './ignore.js';
import type { IndexStat } from './index-file.js';
import { type ObjectStore, serializeTree, TREE_MODE, type TreeEntry } from './objects.js';
import { DIR_MODE, type FileState, NESTED_MODE, sameState, type WorkTree } from './tree.js';

export type ChangeSet = Map<string, FileState | null>;

interface CacheEntry {
  sig: string;
  oid: string;
  mode: string;
  stat: IndexStat;
  /** The file's ctime was too close to when it was recorded to trust an unchanged signature. */
  racy: boolean;
}

const RACY_MS = 20;

function readQueueLimit(): number {
  try {
    return Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8').trim()) || 16384;
  } catch {
    // No /proc (not Linux): the kernel's default queue length.
    return 16384;
  }
}

export function modeOf(st: Stats): string {
  if (st.isSymbolicLink()) return '120000';
  return st.mode & 0o100 ? '100755' : '100644';
}

/** Permission bits as the filesystem has them (setuid/setgid/sticky included); none for a symlink. */
export function permOf(st: Stats): number | undefined {
  return st.isSymbolicLink() ? undefined : st.mode & 0o7777;
}

/** A nested repository's `.git`, as stored: a tree (directory) or a blob (a `.git` file or symlink). */
export interface NestedRecord {
  kind: 'dir' | 'file' | 'link';
  oid: string;
  /** Permission bits of every file and directory inside (paths relative to the `.git`; '' is itself). */
  perms: Record<string, number>;
}

export interface DetectorOptions {
  root: string;
  gitDir: string;
  db: ObjectStore;
  ignore: IgnoreChecker;
  tree: () => WorkTree;
  watch: boolean;
}

export class ChangeDetector {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly watchers = new Map<string, { w: FSWatcher; ino: number }>();
  private dirty = new Set<string>();
  private events = 0;
  private readonly queueLimit = readQueueLimit();
  private needFull = true;
  private watching: boolean;
  private sentinel: FSWatcher | null = null;
  private flushSeq = 0;
  private flushWaiters = new Map<string, () => void>();
  private flushing: Promise<void> = Promise.resolve();
  /** The sentinel file (renamed on every flush), once made. */
  private sentinelFile: string | null = null;
  private trustBefore = 0;
  /** Nested repositories met since the last answer (their `.git` is examined whole). */
  private readonly nestedSeen = new Set<string>();
  /** Set by forgetAll() until the next full scan: named paths are not enough to answer. */
  forgotten = false;
  /** Why the last answer came from a full scan, for the benchmark and tests to report. */
  lastMode: 'watch' | 'full' | 'paths' = 'full';

  constructor(private readonly o: DetectorOptions) {
    this.watching = o.watch;
  }

  /**
   * Install the watches and fill the stat cache. The tree is what the disk held at `capturedAt`
   * (ms): a file whose times are older than that is taken as the tree says, without reading it.
   */
  async start(capturedAt: number): Promise<ChangeSet> {
    this.trustBefore = capturedAt - RACY_MS;
    this.removeSentinels();
    if (this.watching) {
      try {
        this.sentinel = watch(this.o.gitDir, { persistent: false }, (_ev, name) => {
          if (name) this.flushWaiters.get(String(name))?.();
        });
        this.sentinel.on('error', () => this.stopWatching());
      } catch (err) {
        // No inotify here (or none left): full scans answer instead (slower, never wrong).
        this.reportLostWatches(err);
        this.watching = false;
      }
    }
    const out: ChangeSet = new Map();
    await this.scanDir('', out);
    await this.examineNested(out);
    this.needFull = !this.watching;
    this.trustBefore = 0;
    this.dirty.clear();
    this.events = 0;
    return out;
  }

  get isWatching(): boolean {
    return this.watching;
  }

  /** Forget what is known: the next answer comes from a full scan (after a .gitignore edit, a foreign HEAD move). */
  invalidate(): void {
    this.needFull = true;
  }

  /** Forget every file's hash too (objects they named may never have been written): the next answer hashes anew. */
  forgetAll(): void {
    this.cache.clear();
    this.needFull = true;
    this.forgotten = true;
  }

  /** Disk versus the tree, everywhere something may have changed. */
  async collect(): Promise<ChangeSet> {
    const out: ChangeSet = new Map();
    if (this.watching && !this.needFull) await this.flush();
    if (!this.watching || this.needFull || this.events >= this.queueLimit - 1) {
      await this.fullScan(out);
      await this.examineNested(out);
      return out;
    }
    const paths = [...this.dirty].sort();
    this.dirty = new Set();
    this.events = 0;
    if (paths.some((p) => p === '.gitignore' || p.endsWith('/.gitignore'))) {
      this.o.ignore.restart();
      await this.fullScan(out);
      await this.examineNested(out);
      return out;
    }
    this.lastMode = 'watch';
    await this.examineAll(paths, out, false);
    return out;
  }

  /** Disk versus the tree at the given paths only (the step said what it touched). */
  async collectPaths(paths: string[]): Promise<ChangeSet> {
    const out: ChangeSet = new Map();
    this.lastMode = 'paths';
    await this.examineAll(paths, out, true);
    if (paths.some((p) => p === '.gitignore' || p.endsWith('/.gitignore'))) {
      this.o.ignore.restart();
      this.needFull = true;
    }
    return out;
  }

  /** Each path, then the directories holding them (one may have become empty or been made), then nested repositories. */
  private async examineAll(paths: string[], out: ChangeSet, deep: boolean): Promise<void> {
    const parents = new Set<string>();
    for (const p of paths) {
      await this.examine(p, out, deep);
      for (let d = parentOf(p); d !== ''; d = parentOf(d)) {
        if (parents.has(d)) break;
        parents.add(d);
      }
    }
    for (const d of parents) {
      const st = this.lstat(d);
      if (st?.isDirectory()) await this.examineDirRecord(d, st, out);
    }
    await this.examineNested(out);
  }

  /** Every nested repository's `.git` is compared in full on every answer (their insides are not watched). */
  private async examineNested(out: ChangeSet): Promise<void> {
    const known = new Set([...this.o.tree().extras.nested.keys(), ...this.nestedSeen]);
    this.nestedSeen.clear();
    for (const g of known) {
      if (out.has(g)) continue;
      const st = this.lstat(g);
      const parent = this.lstat(parentOf(g));
      const state = st && parent?.isDirectory() ? await this.snapshotNested(g, st) : null;
      const cur = await this.o.tree().lookup(g);
      if (!sameState(cur === 'tree' ? null : cur, state)) out.set(g, state);
    }
  }

  /** The stat data of `path` when the file on disk is the one with `state` (for the index). */
  statFor(path: string, state: FileState): IndexStat | null {
    const hit = this.cache.get(path);
    return hit && hit.oid === state.oid && hit.mode === state.mode ? hit.stat : null;
  }

  /** After the store wrote a file itself (reset), remember its signature so it is not re-hashed. */
  noteWritten(path: string, state: FileState | null): void {
    if (!state) {
      this.cache.delete(path);
      return;
    }
    try {
      this.remember(path, lstatSync(join(this.o.root, path)), state);
    } catch {
      // The path is gone: forgetting it makes the next look report it deleted.
      this.cache.delete(path);
    }
  }

  /** Events up to now for these paths were caused by the store itself (a reset): ignore them. */
  async forget(paths: string[]): Promise<void> {
    if (!this.watching || this.needFull) return;
    await this.flush();
    for (const p of paths) this.dirty.delete(p);
  }

  /** Watch directories the store itself made (their contents are what it wrote, already noted). */
  watchMade(dirs: string[]): void {
    for (const rel of dirs) {
      const st = this.lstat(rel);
      if (st?.isDirectory()) this.watchDir(rel, st.ino);
    }
  }

  close(): void {
    this.stopWatching();
    this.removeSentinels();
  }

  /** Say so in the server's log, naming the limit when it is one: the operator can raise it. */
  private reportLostWatches(err: unknown): void {
    if (!this.watching) return;
    const hint = limitHint(err, 'watch');
    reportIgnored(
      hint ? new Error(hint, { cause: err }) : err,
      `watching ${this.o.root} for changes (its checkpoints now find changes by full scans: exact, but slower in a large workspace)`,
    );
  }

  private stopWatching(): void {
    for (const { w } of this.watchers.values()) w.close();
    this.watchers.clear();
    this.sentinel?.close();
    this.sentinel = null;
    if (this.watching) this.needFull = true;
    this.watching = false;
  }

  private async fullScan(out: ChangeSet): Promise<void> {
    this.lastMode = 'full';
    this.forgotten = false;
    // A .gitignore may have changed unseen; the checker reads each one only once.
    this.o.ignore.restart();
    this.dirty = new Set();
    this.events = 0;
    await this.scanDir('', out);
    this.needFull = !this.watching;
  }

  /** Wait until every inotify event from before now has been seen (one flush at a time). */
  private flush(): Promise<void> {
    const run = this.flushing.then(() => this.flushOnce());
    this.flushing = run;
    return run;
  }

  private flushOnce(): Promise<void> {
    // A fresh name each time: a late event for an earlier sentinel must not end this wait. The one
    // sentinel file is renamed to it: making and removing a file on every shell step made the
    // loop wait for the file system's journal twice per step; a rename costs microseconds.
    const name = `potato-flush-${process.pid}-${++this.flushSeq}`;
    const file = join(this.o.gitDir, name);
    const from = this.sentinelFile;
    this.sentinelFile = file;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.flushWaiters.delete(name);
        resolve();
      };
      const timer = setTimeout(() => {
        // No event came back: the watches cannot be trusted, so answer from a full scan.
        this.needFull = true;
        done();
      }, 2000);
      this.flushWaiters.set(name, done);
      const failed = (err: unknown) => {
        reportIgnored(err, `writing the change detector's sentinel in ${this.o.gitDir} (a full scan answers instead)`);
        this.needFull = true;
        done();
      };
      try {
        if (from) {
          renameSync(from, file);
          return;
        }
      } catch (err) {
        // Removed under us (by hand): made again below under the fresh name.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return failed(err);
      }
      createFile(file, '', { exclusive: false }).catch(failed);
    });
  }

  /** The sentinel file a crash (or this detector) left in the git directory. */
  private removeSentinels(): void {
    let names: string[];
    try {
      names = readdirSync(this.o.gitDir);
    } catch {
      // No git directory to clean: the store reports that on its own writes.
      return;
    }
    for (const n of names) if (n.startsWith('potato-flush-')) rmSync(join(this.o.gitDir, n), { force: true });
    this.sentinelFile = null;
  }

  private watchDir(rel: string, ino: number): void {
    if (!this.watching) return;
    const cur = this.watchers.get(rel);
    if (cur?.ino === ino) return;
    cur?.w.close();
    try {
      const w = watch(join(this.o.root, rel), { persistent: false }, (ev, name) => {
        this.events++;
        if (name == null) {
          this.needFull = true;
          return;
        }
        const child = rel ? `${rel}/${name}` : String(name);
        this.dirty.add(child);
        // The entry itself was made, removed or moved: a watch on the directory that was there is
        // dead, even if a new directory got the same inode number (then it would look watched).
        if (ev === 'rename' && this.watchers.has(child)) this.unwatchUnder(child);
      });
      w.on('error', () => {
        // A watched directory that vanished is reported by its parent; anything else is a lost watch.
        if (this.watchers.get(rel)?.w === w) this.watchers.delete(rel);
        this.needFull = true;
      });
      this.watchers.set(rel, { w, ino });
    } catch (err) {
      // Out of inotify watches (ENOSPC) or similar: answer every question with a full scan from now on.
      this.reportLostWatches(err);
      this.stopWatching();
    }
  }

  private unwatchUnder(rel: string): void {
    for (const [p, { w }] of this.watchers) {
      if (p === rel || p.startsWith(`${rel}/`)) {
        w.close();
        this.watchers.delete(p);
      }
    }
  }

  private lstat(rel: string): Stats | null {
    try {
      return lstatSync(join(this.o.root, rel));
    } catch {
      // Gone: null is how callers learn of a deletion.
      return null;
    }
  }

  private async deleteTracked(rel: string, cur: FileState | 'tree' | null, out: ChangeSet): Promise<void> {
    for (const r of this.o.tree().recordsUnder(rel)) out.set(r, null);
    if (cur === 'tree') {
      for (const f of (await this.o.tree().filesUnder(rel)).keys()) {
        out.set(f, null);
        this.cache.delete(f);
      }
    } else if (cur) {
      out.set(rel, null);
      this.cache.delete(rel);
    }
  }

  /** Compare one path (file or directory) on disk with the tree. `deep` rescans a watched directory. */
  private async examine(
    rel: string,
    out: ChangeSet,
    deep: boolean,
    known?: { cur: FileState | 'tree' | null; ignored?: boolean },
  ): Promise<void> {
    const parts = rel.split('/');
    const gitAt = parts.indexOf('.git');
    if (gitAt === 0) return; // the workspace's own `.git`: the server's pointer, never content
    if (gitAt > 0) {
      this.nestedSeen.add(parts.slice(0, gitAt + 1).join('/'));
      return;
    }
    const cur = known ? known.cur : await this.o.tree().lookup(rel);
    const st = this.lstat(rel);
    if (!st || !(st.isFile() || st.isSymbolicLink() || st.isDirectory())) {
      await this.deleteTracked(rel, cur, out);
      this.unwatchUnder(rel);
      return;
    }
    if (!st.isDirectory()) {
      for (const r of this.o.tree().recordsUnder(rel)) out.set(r, null);
    }
    if (st.isDirectory()) {
      if (cur !== null && cur !== 'tree') {
        if (cur.mode === '160000') return; // a submodule's checkout is its own repository
        out.set(rel, null);
        this.cache.delete(rel);
      }
      if (cur !== 'tree') {
        const ignored = known?.ignored ?? (await this.o.ignore.check([rel]))[0];
        if (ignored) return;
      }
      if (!deep && this.watchers.get(rel)?.ino === st.ino) {
        await this.examineDirRecord(rel, st, out);
        return;
      }
      await this.scanDir(rel, out, st);
      return;
    }
    if (cur === 'tree') {
      await this.deleteTracked(rel, cur, out);
    } else if (cur === null) {
      const ignored = known?.ignored ?? (await this.o.ignore.check([rel]))[0];
      if (ignored) return;
    }
    if (
      cur &&
      cur !== 'tree' &&
      st.ctimeMs < this.trustBefore &&
      st.mtimeMs < this.trustBefore &&
      modeOf(st) === cur.mode &&
      permOf(st) === cur.perm
    ) {
      this.remember(rel, st, cur);
      return;
    }
    const state = await this.hash(rel, st, cur === 'tree' ? null : cur);
    if (!state) {
      await this.deleteTracked(rel, cur === 'tree' ? null : cur, out);
      return;
    }
    if (cur === 'tree' || !sameState(cur, state)) out.set(rel, state);
  }

  /** A directory is recorded when git cannot restore it as it is: empty, or permissions not the default. */
  private async examineDirRecord(rel: string, st: Stats, out: ChangeSet, empty?: boolean): Promise<void> {
    let isEmpty = empty;
    if (isEmpty === undefined) {
      try {
        isEmpty = readdirSync(join(this.o.root, rel)).length === 0;
      } catch {
        // Gone since the walk (the agent may delete while we scan): the next scan records what is there.
        return;
      }
    }
    const perm = st.mode & 0o7777;
    const tree = this.o.tree();
    const state: FileState | null = isEmpty || perm !== tree.defaults.dir ? { mode: DIR_MODE, oid: '', perm } : null;
    const cur = await tree.lookup(`${rel}/`);
    if (!sameState(cur === 'tree' ? null : cur, state)) out.set(`${rel}/`, state);
  }

  /** Store a nested repository's `.git` whole: its files as blobs in a tree, every permission in its record. */
  private async snapshotNested(gitRel: string, st: Stats): Promise<FileState | null> {
    const perms: Record<string, number> = {};
    let record: NestedRecord;
    if (st.isDirectory()) {
      const oid = await this.nestedTree(gitRel, '', st, perms);
      if (!oid) return null;
      record = { kind: 'dir', oid, perms };
    } else {
      const h = await this.hash(gitRel, st);
      if (!h) return null;
      record = { kind: st.isSymbolicLink() ? 'link' : 'file', oid: h.oid, perms: { '': st.mode & 0o7777 } };
    }
    return { mode: NESTED_MODE, oid: this.o.db.write('blob', Buffer.from(JSON.stringify(record))) };
  }

  private async nestedTree(
    gitRel: string,
    inside: string,
    st: Stats,
    perms: Record<string, number>,
  ): Promise<string | null> {
    const abs = inside ? `${gitRel}/${inside}` : gitRel;
    perms[inside] = st.mode & 0o7777;
    let names: string[];
    try {
      names = readdirSync(join(this.o.root, abs));
    } catch {
      // Gone since the walk: null records the nested repository as deleted, which it now is.
      return null;
    }
    const rows: [string, TreeEntry][] = [];
    for (const n of names) {
      const childInside = inside ? `${inside}/${n}` : n;
      const cst = this.lstat(`${gitRel}/${childInside}`);
      if (!cst) continue;
      if (cst.isDirectory()) {
        const oid = await this.nestedTree(gitRel, childInside, cst, perms);
        if (oid) rows.push([n, { mode: TREE_MODE, oid }]);
      } else if (cst.isFile() || cst.isSymbolicLink()) {
        const h = await this.hash(`${gitRel}/${childInside}`, cst);
        if (!h) continue;
        rows.push([n, { mode: h.mode, oid: h.oid }]);
        if (cst.isFile()) perms[childInside] = cst.mode & 0o7777;
      }
    }
    return this.o.db.write('tree', serializeTree(rows));
  }

  /** `known`: what the tree has at `rel`; content equal to it is not written again. */
  private async hash(rel: string, st: Stats, known: FileState | null = null): Promise<FileState | null> {
    const sig = `${st.mtimeMs}:${st.ctimeMs}:${st.size}:${st.ino}:${st.mode}`;
    const hit = this.cache.get(rel);
    const perm = permOf(st);
    const withPerm = (mode: string, oid: string): FileState =>
      perm === undefined ? { mode, oid } : { mode, oid, perm };
    if (hit && !hit.racy && hit.sig === sig) return withPerm(hit.mode, hit.oid);
    const abs = join(this.o.root, rel);
    let oid: string | null;
    if (st.isSymbolicLink()) {
      let target: Buffer;
      try {
        target = readlinkSync(abs, { encoding: 'buffer' });
      } catch {
        // Vanished between stat and read: the next detection sees it deleted.
        return null;
      }
      oid = this.o.db.write('blob', target);
    } else {
      oid = await this.o.db.writeFileBlob(abs, st.size, known?.oid);
    }
    if (!oid) return null;
    const state = withPerm(modeOf(st), oid);
    this.remember(rel, st, state);
    return state;
  }

  private remember(rel: string, st: Stats, state: FileState): void {
    this.cache.set(rel, {
      sig: `${st.mtimeMs}:${st.ctimeMs}:${st.size}:${st.ino}:${st.mode}`,
      oid: state.oid,
      mode: state.mode,
      stat: {
        ctimeMs: st.ctimeMs,
        mtimeMs: st.mtimeMs,
        dev: st.dev,
        ino: st.ino,
        uid: st.uid,
        gid: st.gid,
        size: st.size,
      },
      racy: st.ctimeMs >= Date.now() - RACY_MS || st.mtimeMs >= Date.now() - RACY_MS,
    });
  }

  /** Walk one directory on disk against the tree, recursively, watching each directory met. */
  private async scanDir(rel: string, out: ChangeSet, st?: Stats): Promise<void> {
    const dirStat = st ?? this.lstat(rel);
    if (!dirStat) return;
    this.watchDir(rel, dirStat.ino);
    let names: string[];
    try {
      names = readdirSync(join(this.o.root, rel));
    } catch {
      // The folder vanished: nothing under it to add; its tracked files show as deleted.
      return;
    }
    const tracked = (await this.o.tree().children(rel)) ?? new Map<string, FileState | 'tree'>();
    const child = (n: string) => (rel ? `${rel}/${n}` : n);
    const fresh = names.filter((n) => n !== '.git' && !tracked.has(n));
    const ignored = await this.o.ignore.check(fresh.map(child));
    const ignoredSet = new Set(fresh.filter((_, i) => ignored[i]));
    if (rel !== '') await this.examineDirRecord(rel, dirStat, out, names.length === 0);
    if (rel !== '' && names.includes('.git')) this.nestedSeen.add(`${rel}/.git`);
    for (const n of names) {
      if (n === '.git' || ignoredSet.has(n)) continue;
      await this.examine(child(n), out, true, { cur: tracked.get(n) ?? null, ignored: false });
    }
    const onDisk = new Set(names);
    for (const [n, cur] of tracked) {
      if (!onDisk.has(n)) {
        await this.deleteTracked(child(n), cur, out);
        this.unwatchUnder(child(n));
      }
    }
  }
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

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
  rmSync,
  type Stats,
  watch,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { IgnoreChecker } from './ignore.js';
import type { ObjectStore } from './objects.js';
import { type FileState, sameState, type WorkTree } from './tree.js';

export type ChangeSet = Map<string, FileState | null>;

interface CacheEntry {
  sig: string;
  oid: string;
  mode: string;
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
  private trustBefore = 0;
  /** Why the last answer came from a full scan, for the benchmark and tests to report. */
  lastMode: 'watch' | 'full' | 'paths' = 'full';

  constructor(private readonly o: DetectorOptions) {
    this.watching = o.watch;
  }

  /**
   * Install the watches and fill the stat cache. The tree is what the disk held at `capturedAt`
   * (ms): a file whose times are older than that is taken as the tree says, without reading it.
   */
  async start(capturedAt: number): Promise<void> {
    this.trustBefore = capturedAt - RACY_MS;
    if (this.watching) {
      try {
        this.sentinel = watch(this.o.gitDir, { persistent: false }, (_ev, name) => {
          if (name) this.flushWaiters.get(String(name))?.();
        });
        this.sentinel.on('error', () => this.stopWatching());
      } catch {
        // No inotify here: full scans answer instead (slower, never wrong).
        this.watching = false;
      }
    }
    await this.scanDir('', new Map());
    this.needFull = !this.watching;
    this.trustBefore = 0;
    this.dirty.clear();
    this.events = 0;
  }

  get isWatching(): boolean {
    return this.watching;
  }

  /** Forget what is known: the next answer comes from a full scan (after a .gitignore edit, a foreign HEAD move). */
  invalidate(): void {
    this.needFull = true;
  }

  /** Disk versus the tree, everywhere something may have changed. */
  async collect(): Promise<ChangeSet> {
    const out: ChangeSet = new Map();
    if (this.watching && !this.needFull) await this.flush();
    if (!this.watching || this.needFull || this.events >= this.queueLimit - 1) {
      await this.fullScan(out);
      return out;
    }
    const paths = [...this.dirty].sort();
    this.dirty = new Set();
    this.events = 0;
    if (paths.some((p) => p === '.gitignore' || p.endsWith('/.gitignore'))) {
      this.o.ignore.restart();
      await this.fullScan(out);
      return out;
    }
    this.lastMode = 'watch';
    for (const p of paths) await this.examine(p, out, false);
    return out;
  }

  /** Disk versus the tree at the given paths only (the step said what it touched). */
  async collectPaths(paths: string[]): Promise<ChangeSet> {
    const out: ChangeSet = new Map();
    this.lastMode = 'paths';
    for (const p of paths) await this.examine(p, out, true);
    if (paths.some((p) => p === '.gitignore' || p.endsWith('/.gitignore'))) {
      this.o.ignore.restart();
      this.needFull = true;
    }
    return out;
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

  close(): void {
    this.stopWatching();
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
    // A .gitignore may have changed unseen; the checker reads each one only once.
    this.o.ignore.restart();
    this.dirty = new Set();
    this.events = 0;
    await this.scanDir('', out);
    this.needFull = !this.watching;
  }

  private flush(): Promise<void> {
    // A fresh name each time: a late event for an earlier sentinel must not end this wait.
    const name = `potato-flush-${process.pid}-${++this.flushSeq}`;
    const file = join(this.o.gitDir, name);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.flushWaiters.delete(name);
        rmSync(file, { force: true });
        resolve();
      };
      const timer = setTimeout(() => {
        // No event came back: the watches cannot be trusted, so answer from a full scan.
        this.needFull = true;
        done();
      }, 2000);
      this.flushWaiters.set(name, done);
      writeFileSync(file, '');
    });
  }

  private watchDir(rel: string, ino: number): void {
    if (!this.watching) return;
    const cur = this.watchers.get(rel);
    if (cur?.ino === ino) return;
    cur?.w.close();
    try {
      const w = watch(join(this.o.root, rel), { persistent: false }, (_ev, name) => {
        this.events++;
        if (name == null) this.needFull = true;
        else this.dirty.add(rel ? `${rel}/${name}` : String(name));
      });
      w.on('error', () => {
        // A watched directory that vanished is reported by its parent; anything else is a lost watch.
        if (this.watchers.get(rel)?.w === w) this.watchers.delete(rel);
        this.needFull = true;
      });
      this.watchers.set(rel, { w, ino });
    } catch {
      // Out of inotify watches (ENOSPC) or similar: answer every question with a full scan from now on.
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
    if (rel.split('/').includes('.git')) return;
    const cur = known ? known.cur : await this.o.tree().lookup(rel);
    const st = this.lstat(rel);
    if (!st || !(st.isFile() || st.isSymbolicLink() || st.isDirectory())) {
      await this.deleteTracked(rel, cur, out);
      this.unwatchUnder(rel);
      return;
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
      if (!deep && this.watchers.get(rel)?.ino === st.ino) return;
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
      modeOf(st) === cur.mode
    ) {
      this.remember(rel, st, cur);
      return;
    }
    const state = await this.hash(rel, st);
    if (!state) {
      await this.deleteTracked(rel, cur === 'tree' ? null : cur, out);
      return;
    }
    if (cur === 'tree' || !sameState(cur, state)) out.set(rel, state);
  }

  private async hash(rel: string, st: Stats): Promise<FileState | null> {
    const sig = `${st.mtimeMs}:${st.ctimeMs}:${st.size}:${st.ino}:${st.mode}`;
    const hit = this.cache.get(rel);
    if (hit && !hit.racy && hit.sig === sig) return { mode: hit.mode, oid: hit.oid };
    const abs = join(this.o.root, rel);
    let oid: string | null;
    if (st.isSymbolicLink()) {
      try {
        oid = this.o.db.write('blob', Buffer.from(readlinkSync(abs, { encoding: 'buffer' })));
      } catch {
        // Vanished between stat and read: the next detection sees it deleted.
        return null;
      }
    } else {
      oid = await this.o.db.writeFileBlob(abs, st.size);
    }
    if (!oid) return null;
    const state = { mode: modeOf(st), oid };
    this.remember(rel, st, state);
    return state;
  }

  private remember(rel: string, st: Stats, state: FileState): void {
    this.cache.set(rel, {
      sig: `${st.mtimeMs}:${st.ctimeMs}:${st.size}:${st.ino}:${st.mode}`,
      oid: state.oid,
      mode: state.mode,
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

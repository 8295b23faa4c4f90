/**
 * @module checkpoints/git/tree
 * The in-memory tree of the current checkpoint. Directories load lazily from the object store
 * and keep their object id until something under them changes, so writing a checkpoint after
 * a one-file edit rewrites only the trees along that file's path, and comparing two
 * checkpoints descends only into subtrees whose ids differ.
 */
import { EMPTY_TREE, type ObjectStore, parseTree, serializeTree, TREE_MODE, type TreeEntry } from './objects.js';

/**
 * The state of one path: a blob (file, executable or symlink) or a gitlink that git stores, or
 * one of the store's own records that git cannot hold (keys of those end in '/' for a
 * directory, in '/.git' for a nested repository).
 */
export interface FileState {
  mode: string;
  oid: string;
  /** Permission bits as the filesystem had them (files and directories); absent: the default. */
  perm?: number;
}

/** A directory the store records (empty, or permissions other than the default). */
export const DIR_MODE = 'dir';
/** A nested repository's `.git`: `oid` is a blob holding its NestedRecord. */
export const NESTED_MODE = 'nested';

/** What git cannot record, per checkpoint: exact permissions, empty directories, nested repositories. */
export interface Extras {
  perms: Map<string, number>;
  dirs: Map<string, number>;
  nested: Map<string, string>;
}

export interface Defaults {
  file: number;
  exec: number;
  dir: number;
}

export const STANDARD_DEFAULTS: Defaults = { file: 0o644, exec: 0o755, dir: 0o755 };

export function emptyExtras(): Extras {
  return { perms: new Map(), dirs: new Map(), nested: new Map() };
}

export function isRecordKey(path: string): boolean {
  return path.endsWith('/') || path === '.git' || path.endsWith('/.git');
}

interface Entry {
  mode: string;
  /** Stale (ignored) for a subtree whose `dir.oid` is null. */
  oid: string;
  dir?: Dir;
}

class Dir {
  constructor(
    public oid: string | null,
    public entries: Map<string, Entry> | null,
  ) {}
}

/**
 * Tree objects are immutable, so their parsed entries are shared across checkpoints: a rollback
 * and forth between two checkpoints reads no tree twice. Bounded, oldest out first.
 */
const parsedTrees = new Map<string, Map<string, TreeEntry>>();
const PARSED_TREE_CACHE = 20_000;

export function sameState(a: FileState | null | undefined, b: FileState | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  if (a.mode !== b.mode || a.oid !== b.oid) return false;
  if (a.mode === '120000' || a.mode === '160000' || a.mode === NESTED_MODE) return true;
  return a.perm === undefined || b.perm === undefined || a.perm === b.perm;
}

export class WorkTree {
  private root: Dir;
  readonly extras: Extras;

  constructor(
    private readonly db: ObjectStore,
    rootOid: string,
    extras: Extras = emptyExtras(),
    readonly defaults: Defaults = STANDARD_DEFAULTS,
  ) {
    this.root = new Dir(rootOid, null);
    this.extras = { perms: new Map(extras.perms), dirs: new Map(extras.dirs), nested: new Map(extras.nested) };
  }

  /** Permission bits of a file in git mode `mode` at `path`, as recorded. */
  permOf(path: string, mode: string): number | undefined {
    if (mode === '120000' || mode === '160000') return undefined;
    return this.extras.perms.get(path) ?? (mode === '100755' ? this.defaults.exec : this.defaults.file);
  }

  private withPerm(path: string, mode: string, oid: string): FileState {
    const perm = this.permOf(path, mode);
    return perm === undefined ? { mode, oid } : { mode, oid, perm };
  }

  /** The record at a record key (`dir/`, `sub/.git`), or null. */
  async record(key: string): Promise<FileState | null> {
    const r = await this.lookup(key);
    return r === 'tree' ? null : r;
  }

  /** Records (directories, nested repositories) at or under `path`. */
  recordsUnder(path: string): string[] {
    const out: string[] = [];
    for (const d of this.extras.dirs.keys()) if (d === path || d.startsWith(`${path}/`)) out.push(`${d}/`);
    for (const n of this.extras.nested.keys()) if (n.startsWith(`${path}/`)) out.push(n);
    return out;
  }

  private async load(dir: Dir): Promise<Map<string, Entry>> {
    if (dir.entries) return dir.entries;
    const entries = new Map<string, Entry>();
    if (dir.oid && dir.oid !== EMPTY_TREE) {
      let parsed = parsedTrees.get(dir.oid);
      if (!parsed) {
        const obj = await this.db.read(dir.oid);
        if (obj.type !== 'tree') throw new Error(`git object ${dir.oid} is a ${obj.type}, expected a tree`);
        parsed = parseTree(obj.data);
        if (parsedTrees.size >= PARSED_TREE_CACHE) parsedTrees.delete(parsedTrees.keys().next().value!);
        parsedTrees.set(dir.oid, parsed);
      }
      for (const [name, e] of parsed) {
        entries.set(name, e.mode === TREE_MODE ? { ...e, dir: new Dir(e.oid, null) } : e);
      }
    }
    dir.entries = entries;
    return entries;
  }

  /** The entry at `path`: a file state, `'tree'` for a directory, or null. */
  async lookup(path: string): Promise<FileState | 'tree' | null> {
    if (path.endsWith('/')) {
      const perm = this.extras.dirs.get(path.slice(0, -1));
      return perm === undefined ? null : { mode: DIR_MODE, oid: '', perm };
    }
    if (path === '.git' || path.endsWith('/.git')) {
      const oid = this.extras.nested.get(path);
      return oid ? { mode: NESTED_MODE, oid } : null;
    }
    const parts = path.split('/');
    let dir = this.root;
    for (let i = 0; i < parts.length; i++) {
      const e = (await this.load(dir)).get(parts[i]!);
      if (!e) return null;
      if (i === parts.length - 1) return e.dir ? 'tree' : this.withPerm(path, e.mode, e.oid);
      if (!e.dir) return null;
      dir = e.dir;
    }
    return null;
  }

  /** Names in the directory at `path` ('' for the root), or null when it is not a directory. */
  async children(path: string): Promise<Map<string, FileState | 'tree'> | null> {
    const dir = await this.findDir(path);
    if (!dir) return null;
    const out = new Map<string, FileState | 'tree'>();
    for (const [name, e] of await this.load(dir)) {
      out.set(name, e.dir ? 'tree' : this.withPerm(path ? `${path}/${name}` : name, e.mode, e.oid));
    }
    return out;
  }

  private async findDir(path: string): Promise<Dir | null> {
    let dir = this.root;
    if (path === '') return dir;
    for (const part of path.split('/')) {
      const e = (await this.load(dir)).get(part);
      if (!e?.dir) return null;
      dir = e.dir;
    }
    return dir;
  }

  /** Every file under the directory at `path`, with its state. */
  async filesUnder(path: string): Promise<Map<string, FileState>> {
    const out = new Map<string, FileState>();
    const dir = await this.findDir(path);
    if (dir) await this.collect(dir, path, out);
    return out;
  }

  private async collect(dir: Dir, prefix: string, out: Map<string, FileState>): Promise<void> {
    for (const [name, e] of await this.load(dir)) {
      const p = prefix ? `${prefix}/${name}` : name;
      if (e.dir) await this.collect(e.dir, p, out);
      else out.set(p, this.withPerm(p, e.mode, e.oid));
    }
  }

  /** Set (or with null, remove) the file at `path`; a file in the way of a directory is replaced. */
  async set(path: string, state: FileState | null): Promise<void> {
    if (path.endsWith('/')) {
      if (state?.perm === undefined) this.extras.dirs.delete(path.slice(0, -1));
      else this.extras.dirs.set(path.slice(0, -1), state.perm);
      return;
    }
    if (path === '.git' || path.endsWith('/.git')) {
      if (state) this.extras.nested.set(path, state.oid);
      else this.extras.nested.delete(path);
      return;
    }
    const perm = state && state.mode !== '120000' && state.mode !== '160000' ? state.perm : undefined;
    const dflt = state?.mode === '100755' ? this.defaults.exec : this.defaults.file;
    if (perm === undefined || perm === dflt) this.extras.perms.delete(path);
    else this.extras.perms.set(path, perm);
    const parts = path.split('/');
    const chain: Dir[] = [this.root];
    let dir = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      const entries = await this.load(dir);
      let e = entries.get(parts[i]!);
      if (!e?.dir) {
        if (!state) return;
        e = { mode: TREE_MODE, oid: EMPTY_TREE, dir: new Dir(null, new Map()) };
        entries.set(parts[i]!, e);
      }
      dir = e.dir!;
      chain.push(dir);
    }
    const entries = await this.load(dir);
    const name = parts[parts.length - 1]!;
    const cur = entries.get(name);
    if (state) {
      if (cur && !cur.dir && cur.mode === state.mode && cur.oid === state.oid) return;
      entries.set(name, { mode: state.mode, oid: state.oid });
    } else {
      if (!cur) return;
      entries.delete(name);
      // Git has no empty directories: drop parents left empty.
      for (let i = chain.length - 1; i > 0; i--) {
        const parentEntries = chain[i - 1]!.entries!;
        if (chain[i]!.entries!.size > 0) break;
        parentEntries.delete(parts[i - 1]!);
      }
    }
    for (const d of chain) d.oid = null;
  }

  /** Write every changed tree object bottom-up; returns the root tree id (objects settle later: ObjectStore.settle). */
  write(): string {
    return this.writeDir(this.root);
  }

  private writeDir(dir: Dir): string {
    if (dir.oid) return dir.oid;
    const rows: [string, TreeEntry][] = [];
    for (const [name, e] of dir.entries!) {
      if (e.dir) e.oid = this.writeDir(e.dir);
      rows.push([name, { mode: e.mode, oid: e.oid }]);
    }
    dir.oid = this.db.write('tree', serializeTree(rows));
    return dir.oid;
  }

  /**
   * Files whose state differs between this tree (written) and the tree `target`: the state each
   * must take (null: delete). Only subtrees with different ids are read.
   */
  async diffTo(target: WorkTree): Promise<Map<string, FileState | null>> {
    const out = new Map<string, FileState | null>();
    await this.diffDir(this.root, new Dir(target.root.oid, null), '', out);
    for (const [p, s] of out) if (s) out.set(p, target.withPerm(p, s.mode, s.oid));
    const t = target.extras;
    const c = this.extras;
    for (const p of new Set([...c.perms.keys(), ...t.perms.keys()])) {
      if (out.has(p) || c.perms.get(p) === t.perms.get(p)) continue;
      const want = await target.lookup(p);
      if (want && want !== 'tree') out.set(p, want);
    }
    for (const p of new Set([...c.dirs.keys(), ...t.dirs.keys()])) {
      if (c.dirs.get(p) !== t.dirs.get(p)) out.set(`${p}/`, await target.record(`${p}/`));
    }
    for (const p of new Set([...c.nested.keys(), ...t.nested.keys()])) {
      if (c.nested.get(p) !== t.nested.get(p)) out.set(p, await target.record(p));
    }
    return out;
  }

  /** The records as JSON for the store's own files (sorted, so equal records are equal text). */
  serializeExtras(): string {
    const obj = (m: Map<string, number | string>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
    return JSON.stringify({
      perms: obj(this.extras.perms),
      dirs: obj(this.extras.dirs),
      nested: obj(this.extras.nested),
    });
  }

  private async diffDir(cur: Dir | null, tgt: Dir | null, prefix: string, out: Map<string, FileState | null>) {
    if (cur && tgt && cur.oid !== null && cur.oid === tgt.oid) return;
    const ce = cur ? await this.load(cur) : new Map<string, Entry>();
    const te = tgt ? await this.load(tgt) : new Map<string, Entry>();
    const names = new Set([...ce.keys(), ...te.keys()]);
    for (const name of names) {
      const c = ce.get(name);
      const t = te.get(name);
      if (c && t && !c.dir && !t.dir && sameState(c, t)) continue;
      const p = prefix ? `${prefix}/${name}` : name;
      if (c?.dir || t?.dir) {
        await this.diffDir(c?.dir ?? null, t?.dir ?? null, p, out);
        if (c && !c.dir) out.set(p, null);
        if (t && !t.dir) out.set(p, { mode: t.mode, oid: t.oid });
      } else {
        out.set(p, t ? { mode: t.mode, oid: t.oid } : null);
      }
    }
  }
}

/** The records written by `serializeExtras` (empty when there is no record file). */
export function parseExtras(text: string | null): Extras {
  if (!text) return emptyExtras();
  const o = JSON.parse(text) as {
    perms?: Record<string, number>;
    dirs?: Record<string, number>;
    nested?: Record<string, string>;
  };
  return {
    perms: new Map(Object.entries(o.perms ?? {})),
    dirs: new Map(Object.entries(o.dirs ?? {})),
    nested: new Map(Object.entries(o.nested ?? {})),
  };
}

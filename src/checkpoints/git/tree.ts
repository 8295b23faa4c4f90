/**
 * @module checkpoints/git/tree
 * The in-memory tree of the current checkpoint. Directories load lazily from the object store
 * and keep their object id until something under them changes, so writing a checkpoint after
 * a one-file edit rewrites only the trees along that file's path, and comparing two
 * checkpoints descends only into subtrees whose ids differ.
 */
import { EMPTY_TREE, type ObjectStore, parseTree, serializeTree, TREE_MODE, type TreeEntry } from './objects.js';

/** The state of one path that git stores: a blob (file, executable or symlink) or a gitlink. */
export interface FileState {
  mode: string;
  oid: string;
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
  return a.mode === b.mode && a.oid === b.oid;
}

export class WorkTree {
  private root: Dir;

  constructor(
    private readonly db: ObjectStore,
    rootOid: string,
  ) {
    this.root = new Dir(rootOid, null);
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
    const parts = path.split('/');
    let dir = this.root;
    for (let i = 0; i < parts.length; i++) {
      const e = (await this.load(dir)).get(parts[i]!);
      if (!e) return null;
      if (i === parts.length - 1) return e.dir ? 'tree' : { mode: e.mode, oid: e.oid };
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
    for (const [name, e] of await this.load(dir)) out.set(name, e.dir ? 'tree' : { mode: e.mode, oid: e.oid });
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
      else out.set(p, { mode: e.mode, oid: e.oid });
    }
  }

  /** Set (or with null, remove) the file at `path`; a file in the way of a directory is replaced. */
  async set(path: string, state: FileState | null): Promise<void> {
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
      if (cur && !cur.dir && sameState(cur, state)) return;
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

  /** Write every changed tree object bottom-up; returns the root tree id. */
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
  async diffTo(target: string): Promise<Map<string, FileState | null>> {
    const out = new Map<string, FileState | null>();
    await this.diffDir(this.root, new Dir(target, null), '', out);
    return out;
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

/**
 * @module checkpoints/git/reader
 * A session's checkpoint repository opened read-only (the CheckpointReader): HEAD, the files of
 * a commit and one file's bytes, read in process from the object database the store writes
 * (objects.ts). Loose objects are inflated here; packed ones (the user's imported history) come
 * from the one long-lived `git cat-file` of the ObjectStore, so a file view starts no process.
 * A patch is one sealed `git diff-tree` (git.ts). Nothing here writes: no ref, no index, no
 * object, no lock.
 */
import { join } from 'node:path';
import type { CheckpointReader, FileAtCheckpoint } from '../types.js';
import { git } from './git.js';
import { ObjectStore, parseCommit, parseTree, TREE_MODE, type TreeEntry } from './objects.js';
import { CheckpointError, readHeadIn } from './repo.js';

const GITLINK_MODE = '160000';
/** Parsed trees kept per reader: a tree's id is its content, so a kept one is never stale. */
const TREE_CACHE = 4096;
const OID = /^[0-9a-f]{40}$/;

export class GitCheckpointReader implements CheckpointReader {
  private readonly db: ObjectStore;
  private readonly trees = new Map<string, Map<string, TreeEntry>>();

  constructor(readonly gitDir: string) {
    this.db = new ObjectStore(join(gitDir, 'objects'), gitDir);
  }

  async head(): Promise<string | null> {
    const oid = readHeadIn(this.gitDir);
    if (!oid) return null;
    try {
      return (await this.db.info(oid)).type === 'commit' ? oid : null;
    } catch (err) {
      // A ref to an object that is not there names no commit; anything else is a fault.
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async listFiles(commit: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (tree: string, prefix: string): Promise<void> => {
      for (const [name, e] of await this.tree(tree)) {
        if (e.mode === TREE_MODE) await walk(e.oid, `${prefix}${name}/`);
        else out.push(prefix + name);
      }
    };
    await walk(await this.rootTree(commit), '');
    return out;
  }

  async readFile(commit: string, path: string, maxBytes: number): Promise<FileAtCheckpoint> {
    const parts = path.split('/');
    let tree = await this.rootTree(commit);
    let entry: TreeEntry | undefined;
    for (const [i, name] of parts.entries()) {
      entry = (await this.tree(tree)).get(name);
      if (!entry) return { kind: 'missing' };
      if (i < parts.length - 1) {
        if (entry.mode !== TREE_MODE) return { kind: 'missing' };
        tree = entry.oid;
      }
    }
    if (!entry) return { kind: 'missing' };
    if (entry.mode === TREE_MODE) return { kind: 'folder' };
    if (entry.mode === GITLINK_MODE) return { kind: 'submodule' };
    const { size } = await this.db.info(entry.oid);
    if (size > maxBytes) return { kind: 'too_large', size };
    return { kind: 'file', size, data: (await this.db.read(entry.oid)).data };
  }

  async parentOf(commit: string): Promise<string | null> {
    return (await this.commit(commit)).parents[0] ?? null;
  }

  async patch(from: string, to: string): Promise<string> {
    await Promise.all([this.commit(from), this.commit(to)]);
    const args = ['diff-tree', '-p', '--binary', '--full-index', '--no-renames', '--no-color'];
    const out = await git([...args, '--no-ext-diff', '--no-textconv', from, to, '--'], { gitDir: this.gitDir });
    return out.stdout;
  }

  async close(): Promise<void> {
    this.db.close();
  }

  private async rootTree(commit: string): Promise<string> {
    return (await this.commit(commit)).tree;
  }

  /** A commit of this repository, given by its full id (never a name git would resolve). */
  private async commit(commit: string): Promise<ReturnType<typeof parseCommit>> {
    if (!OID.test(commit)) throw new CheckpointError(`${commit} is not a full commit id`, 'bad_request');
    let obj: Awaited<ReturnType<ObjectStore['read']>>;
    try {
      obj = await this.db.read(commit);
    } catch (err) {
      // Unreadable means not a commit of this repository; the cause keeps the detail for the log.
      throw new CheckpointError(`no commit ${commit} in ${this.gitDir}`, 'not_found', { cause: err });
    }
    if (obj.type !== 'commit') throw new CheckpointError(`${commit} is a ${obj.type}, not a commit`, 'bad_request');
    return parseCommit(obj.data);
  }

  private async tree(oid: string): Promise<Map<string, TreeEntry>> {
    const kept = this.trees.get(oid);
    if (kept) return kept;
    const obj = await this.db.read(oid);
    if (obj.type !== 'tree') throw new CheckpointError(`git object ${oid} is a ${obj.type}, not a tree`);
    const tree = parseTree(obj.data);
    if (this.trees.size >= TREE_CACHE) this.trees.delete(this.trees.keys().next().value as string);
    this.trees.set(oid, tree);
    return tree;
  }
}

function isMissing(err: unknown): boolean {
  return err instanceof Error && /does not exist in this repository/.test(err.message);
}

/**
 * @module checkpoints/git/repo
 * The checkpoint repository's git directory, owned by the server and kept outside the
 * workspace (`<output.path>/checkpoints/<session>`): the agent cannot write its config, hooks,
 * attributes, refs or objects, so no git process of the server can be told to run anything.
 *
 * The workspace holds only a `.git` *file* naming that directory, so `git log --oneline` in the
 * workspace shows the checkpoints. The server writes that file and never reads it: what the
 * agent leaves at `.git` is removed and the pointer written again on every reset and at close.
 *
 * At session start the user's own history (the `.git` directory copied with the workspace,
 * before the agent ran) is imported as data only: its objects, its branch and tag refs, its
 * shallow list and ignore rules. Its config, hooks, attributes, index, worktrees, replace refs
 * and alternates that point into the workspace are not.
 */

import {
  appendFileSync,
  cpSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { PotatoError, reportIgnored } from '../../errors.js';
import { createFile, type SpareFiles } from './files.js';

/** A checkpoint operation that failed; `not_found`, `conflict`, `bad_request` when the caller asked wrongly. */
export class CheckpointError extends PotatoError<'checkpoint_failed' | 'not_found' | 'conflict' | 'bad_request'> {
  override name = 'CheckpointError';
  constructor(
    message: string,
    code: 'checkpoint_failed' | 'not_found' | 'conflict' | 'bad_request' = 'checkpoint_failed',
    options?: ErrorOptions,
  ) {
    super(message, code, options);
  }
}

export const ZERO = '0'.repeat(40);

const CONFIG = `[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = false
\tlogallrefupdates = true
\tsymlinks = true
\tignorecase = false
\tautocrlf = false
\tfsmonitor = false
\tuntrackedCache = false
\thooksPath = /dev/null
[gc]
\tauto = 0
\tpruneExpire = never
\treflogExpire = never
\treflogExpireUnreachable = never
[maintenance]
\tauto = false
`;

/**
 * Highest-precedence attributes for every path: contents are stored and restored as raw bytes,
 * so no filter, eol conversion, ident or encoding applies, whatever the workspace's
 * .gitattributes say (for the server's git and for a user's `git status` alike).
 */
const ATTRIBUTES = '* -filter -text -eol -ident -working-tree-encoding -crlf\n';

const LOCK_STALE_MS = 10_000;

export interface ImportedHistory {
  userBranch: string | null;
  userHead: string | null;
}

export class CheckpointRepo {
  readonly gitDir: string;
  readonly workspace: string;
  /** Directories made (or found) for refs and reflogs: made again only when a write misses one. */
  private readonly madeDirs = new Set<string>();
  private spares: SpareFiles | null = null;

  constructor(gitDir: string, workspace: string) {
    this.gitDir = resolve(gitDir);
    this.workspace = resolve(workspace);
    const rel = relative(this.workspace, this.gitDir);
    if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
      throw new CheckpointError(
        `the checkpoint repository ${this.gitDir} is inside the workspace ${this.workspace}: it must live where the agent cannot write (e.g. <output.path>/checkpoints/<session>).`,
      );
    }
  }

  exists(): boolean {
    return existsSync(join(this.gitDir, 'HEAD'));
  }

  /** Make the server's git directory, importing the user's history from the workspace copy. */
  create(): ImportedHistory {
    if (this.exists()) {
      throw new CheckpointError(
        `the checkpoint repository ${this.gitDir} already exists: this session was started before; reopen it with open().`,
      );
    }
    for (const d of ['objects/info', 'objects/pack', 'refs/heads', 'refs/tags', 'info', 'logs']) {
      mkdirSync(join(this.gitDir, d), { recursive: true });
    }
    const history = this.importUserHistory();
    writeFileSync(join(this.gitDir, 'config'), CONFIG);
    writeFileSync(join(this.gitDir, 'info', 'attributes'), ATTRIBUTES);
    if (!existsSync(join(this.gitDir, 'info', 'exclude'))) writeFileSync(join(this.gitDir, 'info', 'exclude'), '');
    writeFileSync(join(this.gitDir, 'HEAD'), 'ref: refs/heads/master\n');
    return history;
  }

  /** Rewrite what the server owns but a user's git could have changed; drop locks a crash left. */
  reseal(): void {
    writeFileSync(join(this.gitDir, 'config'), CONFIG);
    mkdirSync(join(this.gitDir, 'info'), { recursive: true });
    writeFileSync(join(this.gitDir, 'info', 'attributes'), ATTRIBUTES);
    for (const hook of ['hooks', 'commondir', 'objects/info/http-alternates']) {
      rmSync(join(this.gitDir, hook), { recursive: true, force: true });
    }
    this.removeStaleLocks(join(this.gitDir, 'refs'), 0);
    for (const f of ['index.lock', 'HEAD.lock', 'packed-refs.lock']) rmSync(join(this.gitDir, f), { force: true });
  }

  private removeStaleLocks(dir: string, depth: number): void {
    if (depth > 20) return;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      // No such directory (no refs written yet): no locks to remove.
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      if (n.endsWith('.lock')) rmSync(p, { force: true });
      else if (lstatSync(p).isDirectory()) this.removeStaleLocks(p, depth + 1);
    }
  }

  /**
   * Point the workspace at the checkpoint repository. Whatever is at `.git` (a directory, a
   * symlink, a file the agent wrote) is removed without being read or followed.
   */
  writePointer(): void {
    const p = join(this.workspace, '.git');
    const want = `gitdir: ${this.gitDir}\n`;
    try {
      const st = lstatSync(p);
      if (st.isFile() && st.size === want.length && readFileSync(p, 'utf8') === want) return;
      rmSync(p, { recursive: true, force: true });
    } catch {
      // No .git yet: nothing to remove; a removal that failed makes the write below throw.
    }
    writeFileSync(p, want);
  }

  private importUserHistory(): ImportedHistory {
    const src = join(this.workspace, '.git');
    let st: ReturnType<typeof lstatSync> | null = null;
    try {
      st = lstatSync(src);
    } catch {
      // No .git in the workspace: st stays null and there is nothing to import.
    }
    const none = { userBranch: null, userHead: null };
    // A `.git` file or symlink names a repository elsewhere (a worktree, a submodule): not followed.
    if (!st?.isDirectory()) return none;
    let head = '';
    try {
      head = readFileSync(join(src, 'HEAD'), 'utf8').trim();
    } catch {
      // No readable HEAD: not a repository git could use, so nothing to import.
      return none;
    }
    let userBranch: string | null = null;
    let userHead: string | null = null;
    if (/^[0-9a-f]{64}$/.test(head) || /^\s*objectformat\s*=\s*sha256/im.test(safeRead(join(src, 'config')))) {
      throw new CheckpointError(
        "the workspace's repository uses SHA-256 object names, which checkpoints do not support: use a SHA-1 repository.",
      );
    }
    if (head.startsWith('ref: refs/heads/')) {
      userBranch = head.slice('ref: refs/heads/'.length);
      userHead = readRefIn(src, `refs/heads/${userBranch}`);
    } else if (/^[0-9a-f]{40}$/.test(head)) {
      userHead = head;
    }
    const objects = join(src, 'objects');
    if (existsSync(objects)) {
      rmSync(join(this.gitDir, 'objects'), { recursive: true, force: true });
      try {
        renameSync(objects, join(this.gitDir, 'objects'));
      } catch {
        // EXDEV (objects on another file system): copy instead; cpSync throws on its own failure.
        cpSync(objects, join(this.gitDir, 'objects'), { recursive: true, verbatimSymlinks: true });
      }
      mkdirSync(join(this.gitDir, 'objects', 'info'), { recursive: true });
      this.keepAlternatesOutside(objects);
    }
    this.copyRefs(src);
    for (const f of ['shallow', 'info/exclude']) {
      try {
        if (lstatSync(join(src, f)).isFile()) cpSync(join(src, f), join(this.gitDir, f));
      } catch (err) {
        // Both files are optional: most repositories have neither.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          reportIgnored(err, `copying ${f} from the workspace's repository`);
      }
    }
    return { userBranch, userHead };
  }

  /** Alternates are object directories read as this repository's own: only ones outside the workspace. */
  private keepAlternatesOutside(oldObjects: string): void {
    const file = join(this.gitDir, 'objects', 'info', 'alternates');
    rmSync(join(this.gitDir, 'objects', 'info', 'http-alternates'), { force: true });
    let lines: string[];
    try {
      lines = readFileSync(file, 'utf8').split('\n');
    } catch {
      // No alternates file: every object is in the repository itself.
      return;
    }
    const kept = lines
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => resolve(oldObjects, l))
      .filter((abs) => {
        const rel = relative(this.workspace, abs);
        return rel.startsWith('..') || isAbsolute(rel);
      });
    if (kept.length) writeFileSync(file, `${kept.join('\n')}\n`);
    else rmSync(file, { force: true });
  }

  /** Branch and tag refs only (no replace refs, notes or remotes' oddities), loose and packed. */
  private copyRefs(src: string): void {
    for (const top of ['refs/heads', 'refs/tags']) {
      const from = join(src, top);
      if (existsSync(from) && statSync(from).isDirectory()) {
        cpSync(from, join(this.gitDir, top), { recursive: true, dereference: false, verbatimSymlinks: true });
      }
    }
    let packed: string;
    try {
      packed = readFileSync(join(src, 'packed-refs'), 'utf8');
    } catch {
      // No packed-refs: every ref of the user is loose, copied above.
      return;
    }
    const out: string[] = [];
    let keep = false;
    for (const line of packed.split('\n')) {
      if (line.startsWith('#')) out.push(line);
      else if (line.startsWith('^')) {
        if (keep) out.push(line);
      } else if (line) {
        const ref = line.slice(41);
        keep = /^[0-9a-f]{40} refs\/(heads|tags)\//.test(line) && !ref.includes('..');
        if (keep) out.push(line);
      }
    }
    writeFileSync(join(this.gitDir, 'packed-refs'), `${out.join('\n')}\n`);
  }

  readRef(ref: string): string | null {
    return readRefIn(this.gitDir, ref);
  }

  /**
   * Write a loose ref as git does (`<ref>.lock`, then renamed) and its reflog lines (the only
   * record git keeps of a rolled-back path's commits: they stay reachable, `git reflog` shows them).
   * The store is the one writer: a lock found here is a crash's leftover (or a user's git that
   * hung) and is taken over once it is old enough. Off the event loop (the asynchronous fs): each
   * step is awaited before the next, so the order on disk is git's.
   */
  async updateRef(ref: string, oid: string, old: string, ident: string, stamp: string, why: string): Promise<void> {
    const file = join(this.gitDir, ref);
    const lock = `${file}.lock`;
    try {
      await this.makeLock(lock, `${oid}\n`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() - lstatSync(lock).mtimeMs < LOCK_STALE_MS) {
        throw new CheckpointError(`${lock} is held by another git process: end it (or remove the file) and retry.`);
      }
      await createFile(lock, `${oid}\n`, { exclusive: false });
    }
    renameSync(lock, file);
    const line = `${old} ${oid} ${ident} ${stamp}\t${why.replace(/\n/g, ' ')}\n`;
    const log = join(this.gitDir, 'logs', ref);
    // Appending to a file that exists is cheap: only a branch's first line makes its log.
    await this.inDir(dirname(log), async () => appendFileSync(log, line));
    if (this.headRef() === ref) appendFileSync(join(this.gitDir, 'logs', 'HEAD'), line);
  }

  /** Spare files to make locks from (a writing store's): see files.ts. */
  attachSpares(spares: SpareFiles): void {
    this.spares = spares;
  }

  /**
   * Make `lock` holding `content`, failing with EEXIST when it is held: a spare file linked to
   * the name (a link, like git's O_EXCL open, never replaces a file that is there), or a new file.
   */
  private async makeLock(lock: string, content: string): Promise<void> {
    const dir = dirname(lock);
    const spare = this.madeDirs.has(dir) ? (this.spares?.filled(content, 0o644) ?? null) : null;
    if (spare) {
      try {
        linkSync(spare, lock);
        return;
      } catch (err) {
        // Its folder went (a user's `git pack-refs`): made again below.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      } finally {
        rmSync(spare, { force: true });
      }
    }
    await this.inDir(dir, () => createFile(lock, content));
  }

  /**
   * Run `write` of a file in `dir`, making `dir` first the first time (then it is known to
   * exist), and again when the write finds it gone (a user's `git pack-refs` removes emptied
   * ref folders).
   */
  async inDir(dir: string, write: () => Promise<void>): Promise<void> {
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
      return write();
    }
    try {
      return await write();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      return write();
    }
  }

  deleteRef(ref: string): void {
    rmSync(join(this.gitDir, ref), { force: true });
    rmSync(join(this.gitDir, 'logs', ref), { force: true });
    const packedFile = join(this.gitDir, 'packed-refs');
    try {
      const lines = readFileSync(packedFile, 'utf8').split('\n');
      const i = lines.findIndex((l) => l.endsWith(` ${ref}`));
      if (i >= 0) {
        lines.splice(i, lines[i + 1]?.startsWith('^') ? 2 : 1);
        writeFileSync(`${packedFile}.tmp`, lines.join('\n'));
        renameSync(`${packedFile}.tmp`, packedFile);
      }
    } catch (err) {
      // No packed-refs: the ref was only loose, removed above.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') reportIgnored(err, `removing ${ref} from packed-refs`);
    }
  }

  /** Session refs: branch name → commit, under refs/heads/potato/<session>/. */
  listSessionRefs(sessionId: string): Map<string, string> {
    const out = new Map<string, string>();
    const prefix = `refs/heads/potato/${sessionId}/`;
    try {
      for (const n of readdirSync(join(this.gitDir, prefix))) {
        if (n.endsWith('.lock')) continue;
        const oid = this.readRef(prefix + n);
        if (oid) out.set(n, oid);
      }
    } catch {
      // No loose refs of this session (none yet, or all packed): packed-refs is read next.
    }
    try {
      for (const line of readFileSync(join(this.gitDir, 'packed-refs'), 'utf8').split('\n')) {
        const ref = line.slice(41);
        if (ref.startsWith(prefix) && !out.has(ref.slice(prefix.length)))
          out.set(ref.slice(prefix.length), line.slice(0, 40));
      }
    } catch {
      // No packed-refs: the loose refs above are all there is.
    }
    return out;
  }

  headRef(): string | null {
    try {
      const h = readFileSync(join(this.gitDir, 'HEAD'), 'utf8').trim();
      return h.startsWith('ref: ') ? h.slice(5) : null;
    } catch {
      // No HEAD file: no branch is checked out yet.
      return null;
    }
  }

  setHeadRef(ref: string): void {
    const tmp = join(this.gitDir, 'HEAD.lock');
    writeFileSync(tmp, `ref: ${ref}\n`);
    renameSync(tmp, join(this.gitDir, 'HEAD'));
  }

  sessionDir(sessionId: string): string {
    const d = join(this.gitDir, 'potato', sessionId);
    mkdirSync(d, { recursive: true });
    return d;
  }
}

/** The commit HEAD of `gitDir` names (through its ref, or detached), or null when it names none. */
export function readHeadIn(gitDir: string): string | null {
  let head: string;
  try {
    head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
  } catch (err) {
    // No HEAD: no repository (checkpoints were off) or not made yet; either way no commit.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (/^[0-9a-f]{40}$/.test(head)) return head;
  const ref = head.startsWith('ref: ') ? head.slice(5) : '';
  // Only a ref under refs/: HEAD is the server's file, but a path is never followed out of the git directory.
  return /^refs\/(?!.*\.\.)[^\0]+$/.test(ref) ? readRefIn(gitDir, ref) : null;
}

/** The object format is the one line of the user's config read (as text, never obeyed). */
function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    // No config file: no object format is set, so SHA-1.
    return '';
  }
}

export function readRefIn(gitDir: string, ref: string): string | null {
  try {
    const v = readFileSync(join(gitDir, ref), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(v)) return v;
  } catch {
    // No loose ref: it may be in packed-refs.
  }
  try {
    for (const line of readFileSync(join(gitDir, 'packed-refs'), 'utf8').split('\n')) {
      if (line.endsWith(` ${ref}`)) return line.slice(0, 40);
    }
  } catch {
    // No packed-refs either: the ref does not exist.
  }
  return null;
}

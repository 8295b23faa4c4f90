/**
 * @module checkpoints/git/store
 * The git CheckpointStore: one commit per changing step on a per-session branch
 * (`refs/heads/potato/<session>/<branch>`), written in process (objects, ref, reflog) so that a
 * checkpoint costs milliseconds; real git is used for the rare, whole-repository operations
 * (step 0 with `git add -A`, diffs, syncing the index).
 *
 * The index is synced lazily: a `git reset -q` (index := HEAD, stat data kept) runs in the
 * background once the store has been idle for `indexSyncDelayMs`, and again on close(). Keeping
 * it in sync on every checkpoint would mean rewriting a 20,000-entry index file each step.
 */
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { PotatoError } from '../../errors.js';
import type { CheckpointInit, CheckpointStore, CommitRequest } from '../types.js';
import { ChangeDetector, type ChangeSet } from './changes.js';
import { git } from './git.js';
import { IgnoreChecker } from './ignore.js';
import { EMPTY_TREE, ObjectStore, parseCommit } from './objects.js';
import { type FileState, sameState, WorkTree } from './tree.js';

export interface GitCheckpointOptions {
  /** The workspace: the top level of an existing repository, or a directory to initialise. */
  workspace: string;
  /** Prefix of the step-0 message, `<prefix> Step 0: Initial state` (config `commit_message_prefix`). */
  messagePrefix?: string;
  /** Learn what shell commands changed from inotify watches (default) or from full stat scans. */
  watch?: boolean;
  /** Idle time before the index is synced in the background (default 300 ms). */
  indexSyncDelayMs?: number;
  author?: { name: string; email: string };
}

const NAME_RE = /^(?!.*\.\.)(?!.*\.lock$)[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const ZERO = '0'.repeat(40);

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

interface SessionRecord {
  baseCommit: string;
  userBranch: string | null;
  userHead: string | null;
}

export class GitCheckpointStore implements CheckpointStore {
  private readonly root: string;
  private gitDir = '';
  private commonDir = '';
  private db!: ObjectStore;
  private ignore!: IgnoreChecker;
  private detector!: ChangeDetector;
  private tree!: WorkTree;
  private sessionId = '';
  private branch = '';
  private head = '';
  private headTree = '';
  private ident = '';
  private syncTimer: NodeJS.Timeout | null = null;
  private syncRunning: Promise<void> | null = null;
  private syncAgain = false;
  private closed = false;

  private readonly opts: GitCheckpointOptions;

  /** `workspace` alone, or the workspace with options. */
  constructor(opts: GitCheckpointOptions | string) {
    this.opts = typeof opts === 'string' ? { workspace: opts } : opts;
    this.root = this.opts.workspace;
  }

  /** The detector's last answer: from the watches, a full scan, or the paths a step named. */
  get lastDetection(): 'watch' | 'full' | 'paths' {
    return this.detector.lastMode;
  }

  get currentCommit(): string {
    return this.head;
  }

  async init(sessionId: string, firstBranch: string, initialMessage?: string): Promise<CheckpointInit> {
    await this.openRepo(sessionId, firstBranch);
    const ref = this.refName(firstBranch);
    if (this.readRef(ref)) {
      throw new CheckpointError(
        `branch ${ref} already exists: this session was started before; reopen it with open(), or choose another session id.`,
      );
    }
    const userBranch =
      (await git(this.root, ['symbolic-ref', '--short', '-q', 'HEAD'], { okCodes: [1] })).stdout.trim() || null;
    const userHead =
      (await git(this.root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}'], { okCodes: [1] })).stdout.trim() || null;
    const sessionDir = join(this.commonDir, 'potato', sessionId);
    mkdirSync(sessionDir, { recursive: true });
    const index = join(this.gitDir, 'index');
    const tmpIndex = join(sessionDir, 'index.tmp');
    // Staging is kept aside (uncommitted work itself goes into step 0); a copy also lets
    // `git add -A` reuse its stat data instead of hashing every file.
    if (existsSync(index)) {
      copyFileSync(index, join(sessionDir, 'user-index'));
      copyFileSync(index, tmpIndex);
    }
    const capturedAt = Date.now();
    const env = { GIT_INDEX_FILE: tmpIndex };
    await git(this.root, ['add', '-A'], { env });
    const treeOid = (await git(this.root, ['write-tree'], { env })).stdout.trim();
    const message = initialMessage ?? `${this.opts.messagePrefix ?? '[potato-checkpoint]'} Step 0: Initial state`;
    const base = this.writeCommit(treeOid, userHead, message);
    this.updateRef(ref, base, ZERO, `potato: session ${sessionId} step 0`);
    writeFileSync(join(this.gitDir, 'HEAD'), `ref: ${ref}\n`);
    renameSync(tmpIndex, index);
    const record: SessionRecord = { baseCommit: base, userBranch, userHead };
    writeFileSync(join(sessionDir, 'session.json'), `${JSON.stringify(record, null, 2)}\n`);
    await this.startAt(base, capturedAt);
    return { baseCommit: base, userBranch };
  }

  async open(sessionId: string, branch: string): Promise<void> {
    await this.openRepo(sessionId, branch);
    const ref = this.refName(branch);
    const head = this.readRef(ref);
    if (!head)
      throw new CheckpointError(
        `session ${sessionId} has no branch ${branch} in ${this.root}: start it with init().`,
        'not_found',
      );
    writeFileSync(join(this.gitDir, 'HEAD'), `ref: ${ref}\n`);
    await this.startAt(head, 0);
  }

  private async openRepo(sessionId: string, branch: string): Promise<void> {
    if (this.head) throw new CheckpointError('this checkpoint store is already in use: create one store per session.');
    checkName('session id', sessionId);
    checkName('branch name', branch);
    if (!existsSync(this.root) || !lstatSync(this.root).isDirectory()) {
      throw new CheckpointError(`workspace ${this.root} is not a directory: create it or fix sandbox.workspace.`);
    }
    if (!existsSync(join(this.root, '.git'))) await git(this.root, ['init', '-q']);
    const top = (await git(this.root, ['rev-parse', '--show-toplevel'])).stdout.trim();
    if (realpathSync(top) !== realpathSync(this.root)) {
      throw new CheckpointError(
        `workspace ${this.root} is a subdirectory of the git repository at ${top}: point sandbox.workspace at ${top}, or give the workspace a repository of its own (git init).`,
      );
    }
    this.gitDir = (await git(this.root, ['rev-parse', '--absolute-git-dir'])).stdout.trim();
    const common = (await git(this.root, ['rev-parse', '--git-common-dir'])).stdout.trim();
    this.commonDir = isAbsolute(common) ? common : join(this.root, common);
    this.db = new ObjectStore(join(this.commonDir, 'objects'), this.root);
    this.ignore = new IgnoreChecker(this.root);
    this.ident = await this.identity();
    this.sessionId = sessionId;
    this.branch = branch;
  }

  private async startAt(head: string, capturedAt: number): Promise<void> {
    this.head = head;
    this.headTree = await this.treeOf(head);
    this.tree = new WorkTree(this.db, this.headTree);
    this.detector = new ChangeDetector({
      root: this.root,
      gitDir: this.gitDir,
      db: this.db,
      ignore: this.ignore,
      tree: () => this.tree,
      watch: this.opts.watch ?? true,
    });
    await this.detector.start(capturedAt);
  }

  async beforeCommand(): Promise<void> {
    // The watches run all session long, so there is nothing to start here; this only checks
    // that the store is usable.
    this.assertOpen();
  }

  async commit(req: CommitRequest): Promise<string | null> {
    this.assertOpen();
    await this.adoptForeignHead();
    const changes = req.paths
      ? await this.detector.collectPaths(req.paths.map((p) => this.relPath(p)))
      : await this.detector.collect();
    for (const [p, state] of changes) await this.tree.set(p, state);
    const treeOid = this.tree.write();
    if (treeOid === this.headTree) return null;
    const oid = this.writeCommit(treeOid, this.head, req.message);
    this.updateRef(this.refName(this.branch), oid, this.head, `commit: ${req.message.split('\n')[0]}`);
    this.head = oid;
    this.headTree = treeOid;
    this.scheduleIndexSync();
    return oid;
  }

  async reset(commit: string): Promise<void> {
    this.assertOpen();
    await this.adoptForeignHead();
    const oid = await this.resolveCommit(commit);
    await this.switchWorkspace(oid);
    this.updateRef(this.refName(this.branch), oid, this.head, `reset: moving to ${oid}`);
    this.head = oid;
    this.scheduleIndexSync();
  }

  async createBranch(name: string, commit: string): Promise<void> {
    this.assertOpen();
    checkName('branch name', name);
    const ref = this.refName(name);
    if (this.readRef(ref))
      throw new CheckpointError(
        `branch ${name} already exists in session ${this.sessionId}: use checkoutBranch.`,
        'conflict',
      );
    const oid = await this.resolveCommit(commit);
    await this.adoptForeignHead();
    await this.switchWorkspace(oid);
    this.updateRef(ref, oid, ZERO, `branch: created from ${oid}`);
    this.setHead(name, oid);
  }

  async checkoutBranch(name: string): Promise<void> {
    this.assertOpen();
    checkName('branch name', name);
    const oid = this.readRef(this.refName(name));
    if (!oid)
      throw new CheckpointError(
        `branch ${name} does not exist in session ${this.sessionId}: create it first.`,
        'not_found',
      );
    await this.adoptForeignHead();
    await this.switchWorkspace(oid);
    this.setHead(name, oid);
  }

  async diff(from: string | null, to: string): Promise<string> {
    this.assertOpen();
    const toOid = await this.resolveCommit(to);
    const fromOid = from ? await this.resolveCommit(from) : ((await this.commitInfo(toOid)).parents[0] ?? EMPTY_TREE);
    const out = await git(this.root, ['diff', '--no-color', '--no-ext-diff', '--no-renames', fromOid, toOid]);
    return out.stdout;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // First: a restore or checkpoint still streaming a large file stops now (each file stays whole).
    this.db?.close();
    this.detector?.close();
    this.ignore?.close();
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    await this.syncRunning;
    if (this.head) await this.syncIndex();
  }

  /** Make the index equal HEAD now (it is otherwise synced when idle and on close). */
  async syncIndex(): Promise<void> {
    await git(this.root, ['reset', '-q']);
  }

  // ---------------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new CheckpointError('the checkpoint store is closed.');
    if (!this.head) throw new CheckpointError('the checkpoint store is not initialised: call init() first.');
  }

  private refName(branch: string): string {
    return `refs/heads/potato/${this.sessionId}/${branch}`;
  }

  private setHead(branch: string, oid: string): void {
    this.branch = branch;
    this.head = oid;
    writeFileSync(join(this.gitDir, 'HEAD'), `ref: ${this.refName(branch)}\n`);
    this.scheduleIndexSync();
  }

  /** Someone ran git in the workspace (HEAD moved, or a commit on our branch): follow, then rescan. */
  private async adoptForeignHead(): Promise<void> {
    const ref = this.refName(this.branch);
    let headFile = '';
    try {
      headFile = readFileSync(join(this.gitDir, 'HEAD'), 'utf8').trim();
    } catch {
      // No HEAD file yet: it is written just below.
    }
    if (headFile !== `ref: ${ref}`) writeFileSync(join(this.gitDir, 'HEAD'), `ref: ${ref}\n`);
    const cur = this.readRef(ref);
    if (cur === this.head && headFile === `ref: ${ref}`) return;
    if (cur && cur !== this.head) {
      this.head = cur;
      this.headTree = await this.treeOf(cur);
      this.tree = new WorkTree(this.db, this.headTree);
    } else if (!cur) {
      this.updateRef(ref, this.head, ZERO, 'potato: restore session branch');
    }
    this.detector.invalidate();
  }

  /** Make the disk equal the tree of `oid`, touching only paths that differ. */
  private async switchWorkspace(oid: string): Promise<void> {
    const targetTree = await this.treeOf(oid);
    const onDisk: ChangeSet = await this.detector.collect();
    const plan = await this.tree.diffTo(targetTree);
    const target = new WorkTree(this.db, targetTree);
    for (const [p, disk] of onDisk) {
      if (plan.has(p)) continue;
      const want = await target.lookup(p);
      const wantFile = want === 'tree' ? null : want;
      if (!sameState(disk, wantFile)) plan.set(p, wantFile);
    }
    for (const [p, state] of plan) {
      if (state && onDisk.has(p) && sameState(onDisk.get(p), state)) plan.delete(p);
    }
    const parents = new Set<string>();
    for (const [p, state] of plan) {
      if (state) continue;
      rmSync(join(this.root, p), { force: true, recursive: true });
      this.detector.noteWritten(p, null);
      parents.add(dirname(p));
    }
    for (const [p, state] of plan) {
      if (state) await this.writeFile(p, state);
    }
    // Git has no empty directories: remove the ones deleted files leave behind, deepest first.
    for (const d of [...parents].sort((a, b) => b.length - a.length)) {
      for (let cur = d; cur !== '.' && cur !== ''; cur = dirname(cur)) {
        try {
          rmdirSync(join(this.root, cur));
        } catch {
          // Not empty (or already gone): the parents above it stay.
          break;
        }
      }
    }
    this.tree = target;
    this.headTree = targetTree;
    // The watch events of these writes are the store's own: drop them so the next step does not re-read the files.
    await this.detector.forget([...plan.keys()]);
  }

  private async writeFile(rel: string, state: FileState): Promise<void> {
    const abs = join(this.root, rel);
    if (state.mode === '160000') {
      mkdirSync(abs, { recursive: true });
      return;
    }
    let st: ReturnType<typeof lstatSync> | null = null;
    try {
      st = lstatSync(abs);
    } catch {
      // Nothing there yet: make its folder; the file is written below.
      mkdirSync(dirname(abs), { recursive: true });
    }
    const exec = state.mode === '100755';
    if (state.mode === '120000') {
      const obj = await this.db.read(state.oid);
      if (st) rmSync(abs, { recursive: true, force: true });
      symlinkSync(obj.data.toString('utf8'), abs);
    } else {
      // A file whose exec bit is unchanged keeps its other mode bits.
      const keep = st?.isFile() && Boolean(st.mode & 0o100) === exec;
      if (st && !st.isFile() && !st.isSymbolicLink()) rmSync(abs, { recursive: true, force: true });
      await this.db.checkoutBlob(state.oid, abs, keep && st ? st.mode & 0o7777 : exec ? 0o755 : 0o644);
    }
    this.detector.noteWritten(rel, state);
  }

  private relPath(p: string): string {
    const rel = isAbsolute(p) ? relative(this.root, p) : p;
    const norm = rel.split(sep).join('/').replace(/^\.\//, '').replace(/\/+$/, '');
    if (norm === '' || norm.startsWith('../') || norm === '..' || isAbsolute(norm)) {
      throw new CheckpointError(
        `path ${p} is outside the workspace ${this.root}: pass paths relative to the workspace.`,
        'bad_request',
      );
    }
    return norm;
  }

  private async resolveCommit(commit: string): Promise<string> {
    let oid = commit;
    if (!/^[0-9a-f]{40}$/.test(commit)) {
      const r = await git(this.root, ['rev-parse', '--verify', '-q', `${commit}^{commit}`], { okCodes: [1] });
      oid = r.stdout.trim();
      if (!oid)
        throw new CheckpointError(
          `no commit ${commit} in ${this.root}: pass a checkpoint id returned by commit().`,
          'not_found',
        );
    }
    await this.commitInfo(oid);
    return oid;
  }

  private async commitInfo(oid: string) {
    let obj: Awaited<ReturnType<ObjectStore['read']>>;
    try {
      obj = await this.db.read(oid);
    } catch (err) {
      throw new CheckpointError(
        `no commit ${oid} in ${this.root}: pass a checkpoint id returned by commit().`,
        'not_found',
        { cause: err },
      );
    }
    if (obj.type !== 'commit') throw new CheckpointError(`${oid} is a ${obj.type}, not a commit.`, 'bad_request');
    return parseCommit(obj.data);
  }

  private async treeOf(commit: string): Promise<string> {
    return (await this.commitInfo(commit)).tree;
  }

  private writeCommit(tree: string, parent: string | null, message: string): string {
    const stamp = this.stamp();
    const text =
      `tree ${tree}\n${parent ? `parent ${parent}\n` : ''}author ${this.ident} ${stamp}\ncommitter ${this.ident} ${stamp}\n\n` +
      (message.endsWith('\n') ? message : `${message}\n`);
    return this.db.write('commit', Buffer.from(text, 'utf8'));
  }

  private stamp(): string {
    const off = -new Date().getTimezoneOffset();
    const abs = Math.abs(off);
    const tz = `${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
    return `${Math.floor(Date.now() / 1000)} ${tz}`;
  }

  private async identity(): Promise<string> {
    if (this.opts.author) return `${this.opts.author.name} <${this.opts.author.email}>`;
    const get = async (k: string) => (await git(this.root, ['config', k], { okCodes: [1] })).stdout.trim();
    const name = (await get('user.name')) || 'Potato Live';
    const email = (await get('user.email')) || 'potato-live@localhost';
    return `${name} <${email}>`;
  }

  private readRef(ref: string): string | null {
    try {
      return readFileSync(join(this.commonDir, ref), 'utf8').trim();
    } catch {
      // No loose ref: it may be in packed-refs.
    }
    try {
      for (const line of readFileSync(join(this.commonDir, 'packed-refs'), 'utf8').split('\n')) {
        if (line.endsWith(` ${ref}`)) return line.slice(0, 40);
      }
    } catch {
      // No packed-refs file: the ref does not exist.
    }
    return null;
  }

  /** Write a loose ref (aside, then renamed) and its reflog line, as git does. */
  private updateRef(ref: string, oid: string, old: string, why: string): void {
    const file = join(this.commonDir, ref);
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.lock`;
    writeFileSync(tmp, `${oid}\n`);
    renameSync(tmp, file);
    const line = `${old} ${oid} ${this.ident} ${this.stamp()}\t${why}\n`;
    const log = join(this.commonDir, 'logs', ref);
    mkdirSync(dirname(log), { recursive: true });
    appendFileSync(log, line);
    appendFileSync(join(this.gitDir, 'logs', 'HEAD'), line);
  }

  private scheduleIndexSync(): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      this.runIndexSync();
    }, this.opts.indexSyncDelayMs ?? 300);
    this.syncTimer.unref();
  }

  private runIndexSync(): void {
    if (this.syncRunning) {
      this.syncAgain = true;
      return;
    }
    this.syncRunning = this.syncIndex()
      .catch(() => {
        // A user's git command holding index.lock: the next sync (or close) does it.
      })
      .finally(() => {
        this.syncRunning = null;
        if (this.syncAgain && !this.closed) {
          this.syncAgain = false;
          this.runIndexSync();
        }
      });
  }
}

function checkName(what: string, name: string): void {
  if (!NAME_RE.test(name)) {
    throw new CheckpointError(
      `invalid ${what} "${name}": use letters, digits, '.', '_' and '-' (not starting with '.' or '-', no '..', not ending in .lock).`,
      'bad_request',
    );
  }
}

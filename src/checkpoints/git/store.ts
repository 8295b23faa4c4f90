/**
 * @module checkpoints/git/store
 * The git CheckpointStore: one commit per changing step on a per-session branch
 * (`refs/heads/potato/<session>/<branch>`), written in process (objects, refs, reflog, index) in
 * a git directory the server owns outside the workspace (see repo.ts). The only git processes
 * are sealed ones (git.ts): ignore rules, diffs, reading packed objects.
 *
 * One writer: every operation that changes refs, the index, the records or the workspace runs
 * through `exclusive()`, one at a time, the idle index write included. Nothing else moves a ref:
 * a ref found elsewhere than the store's head is put back (and the workspace rescanned).
 *
 * Exact: contents are stored as raw bytes (no attributes, filters or eol conversion apply), and
 * what git cannot hold — permission bits other than 644/755, empty directories, directories
 * with other permissions, nested repositories' `.git` — is kept in the store's own record per
 * checkpoint (`potato/<session>/records/<commit>.json` in the git directory).
 */
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { rename } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { reportIgnored } from '../../errors.js';
import type { CheckpointInit, CheckpointStore, CommitRequest } from '../types.js';
import { ChangeDetector, type ChangeSet, type NestedRecord } from './changes.js';
import { createFile, SpareFiles } from './files.js';
import { git } from './git.js';
import { IgnoreChecker } from './ignore.js';
import { writeIndexFile } from './index-file.js';
import { EMPTY_TREE, ObjectStore, parseCommit, parseTree, TREE_MODE } from './objects.js';
import { CheckpointError, CheckpointRepo, ZERO } from './repo.js';
import {
  type FileState,
  isRecordKey,
  NESTED_MODE,
  parseExtras,
  STANDARD_DEFAULTS,
  sameState,
  WorkTree,
} from './tree.js';

export { CheckpointError };

export interface GitCheckpointOptions {
  /** The workspace: a directory (with the user's `.git` copied in, or none). */
  workspace: string;
  /**
   * The checkpoint repository's git directory: a server-owned folder outside the workspace that
   * the agent cannot write (e.g. `<output.path>/checkpoints/<session>`).
   */
  gitDir: string;
  /** Prefix of the step-0 message, `<prefix> Step 0: Initial state` (config `commit_message_prefix`). */
  messagePrefix?: string;
  /** Learn what shell commands changed from inotify watches (default) or from full stat scans. */
  watch?: boolean;
  /** Idle time before the index is written (default 300 ms); it is always written on close(). */
  indexSyncDelayMs?: number;
  author?: { name: string; email: string };
}

const NAME_RE = /^(?!.*\.\.)(?!.*\.lock$)[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const DEFAULT_AUTHOR = 'Potato Live <potato-live@localhost>';

interface SessionRecord {
  baseCommit: string;
  userBranch: string | null;
  userHead: string | null;
}

export class GitCheckpointStore implements CheckpointStore {
  private readonly root: string;
  private readonly repo: CheckpointRepo;
  private db!: ObjectStore;
  private spares: SpareFiles | null = null;
  private ignore!: IgnoreChecker;
  private detector!: ChangeDetector;
  private tree!: WorkTree;
  private sessionId = '';
  private branch = '';
  private head = '';
  private headTree = '';
  private headExtras = '';
  private readonly ident: string;
  private syncTimer: NodeJS.Timeout | null = null;
  private indexStale = false;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** Directories made while restoring a checkpoint, to be watched. */
  private readonly madeDirs: string[] = [];

  private readonly opts: GitCheckpointOptions;

  constructor(opts: GitCheckpointOptions) {
    this.opts = opts;
    this.root = opts.workspace;
    this.repo = new CheckpointRepo(opts.gitDir, opts.workspace);
    this.ident = opts.author ? `${opts.author.name} <${opts.author.email}>` : DEFAULT_AUTHOR;
  }

  /** The detector's last answer: from the watches, a full scan, or the paths a step named. */
  get lastDetection(): 'watch' | 'full' | 'paths' {
    return this.detector.lastMode;
  }

  get currentCommit(): string {
    return this.head;
  }

  get gitDir(): string {
    return this.repo.gitDir;
  }

  /** One operation at a time: refs, index, records and workspace have one writer. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    // The caller gets the failure through `run`; the queue only waits for it to settle.
    this.queue = run.catch(() => {});
    return run;
  }

  init(sessionId: string, firstBranch: string, initialMessage?: string): Promise<CheckpointInit> {
    return this.exclusive(async () => {
      this.checkUnused(sessionId, firstBranch);
      this.checkWorkspace();
      const { userBranch, userHead } = this.repo.create();
      this.repo.writePointer();
      this.openObjects(sessionId, firstBranch);
      if (userHead) await this.commitInfo(userHead);
      const baseTree = userHead ? await this.treeOf(userHead) : EMPTY_TREE;
      this.tree = new WorkTree(this.db, baseTree, undefined, STANDARD_DEFAULTS);
      // Step 0 is the disk as it is, every file read (raw bytes): nothing is trusted from the copy.
      const changes = await this.startDetector(0);
      for (const [p, state] of changes) await this.tree.set(p, state);
      const treeOid = this.tree.write();
      const message = initialMessage ?? `${this.opts.messagePrefix ?? '[potato-checkpoint]'} Step 0: Initial state`;
      const base = this.writeCommit(treeOid, userHead, message);
      const extras = this.tree.serializeExtras();
      await this.writeCheckpoint(base, extras);
      const ref = this.refName(firstBranch);
      this.repo.setHeadRef(ref);
      await this.repo.updateRef(ref, base, ZERO, this.ident, stamp(), `potato: session ${sessionId} step 0`);
      const record: SessionRecord = { baseCommit: base, userBranch, userHead };
      writeFileSync(join(this.repo.sessionDir(sessionId), 'session.json'), `${JSON.stringify(record, null, 2)}\n`);
      this.head = base;
      this.headTree = treeOid;
      this.headExtras = extras;
      await this.writeIndex();
      return { baseCommit: base, userBranch };
    });
  }

  /**
   * Reopen after a restart. `heads` (branch name → commit, from the session store) repairs the
   * refs a crash left behind: each listed ref is set to its head, session refs not listed go.
   */
  open(sessionId: string, branch: string, heads?: Record<string, string>): Promise<void> {
    return this.exclusive(async () => {
      this.checkUnused(sessionId, branch);
      this.checkWorkspace();
      if (!this.repo.exists()) {
        throw new CheckpointError(
          `session ${sessionId} has no checkpoint repository at ${this.repo.gitDir}: start it with init().`,
        );
      }
      this.repo.reseal();
      this.openObjects(sessionId, branch);
      if (heads) await this.repairRefs(heads);
      const ref = this.refName(branch);
      const head = this.repo.readRef(ref);
      if (!head)
        throw new CheckpointError(`session ${sessionId} has no branch ${branch} in ${this.repo.gitDir}.`, 'not_found');
      this.repo.setHeadRef(ref);
      this.repo.writePointer();
      this.head = head;
      this.headTree = await this.treeOf(head);
      this.headExtras = this.readRecord(head);
      this.tree = new WorkTree(this.db, this.headTree, parseExtras(this.headExtras), STANDARD_DEFAULTS);
      await this.startDetector(0);
      this.scheduleIndexSync();
    });
  }

  private async repairRefs(heads: Record<string, string>): Promise<void> {
    const present = this.repo.listSessionRefs(this.sessionId);
    for (const name of present.keys()) {
      if (!(name in heads)) this.repo.deleteRef(this.refName(name));
    }
    for (const [name, want] of Object.entries(heads)) {
      checkName('branch name', name);
      const oid = await this.resolveCommit(want);
      const cur = present.get(name) ?? ZERO;
      if (cur !== oid)
        await this.repo.updateRef(
          this.refName(name),
          oid,
          cur,
          this.ident,
          stamp(),
          "potato: repaired to the store's head",
        );
    }
  }

  private checkUnused(sessionId: string, branch: string): void {
    if (this.closed) throw new CheckpointError('the checkpoint store is closed.');
    if (this.head) throw new CheckpointError('this checkpoint store is already in use: create one store per session.');
    checkName('session id', sessionId);
    checkName('branch name', branch);
  }

  private checkWorkspace(): void {
    if (!existsSync(this.root) || !lstatSync(this.root).isDirectory()) {
      throw new CheckpointError(`workspace ${this.root} is not a directory: create it or fix sandbox.workspace.`);
    }
  }

  private openObjects(sessionId: string, branch: string): void {
    // `.spare` can be no session's folder (names start with a letter, digit or '_').
    this.spares = new SpareFiles(join(this.repo.gitDir, 'potato', '.spare'));
    this.spares.prime();
    this.repo.attachSpares(this.spares);
    this.db = new ObjectStore(join(this.repo.gitDir, 'objects'), this.repo.gitDir, this.spares);
    this.ignore = new IgnoreChecker({ gitDir: this.repo.gitDir, workTree: this.root });
    this.sessionId = sessionId;
    this.branch = branch;
  }

  private async startDetector(capturedAt: number): Promise<ChangeSet> {
    this.detector = new ChangeDetector({
      root: this.root,
      gitDir: this.repo.gitDir,
      db: this.db,
      ignore: this.ignore,
      tree: () => this.tree,
      watch: this.opts.watch ?? true,
    });
    return this.detector.start(capturedAt);
  }

  async beforeCommand(): Promise<void> {
    // The watches run all session long, so there is nothing to start here; this only checks
    // that the store is usable.
    this.assertOpen();
  }

  commit(req: CommitRequest): Promise<string | null> {
    return this.exclusive(async () => {
      this.assertOpen();
      await this.keepRefs();
      // After a failed checkpoint the detector knows nothing: a full look, whatever the step named.
      const changes =
        req.paths && !this.detector.forgotten
          ? await this.detector.collectPaths(req.paths.map((p) => this.relPath(p)))
          : await this.detector.collect();
      for (const [p, state] of changes) await this.tree.set(p, state);
      const treeOid = this.tree.write();
      const extras = this.tree.serializeExtras();
      if (treeOid === this.headTree && extras === this.headExtras) return null;
      const oid = this.writeCommit(treeOid, this.head, req.message);
      await this.writeCheckpoint(oid, extras);
      await this.moveBranch(oid, `commit: ${req.message.split('\n')[0]}`);
      this.headTree = treeOid;
      this.headExtras = extras;
      this.scheduleIndexSync();
      return oid;
    });
  }

  reset(commit: string): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      await this.keepRefs();
      const oid = await this.resolveCommit(commit);
      await this.switchWorkspace(oid);
      await this.moveBranch(oid, `reset: moving to ${oid}`);
      this.scheduleIndexSync();
    });
  }

  createBranch(name: string, commit: string): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      checkName('branch name', name);
      const ref = this.refName(name);
      if (this.repo.readRef(ref))
        throw new CheckpointError(
          `branch ${name} already exists in session ${this.sessionId}: use checkoutBranch.`,
          'conflict',
        );
      const oid = await this.resolveCommit(commit);
      await this.keepRefs();
      await this.switchWorkspace(oid);
      this.repo.setHeadRef(ref);
      await this.repo.updateRef(ref, oid, ZERO, this.ident, stamp(), `branch: created from ${oid}`);
      this.branch = name;
      this.head = oid;
      this.scheduleIndexSync();
    });
  }

  checkoutBranch(name: string): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      checkName('branch name', name);
      const oid = this.repo.readRef(this.refName(name));
      if (!oid)
        throw new CheckpointError(
          `branch ${name} does not exist in session ${this.sessionId}: create it first.`,
          'not_found',
        );
      await this.keepRefs();
      await this.switchWorkspace(oid);
      this.repo.setHeadRef(this.refName(name));
      this.branch = name;
      this.head = oid;
      this.scheduleIndexSync();
    });
  }

  async diff(from: string | null, to: string): Promise<string> {
    this.assertOpen();
    const toOid = await this.resolveCommit(to);
    const fromOid = from ? await this.resolveCommit(from) : ((await this.commitInfo(toOid)).parents[0] ?? EMPTY_TREE);
    // Plumbing without a work tree: no textconv, no external diff, attributes from info/attributes only.
    const out = await git(
      ['diff-tree', '-p', '-r', '--no-color', '--no-ext-diff', '--no-textconv', '--no-renames', fromOid, toOid],
      { gitDir: this.repo.gitDir },
    );
    return out.stdout;
  }

  close(): Promise<void> {
    if (this.closed) return this.queue.then(() => {});
    this.closed = true;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    // First: a restore or checkpoint still streaming a large file stops now (each file stays whole).
    this.db?.close();
    return this.exclusive(async () => {
      // Objects still being written (a last change scan's blobs, named by no ref) finish first.
      await this.db
        ?.settle()
        .catch((err: unknown) => reportIgnored(err, `finishing the objects of ${this.repo.gitDir}`));
      this.detector?.close();
      this.ignore?.close();
      if (this.head) {
        // Whatever a user's git (or an agent in the local sandbox) wrote there is undone.
        this.repo.reseal();
        this.repo.writePointer();
        await this.writeIndex();
      }
      this.db?.close();
      this.spares?.close();
    });
  }

  /** Make the index equal HEAD now (it is otherwise written when idle and on close). */
  syncIndex(): Promise<void> {
    return this.exclusive(() => this.writeIndex());
  }

  // ---------------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new CheckpointError('the checkpoint store is closed.');
    if (!this.head) throw new CheckpointError('the checkpoint store is not initialised: call init() first.');
  }

  private refName(branch: string): string {
    return `refs/heads/potato/${this.sessionId}/${branch}`;
  }

  /**
   * The store's heads are the truth. If someone else moved HEAD or the branch (a user's git in
   * the workspace, an agent in the local sandbox), put them back and rescan the disk: whatever
   * that commit changed is on disk and goes into the next checkpoint.
   */
  private async keepRefs(): Promise<void> {
    const ref = this.refName(this.branch);
    let moved = false;
    if (this.repo.headRef() !== ref) {
      this.repo.setHeadRef(ref);
      moved = true;
    }
    const cur = this.repo.readRef(ref);
    if (cur !== this.head) {
      await this.repo.updateRef(ref, this.head, cur ?? ZERO, this.ident, stamp(), "potato: restore the store's head");
      moved = true;
    }
    if (moved) {
      this.detector.invalidate();
      this.indexStale = true;
    }
  }

  /** Make the disk equal the checkpoint `oid`, touching only paths that differ. */
  private async switchWorkspace(oid: string): Promise<void> {
    const targetTree = await this.treeOf(oid);
    const targetExtras = this.readRecord(oid);
    const onDisk: ChangeSet = await this.detector.collect();
    const target = new WorkTree(this.db, targetTree, parseExtras(targetExtras), STANDARD_DEFAULTS);
    const plan = await this.tree.diffTo(target);
    for (const [p, disk] of onDisk) {
      if (plan.has(p)) continue;
      const want = await target.lookup(p);
      const wantFile = want === 'tree' ? null : want;
      if (!sameState(disk, wantFile)) plan.set(p, wantFile);
    }
    for (const [p, state] of plan) {
      if (state && onDisk.has(p) && sameState(onDisk.get(p), state) && !isRecordKey(p)) plan.delete(p);
    }
    const parents = new Set<string>();
    for (const [p, state] of plan) {
      if (state || p.endsWith('/')) continue;
      rmSync(join(this.root, p), { force: true, recursive: true });
      this.detector.noteWritten(p, null);
      parents.add(dirname(p));
    }
    // Git has no empty directories: remove the ones deleted files leave behind, deepest first
    // (the record puts back those the checkpoint had).
    for (const d of [...parents].sort((a, b) => b.length - a.length)) {
      for (let cur = d; cur !== '.' && cur !== ''; cur = dirname(cur)) {
        if (target.extras.dirs.has(cur)) break;
        try {
          rmdirSync(join(this.root, cur));
        } catch {
          // Not empty (or gone): the climb stops at the first directory that still holds something.
          break;
        }
      }
    }
    for (const [p, state] of plan) {
      if (!state || p.endsWith('/')) continue;
      if (state.mode === NESTED_MODE) await this.writeNested(p, state, target);
      else await this.writeFile(p, state, target);
    }
    const dirKeys = [...plan.keys()].filter((p) => p.endsWith('/')).sort((a, b) => b.length - a.length);
    for (const key of dirKeys) {
      const rel = key.slice(0, -1);
      const want = plan.get(key);
      const abs = join(this.root, rel);
      if (want?.perm !== undefined) {
        this.ensureDir(rel, target);
        chmodSync(abs, want.perm);
      } else if ((await target.lookup(rel)) === 'tree') {
        if (existsSync(abs)) chmodSync(abs, target.defaults.dir);
      } else {
        // Not in the checkpoint: remove it, and the parents it leaves empty that the checkpoint lacks too.
        for (let cur = rel; cur !== '.' && cur !== ''; cur = dirname(cur)) {
          if (cur !== rel && (target.extras.dirs.has(cur) || (await target.lookup(cur)) === 'tree')) break;
          try {
            rmdirSync(join(this.root, cur));
          } catch {
            // Not empty (or gone): the climb stops at the first directory that still holds something.
            break;
          }
        }
      }
    }
    this.tree = target;
    this.headTree = targetTree;
    this.headExtras = targetExtras;
    this.repo.writePointer();
    // The watch events of these writes are the store's own: drop them so the next step does not re-read the files.
    // Directories stay dirty: the next answer looks at them once.
    await this.detector.forget([...plan.keys()].filter((p) => !isRecordKey(p)));
    // The ones the store made are watched now: a name that was a file may be a directory again,
    // and its event was just forgotten with the file's.
    this.detector.watchMade(this.madeDirs.splice(0));
  }

  /** mkdir -p with each directory made given the default permissions (not the umask's). */
  private ensureDir(rel: string, target: WorkTree): void {
    if (rel === '' || rel === '.') return;
    const abs = join(this.root, rel);
    try {
      if (lstatSync(abs).isDirectory()) return;
      rmSync(abs, { force: true });
    } catch {
      // Nothing at abs: made below; a removal that failed makes mkdirSync throw.
    }
    this.ensureDir(dirname(rel), target);
    mkdirSync(abs);
    chmodSync(abs, target.defaults.dir);
    this.madeDirs.push(rel);
  }

  private async writeFile(rel: string, state: FileState, target: WorkTree): Promise<void> {
    const abs = join(this.root, rel);
    this.ensureDir(dirname(rel), target);
    if (state.mode === '160000') {
      this.ensureDir(rel, target);
      return;
    }
    let st: ReturnType<typeof lstatSync> | null = null;
    try {
      st = lstatSync(abs);
    } catch {
      // Nothing at abs yet: st stays null and the file is written fresh.
    }
    if (state.mode === '120000') {
      const obj = await this.db.read(state.oid);
      if (st) rmSync(abs, { recursive: true, force: true });
      symlinkSync(obj.data.toString('utf8'), abs);
    } else {
      const perm = state.perm ?? target.permOf(rel, state.mode)!;
      if (st && !st.isFile() && !st.isSymbolicLink()) rmSync(abs, { recursive: true, force: true });
      // Written aside and renamed over the path, with exactly the permissions of the checkpoint.
      await this.db.checkoutBlob(state.oid, abs, perm);
    }
    this.detector.noteWritten(rel, state);
  }

  /** Put a nested repository's `.git` back exactly as it was stored (or remove it). */
  private async writeNested(gitRel: string, state: FileState, target: WorkTree): Promise<void> {
    const abs = join(this.root, gitRel);
    rmSync(abs, { recursive: true, force: true });
    const record = JSON.parse((await this.db.read(state.oid)).data.toString('utf8')) as NestedRecord;
    this.ensureDir(dirname(gitRel), target);
    if (record.kind === 'link') {
      symlinkSync((await this.db.read(record.oid)).data.toString('utf8'), abs);
      return;
    }
    if (record.kind === 'file') {
      writeFileSync(abs, (await this.db.read(record.oid)).data);
      chmodSync(abs, record.perms[''] ?? 0o644);
      return;
    }
    const dirs: string[] = [];
    const restore = async (treeOid: string, inside: string): Promise<void> => {
      const dirAbs = inside ? join(abs, inside) : abs;
      mkdirSync(dirAbs);
      dirs.push(inside);
      const obj = await this.db.read(treeOid);
      for (const [name, e] of parseTree(obj.data)) {
        const child = inside ? `${inside}/${name}` : name;
        if (e.mode === TREE_MODE) await restore(e.oid, child);
        else if (e.mode === '120000') symlinkSync((await this.db.read(e.oid)).data.toString('utf8'), join(abs, child));
        else {
          writeFileSync(join(abs, child), (await this.db.read(e.oid)).data);
          chmodSync(join(abs, child), record.perms[child] ?? (e.mode === '100755' ? 0o755 : 0o644));
        }
      }
    };
    await restore(record.oid, '');
    for (const d of dirs.sort((a, b) => b.length - a.length))
      chmodSync(d ? join(abs, d) : abs, record.perms[d] ?? 0o755);
  }

  /** The current branch (and the store's head) to `oid`, with `why` in its reflog. */
  private async moveBranch(oid: string, why: string): Promise<void> {
    await this.repo.updateRef(this.refName(this.branch), oid, this.head, this.ident, stamp(), why);
    this.head = oid;
  }

  /**
   * Everything a ref to `commit` needs before it moves: its objects in place (written side by
   * side since the last checkpoint) and its record. If an object could not be written, the
   * in-memory tree and the change detector may hold ids of objects that are not there: both
   * start again from the head (a full scan finds the changes again), and the commit fails.
   */
  private async writeCheckpoint(commit: string, extras: string): Promise<void> {
    const [objects, record] = await Promise.allSettled([this.db.settle(), this.writeRecord(commit, extras)]);
    if (objects.status === 'rejected') {
      this.tree = new WorkTree(this.db, this.headTree, parseExtras(this.headExtras), STANDARD_DEFAULTS);
      this.detector.forgetAll();
      throw new CheckpointError(
        `writing the checkpoint's objects failed: ${(objects.reason as Error).message}`,
        'checkpoint_failed',
        {
          cause: objects.reason,
        },
      );
    }
    if (record.status === 'rejected') throw record.reason;
  }

  /** The checkpoint's record (what git cannot hold), written aside then renamed: whole or absent. */
  private async writeRecord(commit: string, extras: string): Promise<void> {
    if (extras === this.emptyExtrasText()) return;
    const dir = join(this.repo.sessionDir(this.sessionId), 'records');
    const file = join(dir, `${commit}.json`);
    const spare = this.spares?.filled(extras, 0o644) ?? null;
    if (spare) {
      try {
        renameSync(spare, file);
        return;
      } catch (err) {
        rmSync(spare, { force: true });
        // The folder is not made yet, or was removed by hand: the way below makes it.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    await this.repo.inDir(dir, () => createFile(`${file}.tmp`, extras, { exclusive: false }));
    await rename(`${file}.tmp`, file);
  }

  private readRecord(commit: string): string {
    try {
      return readFileSync(join(this.repo.gitDir, 'potato', this.sessionId, 'records', `${commit}.json`), 'utf8');
    } catch (err) {
      // No record file: writeRecord skips checkpoints without extras.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return this.emptyExtrasText();
    }
  }

  private emptyExtrasText(): string {
    return new WorkTree(this.db, EMPTY_TREE).serializeExtras();
  }

  private async writeIndex(): Promise<void> {
    if (!this.head) return;
    const files = await this.tree.filesUnder('');
    const entries = [...files].map(([path, s]) => ({
      path,
      mode: s.mode,
      oid: s.oid,
      stat: this.detector.statFor(path, s),
    }));
    // A user's git holding index.lock right now: the next idle write (or close) does it.
    this.indexStale = !(await writeIndexFile(this.repo.gitDir, entries));
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

  /** A full commit id, `HEAD`, or a branch of this session; resolved in process. */
  private async resolveCommit(commit: string): Promise<string> {
    let oid: string | null = commit;
    if (!/^[0-9a-f]{40}$/.test(commit)) {
      oid = commit === 'HEAD' ? this.head : NAME_RE.test(commit) ? this.repo.readRef(this.refName(commit)) : null;
      if (!oid)
        throw new CheckpointError(
          `no commit ${commit} in ${this.repo.gitDir}: pass a checkpoint id returned by commit().`,
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
      // Unreadable means not a commit of this repository; the cause keeps the detail for the log.
      throw new CheckpointError(
        `no commit ${oid} in ${this.repo.gitDir}: pass a checkpoint id returned by commit().`,
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
    const when = stamp();
    const text =
      `tree ${tree}\n${parent ? `parent ${parent}\n` : ''}author ${this.ident} ${when}\ncommitter ${this.ident} ${when}\n\n` +
      (message.endsWith('\n') ? message : `${message}\n`);
    return this.db.write('commit', Buffer.from(text, 'utf8'));
  }

  private scheduleIndexSync(): void {
    this.indexStale = true;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      if (this.closed || !this.indexStale) return;
      // Under the same lock as every other write: it can never race a rollback.
      this.exclusive(() => this.writeIndex()).catch(() => {
        this.indexStale = true;
      });
    }, this.opts.indexSyncDelayMs ?? 300);
    this.syncTimer.unref();
  }
}

function stamp(): string {
  const off = -new Date().getTimezoneOffset();
  const abs = Math.abs(off);
  const tz = `${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  return `${Math.floor(Date.now() / 1000)} ${tz}`;
}

function checkName(what: string, name: string): void {
  if (!NAME_RE.test(name)) {
    throw new CheckpointError(
      `invalid ${what} "${name}": use letters, digits, '.', '_' and '-' (not starting with '.' or '-', no '..', not ending in .lock).`,
      'bad_request',
    );
  }
}

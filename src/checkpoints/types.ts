/**
 * @module checkpoints/types
 * The CheckpointStore seam: a commit of the whole workspace after each changing step, reset to
 * any commit, a ref per branch. One commit per changing step, so `git log --oneline` in the
 * workspace reads as the trajectory.
 */

export interface CheckpointInit {
  /** Commit of step 0 ("Initial state"). */
  baseCommit: string;
  /** The branch the user had checked out before (restored on request, never rewritten). */
  userBranch: string | null;
}

export interface CommitRequest {
  message: string;
  /**
   * Paths (workspace-relative) the step changed, when the step knows them (a file edit).
   * Undefined means "find out" (after a shell command).
   */
  paths?: string[];
}

export interface CheckpointStore {
  /**
   * Initialise or reuse the repository, create the session's first branch, commit step 0
   * (with `initialMessage`, e.g. "[potato-checkpoint] Step 0: Initial state", when given).
   */
  init(sessionId: string, firstBranch: string, initialMessage?: string): Promise<CheckpointInit>;
  /**
   * Reopen the repository of an existing session (after a restart of the server) with `branch`
   * current, without committing anything; the caller then resets to the last checkpoint.
   * `heads` (branch name → commit, as the session store has them) repairs what a crash left:
   * every listed branch ref is set to its head, and session refs not listed are removed.
   */
  open(sessionId: string, branch: string, heads?: Record<string, string>): Promise<void>;
  /** Called before a shell command runs, so `commit` can learn what it changed without a full scan. */
  beforeCommand(): Promise<void>;
  /** Commit what changed on the current branch; null when nothing changed. */
  commit(req: CommitRequest): Promise<string | null>;
  /**
   * Make the workspace byte-for-byte equal to `commit` (edited, created and deleted files) and
   * move the current branch ref there, like `git reset --hard` (the next commit's parent is `commit`).
   */
  reset(commit: string): Promise<void>;
  /**
   * Create branch `name` at `commit`, make it current (subsequent commits go there) and make the
   * workspace equal to `commit`. The previous branch ref is left where it was.
   */
  createBranch(name: string, commit: string): Promise<void>;
  /** Switch the current branch (and the workspace) to an existing one at its head. */
  checkoutBranch(name: string): Promise<void>;
  /** Unified diff between two commits (or a commit and its parent when `from` is null). */
  diff(from: string | null, to: string): Promise<string>;
  close(): Promise<void>;
}

/** What a path names in a checkpoint, read without touching the workspace. */
export type FileAtCheckpoint =
  | { kind: 'file'; size: number; data: Buffer }
  /** Over the reader's limit: only its size was read. */
  | { kind: 'too_large'; size: number }
  | { kind: 'folder' }
  | { kind: 'submodule' }
  | { kind: 'missing' };

/**
 * A session's checkpoints, read-only: for the file tree and viewer of a running or an ended
 * session, without a running session and without a process per read. Safe beside the session's
 * own CheckpointStore: objects and refs are only ever replaced whole.
 */
export interface CheckpointReader {
  /** The commit the session's current branch is at, or null when there is none (yet). */
  head(): Promise<string | null>;
  /** Every file path at `commit` (files, symlinks, submodules), in git's tree order. */
  listFiles(commit: string): Promise<string[]>;
  /** The file at `path` (workspace-relative, `/`-separated) in `commit`; its bytes up to `maxBytes`. */
  readFile(commit: string, path: string, maxBytes: number): Promise<FileAtCheckpoint>;
  /** The first parent of `commit` (for step 0: the user's commit it was made on), or null. */
  parentOf(commit: string): Promise<string | null>;
  /** The binary diff between two commits, as `git apply` takes it (full blob ids, no textconv). */
  patch(from: string, to: string): Promise<string>;
  close(): Promise<void>;
}

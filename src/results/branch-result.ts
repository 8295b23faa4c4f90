/**
 * @module results/branch-result
 * A branch's result: the last checkpoint on its path and its patch from the session's base,
 * read through the session's CheckpointReader (the engine's, checkpoints/types.ts).
 * The patch download and `potato apply` both start here.
 */
import type { CheckpointReader } from '../checkpoints/types.js';
import { branchPath } from '../store/tree.js';
import type { BranchRecord, SessionRecord, Store } from '../store/types.js';

export class ResultError extends Error {
  override name = 'ResultError';
}

export interface BranchResult {
  session: SessionRecord;
  /** The session's checkpoints (the server's own repository), read-only. */
  checkpoints: CheckpointReader;
  branch: BranchRecord;
  base: string;
  /** The commit holding the branch's last checkpointed state. */
  commit: string;
  /** step_idx of the step that made `commit` (null: nothing after the base). */
  step: number | null;
}

/** The branch named `name` (default: the session's current branch) and its last checkpoint. */
export async function branchResult(
  store: Store,
  session: SessionRecord,
  checkpoints: CheckpointReader,
  name?: string,
): Promise<BranchResult> {
  if (!session.base_commit) {
    throw new ResultError(
      `session ${session.id} has no checkpoints (live_coding_agent.checkpoints.enabled was false): there is no result to take`,
    );
  }
  const branches = await store.listBranches(session.id);
  const branch = name
    ? branches.find((b) => b.name === name)
    : branches.find((b) => b.id === session.current_branch_id);
  if (!branch) {
    const names = branches.map((b) => b.name).join(', ') || 'none';
    throw new ResultError(
      name
        ? `session ${session.id} has no branch ${name}: its branches are ${names}`
        : `session ${session.id} has no branch yet`,
    );
  }
  const path = branchPath(branch, await store.listSteps(session.id));
  const last = [...path].reverse().find((s) => s.checkpoint);
  return {
    session,
    checkpoints,
    branch,
    base: session.base_commit,
    commit: last?.checkpoint ?? session.base_commit,
    step: last?.step_idx ?? null,
  };
}

/** The branch's diff from the session's base, as `git apply` takes it. */
export function resultPatch(r: BranchResult): Promise<string> {
  return r.checkpoints.patch(r.base, r.commit);
}

/** The commit the session's workspace started from in the user's repository, or null (not a repository). */
export function userBase(r: BranchResult): Promise<string | null> {
  return r.checkpoints.parentOf(r.base);
}

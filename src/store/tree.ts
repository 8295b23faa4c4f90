/**
 * @module store/tree
 * Pure helpers over a session's step tree (parent pointers) and its branches: the path from
 * step 0 to a step, the children of each step, the path of a branch, and where two branches
 * part. Used by the controller (context after a rollback), the UI server and the exporters.
 */
import type { Step } from '../steps/types.js';
import type { BranchRecord, StepLink } from './types.js';

/** Steps by id; build once per session and pass it to the helpers below. */
export type StepIndex<T extends StepLink = Step> = ReadonlyMap<string, T>;

export function indexSteps<T extends StepLink>(steps: Iterable<T>): Map<string, T> {
  const byId = new Map<string, T>();
  for (const s of steps) byId.set(s.id, s);
  return byId;
}

function asIndex<T extends StepLink>(steps: Iterable<T> | StepIndex<T>): StepIndex<T> {
  return steps instanceof Map ? steps : indexSteps(steps as Iterable<T>);
}

/**
 * The steps from the root to stepId, inclusive, root first ([] for null: before step 0).
 * Throws when stepId, or a step on its way up, is missing, or when the parent pointers loop.
 */
export function pathTo<T extends StepLink>(stepId: string | null, steps: StepIndex<T>): T[];
export function pathTo<T extends StepLink>(stepId: string | null, steps: Iterable<T>): T[];
export function pathTo<T extends StepLink>(stepId: string | null, steps: Iterable<T> | StepIndex<T>): T[] {
  const byId = asIndex(steps);
  const path: T[] = [];
  let id = stepId;
  while (id !== null) {
    const step = byId.get(id);
    if (!step) throw new Error(`step ${id} is not in this session's tree`);
    path.push(step);
    if (path.length > byId.size) throw new Error(`the parent pointers above step ${stepId} form a loop`);
    id = step.parent_id;
  }
  return path.reverse();
}

/** Children of each step in insertion order; the key null holds the roots. */
export function childrenMap(steps: Iterable<Step>): Map<string | null, Step[]> {
  const children = new Map<string | null, Step[]>();
  for (const s of steps) {
    const list = children.get(s.parent_id);
    if (list) list.push(s);
    else children.set(s.parent_id, [s]);
  }
  return children;
}

/**
 * The steps of a branch from step 0 to its head. A branch that has no step of its own yet
 * (head null, just forked) ends at its fork step.
 */
export function branchPath<T extends StepLink>(branch: BranchRecord, steps: StepIndex<T>): T[];
export function branchPath<T extends StepLink>(branch: BranchRecord, steps: Iterable<T>): T[];
export function branchPath<T extends StepLink>(branch: BranchRecord, steps: Iterable<T> | StepIndex<T>): T[] {
  return pathTo(branch.head_step_id ?? branch.fork_step_id, asIndex(steps));
}

export interface BranchPoint {
  /** The last step both paths share (null: they part before step 0). */
  step: Step | null;
  /** Steps of each path after the shared prefix. */
  afterA: Step[];
  afterB: Step[];
}

/** Where two paths (as from branchPath) part: their last common step and what follows on each side. */
export function branchPoint(pathA: readonly Step[], pathB: readonly Step[]): BranchPoint {
  let i = 0;
  while (i < pathA.length && i < pathB.length && pathA[i]!.id === pathB[i]!.id) i++;
  return { step: i > 0 ? pathA[i - 1]! : null, afterA: pathA.slice(i), afterB: pathB.slice(i) };
}

/** The branch point between two branches of one session. */
export function branchPointOf(a: BranchRecord, b: BranchRecord, steps: Iterable<Step> | StepIndex): BranchPoint {
  const byId = asIndex(steps);
  return branchPoint(branchPath(a, byId), branchPath(b, byId));
}

/** Leaves of the tree (steps with no children), in insertion order. */
export function leaves(steps: readonly Step[]): Step[] {
  const hasChild = new Set<string>();
  for (const s of steps) if (s.parent_id !== null) hasChild.add(s.parent_id);
  return steps.filter((s) => !hasChild.has(s.id));
}

/**
 * The name of a session's branch number `index` (0 is the first path): branch-A … branch-Z,
 * branch-AA, branch-AB … like spreadsheet columns; branch-1, branch-2 … when auto_name_branches
 * is off. The recorder names new branches with it and the exporters name unrecorded paths.
 */
export function branchName(index: number, auto: boolean): string {
  if (!auto) return `branch-${index + 1}`;
  let n = index;
  let s = '';
  do {
    s = String.fromCharCode(65 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `branch-${s}`;
}

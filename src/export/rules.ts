/**
 * @module export/rules
 * The one preference rule and the step-label rules every format follows (docs/exports.md,
 * "Preferences and labels"):
 *
 * - A **segment** is a run of steps on a path from just after a branch point to the next branch
 *   point (inclusive) or the end. A pair compares two segments that start at the same branch
 *   point: the old branch's (rejected) and the new branch's (chosen). When the annotator rolled
 *   the new branch back to the same point again, its segment is rejected too, and the pair's
 *   chosen side is the segment of the branch that was kept there in the end.
 * - Step labels: steps kept by a rollback and chosen segments are correct, the first step of a
 *   rejected segment (or of the steps a non-branching rollback threw away) is the first error,
 *   the annotator's own labels win, and nothing after the first error on a path has a label.
 * - A pair stays only when the labels agree with it (no incorrect step on the chosen side, an
 *   incorrect step on the rejected side) and the annotator's outcomes do not say otherwise.
 */
import type { Step } from '../steps/types.js';
import { branchPoint, pathTo } from '../store/tree.js';
import type { BranchRecord, Intervention, StepLabelValue } from '../store/types.js';
import { answerFor, pathOf, rollbackInfo } from './session-data.js';
import type { SessionData } from './types.js';

/** A preference pair: two segments after one branch point. */
export interface BranchPair {
  rejectedBranch: BranchRecord;
  chosenBranch: BranchRecord;
  /** The branch whose rollback rejected `rejectedBranch` here (its reason is the pair's). */
  rollbackBranch: BranchRecord;
  /** Last shared step; null when the rollback went back to the initial state (step 0). */
  point: Step | null;
  /** The steps from step 1 up to and including the branch point. */
  shared: Step[];
  rejected: Step[];
  chosen: Step[];
}

export interface DerivedLabel {
  label: StepLabelValue;
  /** True exactly on the incorrect step of a path: nothing after it is labelled. */
  first_error: boolean;
  /** annotator: their own label; branch: from a branch pair; rollback: from a rollback that kept no branch. */
  source: 'annotator' | 'branch' | 'rollback';
  /** Who labelled it and when (ms), for annotator labels. */
  annotator: string | null;
  labelled_at: number | null;
}

const ROOT = '\0root';

interface Fork {
  branch: BranchRecord;
  parent: BranchRecord;
  point: Step | null;
  key: string;
  /** Index of the point on both paths (-1: step 0). */
  at: number;
}

function memo<T>(data: SessionData, key: string, make: () => T): T {
  if (!data.memo.has(key)) data.memo.set(key, make());
  return data.memo.get(key) as T;
}

function forks(data: SessionData): Fork[] {
  return memo(data, 'forks', () => {
    const out: Fork[] = [];
    for (const branch of data.branches) {
      const parent = branch.parent_branch_id ? data.branchById.get(branch.parent_branch_id) : undefined;
      if (!parent) continue;
      const parentPath = pathOf(data, parent);
      const bp = branchPoint(parentPath, pathOf(data, branch));
      out.push({
        branch,
        parent,
        point: bp.step,
        key: bp.step?.id ?? ROOT,
        at: bp.step ? parentPath.length - bp.afterA.length - 1 : -1,
      });
    }
    return out;
  });
}

/** The ids of every branch point of the session. */
function forkPoints(data: SessionData): Set<string> {
  return memo(data, 'forkPoints', () => new Set(forks(data).map((f) => f.key)));
}

/** The segment of a path that starts at index `from`: up to the next branch point (inclusive) or the end. */
export function segment(data: SessionData, path: readonly Step[], from: number): Step[] {
  const points = forkPoints(data);
  const out: Step[] = [];
  for (let i = from; i < path.length; i++) {
    out.push(path[i]!);
    if (points.has(path[i]!.id)) break;
  }
  return out;
}

/** The branches finally kept at a fork's point, following repeated rollbacks to that same point. */
function kept(fork: Fork, all: readonly Fork[], depth = 0): BranchRecord[] {
  const again = all.filter((f) => f.parent.id === fork.branch.id && f.key === fork.key);
  if (again.length === 0 || depth > all.length) return [fork.branch];
  return again.flatMap((f) => kept(f, all, depth + 1));
}

/** Every pair the rollbacks imply, before the labels and outcomes are consulted. */
function rawPairs(data: SessionData): BranchPair[] {
  return memo(data, 'rawPairs', () => {
    const all = forks(data);
    const seen = new Set<string>();
    const out: BranchPair[] = [];
    for (const fork of all) {
      const parentPath = pathOf(data, fork.parent);
      const rejected = segment(data, parentPath, fork.at + 1);
      for (const chosenBranch of kept(fork, all)) {
        const key = `${fork.parent.id}\0${chosenBranch.id}\0${fork.key}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const chosen = segment(data, pathOf(data, chosenBranch), fork.at + 1);
        if (rejected.length === 0 || chosen.length === 0) continue;
        out.push({
          rejectedBranch: fork.parent,
          chosenBranch,
          rollbackBranch: fork.branch,
          point: fork.point,
          shared: parentPath.slice(0, fork.at + 1),
          rejected,
          chosen,
        });
      }
    }
    return out;
  });
}

/**
 * The steps a rollback that kept no branch (type `rollback`) threw away: the path from the step
 * rolled back to down to the head it left (the latest step numbered `from_step` below it that
 * was there before the rollback). They stay in the tree, on no branch's path.
 */
export function discarded(data: SessionData, iv: Intervention): Step[] {
  const fromStep = rollbackInfo(iv).from_step;
  if (fromStep === null) return [];
  for (let i = data.steps.length - 1; i >= 0; i--) {
    const head = data.steps[i]!;
    if (head.step_idx !== fromStep || head.started_at > iv.created_at) continue;
    const path = pathTo(head.id, data.byId);
    const at = iv.after_step_id === null ? -1 : path.findIndex((s) => s.id === iv.after_step_id);
    if (iv.after_step_id === null || at !== -1) return path.slice(at + 1);
  }
  return [];
}

/**
 * Step labels for the whole tree, one per step (a step's path from step 1 is unique in a tree):
 * 1. at every rollback, the kept steps up to the point are correct, and so is each chosen segment;
 * 2. the first step of each rejected segment, and the first step a non-branching rollback threw
 *    away, is incorrect: the first error (wins over 1);
 * 3. the annotator's own labels win over both (the latest, when several annotators labelled a step);
 * 4. nothing after the first incorrect step on a path keeps a label.
 */
export function stepLabels(data: SessionData): Map<string, DerivedLabel> {
  return memo(data, 'labels', () => {
    const labels = new Map<string, DerivedLabel>();
    const derived = (source: 'branch' | 'rollback', label: StepLabelValue): DerivedLabel => ({
      label,
      first_error: label === 'incorrect',
      source,
      annotator: null,
      labelled_at: null,
    });
    const firstErrors = new Map<string, DerivedLabel>();
    for (const pair of rawPairs(data)) {
      for (const s of pair.shared) labels.set(s.id, derived('branch', 'correct'));
      for (const s of pair.chosen) labels.set(s.id, derived('branch', 'correct'));
      firstErrors.set(pair.rejected[0]!.id, derived('branch', 'incorrect'));
    }
    for (const iv of data.interventions) {
      if (iv.type !== 'rollback') continue;
      const thrown = discarded(data, iv);
      if (thrown.length === 0) continue;
      for (const s of pathTo(iv.after_step_id, data.byId)) labels.set(s.id, derived('rollback', 'correct'));
      firstErrors.set(thrown[0]!.id, derived('rollback', 'incorrect'));
    }
    for (const [id, l] of firstErrors) labels.set(id, l);
    const at = new Map<string, number>();
    for (const l of data.labels) {
      if (!data.byId.has(l.step_id)) continue;
      const prev = at.get(l.step_id);
      if (prev !== undefined && prev > l.updated_at) continue;
      at.set(l.step_id, l.updated_at);
      labels.set(l.step_id, {
        label: l.label,
        first_error: l.label === 'incorrect',
        source: 'annotator',
        annotator: l.annotator,
        labelled_at: l.updated_at,
      });
    }
    // Parents are stored before their children, so one pass in insertion order sees every ancestor first.
    const afterError = new Set<string>();
    for (const s of data.steps) {
      const parent = s.parent_id;
      if (parent === null) continue;
      if (afterError.has(parent) || labels.get(parent)?.label === 'incorrect') {
        afterError.add(s.id);
        labels.delete(s.id);
      }
    }
    return labels;
  });
}

/** Rank of an outcome value in `order` (best first); null when not ranked. */
function rank(order: readonly string[], value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const i = order.indexOf(value);
  return i === -1 ? null : i;
}

/**
 * The pairs that go into the export: those the labels agree with (no incorrect step on the chosen
 * side, at least one on the rejected side) and the annotator's branch outcomes do not contradict
 * (with `outcomeOrder`, best first, a rejected branch ranked better than the chosen one drops the pair).
 */
export function branchPairs(data: SessionData, outcomeOrder: readonly string[] = []): BranchPair[] {
  return memo(data, `pairs\0${outcomeOrder.join('\0')}`, () => {
    const labels = stepLabels(data);
    const isError = (s: Step) => labels.get(s.id)?.label === 'incorrect';
    return rawPairs(data).filter((pair) => {
      if (pair.chosen.some(isError) || !pair.rejected.some(isError)) return false;
      if (outcomeOrder.length === 0) return true;
      const chosen = rank(outcomeOrder, branchOutcome(data, pair.chosenBranch));
      const rejected = rank(outcomeOrder, branchOutcome(data, pair.rejectedBranch));
      return chosen === null || rejected === null || chosen <= rejected;
    });
  });
}

/** The outcome the annotator gave this branch itself (not the session's). */
function branchOutcome(data: SessionData, branch: BranchRecord): unknown {
  const own = data.annotations.some((a) => a.scheme === 'outcome' && a.branch_id === branch.id);
  return own ? answerFor(data.annotations, 'outcome', branch.id) : null;
}

/** A path that is on no branch: steps a rollback without a branch threw away, root to leaf. */
export interface AbandonedPath {
  /** The branch it was abandoned on (the branch holding its last kept step). */
  branch: BranchRecord | null;
  leaf: Step;
  steps: Step[];
}

/** Every leaf of the tree that no branch's path reaches, with its path. */
export function abandonedPaths(data: SessionData, branches: readonly BranchRecord[]): AbandonedPath[] {
  return memo(data, 'abandoned', () => {
    const onBranch = new Map<string, BranchRecord>();
    for (const b of branches) for (const s of pathOf(data, b)) if (!onBranch.has(s.id)) onBranch.set(s.id, b);
    const hasChild = new Set<string>();
    for (const s of data.steps) if (s.parent_id) hasChild.add(s.parent_id);
    const out: AbandonedPath[] = [];
    for (const leaf of data.steps) {
      if (hasChild.has(leaf.id) || onBranch.has(leaf.id)) continue;
      const steps = pathTo(leaf.id, data.byId);
      let holder: BranchRecord | null = null;
      for (let i = steps.length - 1; i >= 0 && !holder; i--) holder = onBranch.get(steps[i]!.id) ?? null;
      out.push({ branch: holder ?? branches[0] ?? null, leaf, steps });
    }
    return out;
  });
}

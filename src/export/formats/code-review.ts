/**
 * @module export/formats/code-review
 * `code_review`: one line per annotator instruction and per rollback reason, with the code it
 * was about. For an instruction: the steps on its path since the previous instruction or
 * rollback (at most REVIEW_WINDOW). For a rollback reason: the rolled-back steps of the old branch,
 * or, for a rollback that kept no branch, the steps it threw away.
 */
import type { Step } from '../../steps/types.js';
import { pathTo } from '../../store/tree.js';
import type { Intervention } from '../../store/types.js';
import { recordJson } from '../json.js';
import { branchPairs, rollbackInfo, stepsJson } from '../session-data.js';
import type { Exporter, SessionData } from '../types.js';

/** The most steps an instruction is taken to be about. */
export const REVIEW_WINDOW = 20;

function code(steps: readonly Step[]) {
  const diffs: { step_idx: number; path: string; diff: string }[] = [];
  const files = new Set<string>();
  for (const s of steps) {
    const p = s.payload;
    if (p.type === 'file_edit' || p.type === 'file_write') {
      diffs.push({ step_idx: s.step_idx, path: p.path, diff: p.diff });
      files.add(p.path);
    } else if (p.type === 'file_read') {
      files.add(p.path);
    }
  }
  return { diffs, files: [...files], steps: stepsJson(steps) };
}

function* instructions(data: SessionData) {
  const nameOf = new Map(data.branches.map((b) => [b.id, b.name]));
  // A step after which the annotator already spoke (or rolled back) starts a new review window.
  const reviewedUpTo = new Set<string>();
  for (const iv of data.interventions) {
    if (iv.type === 'instruction' && iv.content) {
      const path = pathTo(iv.after_step_id, data.byId);
      let start = Math.max(0, path.length - REVIEW_WINDOW);
      for (let i = path.length - 2; i >= start; i--) {
        if (reviewedUpTo.has(path[i]!.id)) {
          start = i + 1;
          break;
        }
      }
      yield recordJson({
        session_id: data.session.id,
        task: data.session.task,
        kind: 'instruction',
        branch: iv.branch_id ? (nameOf.get(iv.branch_id) ?? null) : null,
        after_step: iv.after_step ?? 0,
        comment: iv.content,
        annotator: iv.annotator,
        ...code(path.slice(start)),
      });
    }
    if ((iv.type === 'instruction' || iv.type === 'rollback' || iv.type === 'branch') && iv.after_step_id) {
      reviewedUpTo.add(iv.after_step_id);
    }
  }
}

function* rollbackReasons(data: SessionData) {
  for (const pair of branchPairs(data)) {
    if (!pair.chosenBranch.reason) continue;
    yield recordJson({
      session_id: data.session.id,
      task: data.session.task,
      kind: 'rollback_reason',
      branch: pair.rejectedBranch.name,
      after_step: pair.point ? pair.point.step_idx : 0,
      comment: pair.chosenBranch.reason,
      annotator:
        data.interventions.find((iv) => iv.type === 'branch' && iv.branch_id === pair.chosenBranch.id)?.annotator ??
        data.session.annotator,
      ...code(pair.rejected),
    });
  }
}

/**
 * The steps a rollback that kept no branch (type `rollback`) threw away: the path from the step
 * rolled back to down to the head it left (the latest step numbered `from_step` below it that
 * was there before the rollback). They stay in the tree, on no branch's path.
 */
function discarded(data: SessionData, iv: Intervention, fromStep: number | null): Step[] {
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

/** Rollbacks that kept no branch: their reason is only in the intervention. */
function* plainRollbackReasons(data: SessionData) {
  const nameOf = new Map(data.branches.map((b) => [b.id, b.name]));
  for (const iv of data.interventions) {
    if (iv.type !== 'rollback') continue;
    const info = rollbackInfo(iv);
    if (!info.reason) continue;
    yield recordJson({
      session_id: data.session.id,
      task: data.session.task,
      kind: 'rollback_reason',
      branch: iv.branch_id ? (nameOf.get(iv.branch_id) ?? null) : null,
      after_step: iv.after_step ?? 0,
      comment: info.reason,
      annotator: iv.annotator,
      ...code(discarded(data, iv, info.from_step)),
    });
  }
}

export const codeReview: Exporter = function* (data) {
  yield* instructions(data);
  yield* rollbackReasons(data);
  yield* plainRollbackReasons(data);
};

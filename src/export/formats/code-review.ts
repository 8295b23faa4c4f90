/**
 * @module export/formats/code-review
 * `code_review`: one line per annotator instruction and per rollback reason, with the code it
 * answers: the diffs of the edits, the contents of the files read, and the steps. For a rollback:
 * the step rolled back to and every step it threw away. For an instruction: the steps since the
 * previous intervention on its path (at most REVIEW_WINDOW); an instruction sent with a rollback
 * answers the same code as the rollback and links to its line.
 */
import type { Step } from '../../steps/types.js';
import { pathTo } from '../../store/tree.js';
import type { BranchRecord, Intervention } from '../../store/types.js';
import { recordJson } from '../json.js';
import { provenance } from '../provenance.js';
import { discarded } from '../rules.js';
import { lineId, pathOf, rollbackInfo, stepsJson } from '../session-data.js';
import type { Exporter, SessionData } from '../types.js';

/** The most steps an instruction is taken to be about. */
export const REVIEW_WINDOW = 20;

function code(data: SessionData, steps: readonly Step[]) {
  const diffs: { step_idx: number; path: string; diff: string }[] = [];
  const contents: { step_idx: number; path: string; content: string }[] = [];
  const files = new Set<string>();
  for (const s of steps) {
    const p = s.payload;
    if (p.type === 'file_edit' || p.type === 'file_write') {
      diffs.push({ step_idx: s.step_idx, path: p.path, diff: p.diff });
      files.add(p.path);
    } else if (p.type === 'file_read') {
      contents.push({ step_idx: s.step_idx, path: p.path, content: p.content });
      files.add(p.path);
    }
  }
  return { diffs, file_contents: contents, files: [...files], steps: stepsJson(data, steps) };
}

/**
 * What a rollback threw away, with the step it went back to first (the code a reason such as
 * "the edit forgot to import re" is about is often that step). For a rollback that kept a
 * branch: the old branch's steps after the point up to the head it left.
 */
function rollbackCode(data: SessionData, iv: Intervention): { steps: Step[]; branch: BranchRecord | null } {
  const point = iv.after_step_id ? data.byId.get(iv.after_step_id) : undefined;
  const kept = point ? [point] : [];
  if (iv.type === 'rollback') {
    const branch = iv.branch_id ? (data.branchById.get(iv.branch_id) ?? null) : null;
    return { steps: [...kept, ...discarded(data, iv)], branch };
  }
  const made = iv.branch_id ? data.branchById.get(iv.branch_id) : undefined;
  const old = made?.parent_branch_id ? data.branchById.get(made.parent_branch_id) : undefined;
  if (!old) return { steps: kept, branch: null };
  const path = pathOf(data, old);
  const at = point ? path.indexOf(point) : -1;
  const from = rollbackInfo(iv).from_step;
  let end = path.length;
  if (from !== null) {
    const headAt = path.findIndex((s, i) => i > at && s.step_idx === from);
    if (headAt !== -1) end = headAt + 1;
  }
  return { steps: [...kept, ...path.slice(at + 1, end)], branch: old };
}

const isRollback = (iv: Intervention) => iv.type === 'rollback' || iv.type === 'branch';

export const codeReview: Exporter = function* (data) {
  const nameOf = (id: string | null) => (id ? (data.branchById.get(id)?.name ?? null) : null);
  // A step after which the annotator already intervened starts a new review window.
  const reviewedUpTo = new Set<string>();
  let previous: Intervention | null = null;
  for (const iv of data.interventions) {
    const base = { session_id: data.session.id, task: data.session.task };
    if (isRollback(iv)) {
      const { reason } = rollbackInfo(iv);
      if (reason) {
        const { steps, branch } = rollbackCode(data, iv);
        yield recordJson(
          {
            id: lineId(data, 'code_review', iv.id),
            ...base,
            kind: 'rollback_reason',
            branch: branch?.name ?? nameOf(iv.branch_id),
            new_branch: iv.type === 'branch' ? nameOf(iv.branch_id) : null,
            after_step: iv.after_step ?? 0,
            comment: reason,
            annotator: iv.annotator,
            created_at: new Date(iv.created_at).toISOString(),
            rollback_id: null,
            ...code(data, steps),
            provenance: provenance(data, branch),
          },
          data.clean,
        );
      }
    } else if (iv.type === 'instruction' && iv.content) {
      // Sent with a rollback: recorded right after it, on the same branch and step.
      const withRollback =
        previous &&
        isRollback(previous) &&
        previous.branch_id === iv.branch_id &&
        previous.after_step_id === iv.after_step_id
          ? previous
          : null;
      let steps: Step[];
      let branch: BranchRecord | null = iv.branch_id ? (data.branchById.get(iv.branch_id) ?? null) : null;
      if (withRollback) {
        ({ steps, branch } = rollbackCode(data, withRollback));
      } else {
        const path = pathTo(iv.after_step_id, data.byId);
        let start = Math.max(0, path.length - REVIEW_WINDOW);
        for (let i = path.length - 2; i >= start; i--) {
          if (reviewedUpTo.has(path[i]!.id)) {
            start = i + 1;
            break;
          }
        }
        steps = path.slice(start);
      }
      yield recordJson(
        {
          id: lineId(data, 'code_review', iv.id),
          ...base,
          kind: 'instruction',
          branch: nameOf(iv.branch_id),
          new_branch: null,
          after_step: iv.after_step ?? 0,
          comment: iv.content,
          annotator: iv.annotator,
          created_at: new Date(iv.created_at).toISOString(),
          rollback_id: withRollback ? lineId(data, 'code_review', withRollback.id) : null,
          ...code(data, steps),
          provenance: provenance(data, branch),
        },
        data.clean,
      );
    }
    if ((iv.type === 'instruction' || isRollback(iv)) && iv.after_step_id) reviewedUpTo.add(iv.after_step_id);
    if (iv.type !== 'pause' && iv.type !== 'resume') previous = iv;
  }
};

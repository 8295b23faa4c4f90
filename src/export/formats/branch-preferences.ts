/**
 * @module export/formats/branch-preferences
 * `branch_preferences`: one line per branch point, the parent branch's steps after it
 * rejected and the new branch's chosen (the annotator rolled back because the old path was wrong).
 */
import { recordJson } from '../json.js';
import { branchPairs, stepsJson } from '../session-data.js';
import type { Exporter } from '../types.js';

export const branchPreferences: Exporter = function* (data) {
  for (const pair of branchPairs(data)) {
    yield recordJson({
      session_id: data.session.id,
      task: data.session.task,
      branch_point_step: pair.point ? pair.point.step_idx : 0,
      branch_point_reason: pair.chosenBranch.reason,
      rejected_branch: pair.rejectedBranch.name,
      rejected_steps: stepsJson(pair.rejected),
      chosen_branch: pair.chosenBranch.name,
      chosen_steps: stepsJson(pair.chosen),
    });
  }
};

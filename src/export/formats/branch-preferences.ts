/**
 * @module export/formats/branch-preferences
 * `branch_preferences`: one line per pair (rules.ts): the old branch's segment after the branch
 * point rejected, the kept branch's segment chosen, each up to the next branch point.
 */
import { recordJson } from '../json.js';
import { provenance } from '../provenance.js';
import { branchPairs } from '../rules.js';
import { lineId, stepsJson } from '../session-data.js';
import { type Exporter, withDefaults } from '../types.js';

export const branchPreferences: Exporter = function* (data, opts) {
  for (const pair of branchPairs(data, withDefaults(opts).outcomeOrder)) {
    yield recordJson(
      {
        id: lineId(data, 'branch_preferences', pair.rejectedBranch.name, pair.chosenBranch.name, pairPoint(pair)),
        session_id: data.session.id,
        task: data.session.task,
        branch_point_step: pair.point ? pair.point.step_idx : 0,
        branch_point_reason: pair.rollbackBranch.reason,
        rejected_branch: pair.rejectedBranch.name,
        rejected_steps: stepsJson(data, pair.rejected),
        chosen_branch: pair.chosenBranch.name,
        chosen_steps: stepsJson(data, pair.chosen),
        provenance: provenance(data, pair.chosenBranch, { rejected: pair.rejectedBranch }),
      },
      data.clean,
    );
  }
};

/** The branch point in an id: its step number (0: the initial state). */
export const pairPoint = (pair: { point: { step_idx: number } | null }) => `step-${pair.point?.step_idx ?? 0}`;

/**
 * @module export/formats/prm-from-branches
 * `prm_from_branches`: step-level process-reward labels, one line per branch path, derived
 * from the branch points and overridden by the annotator's own labels (rules in docs/exports.md).
 */
import { rawArray, recordJson } from '../json.js';
import { branchesOrLeaves, type DerivedLabel, pathOf, stepJson, stepLabels } from '../session-data.js';
import type { Exporter } from '../types.js';

// The label fields that close each exported step, as a spread of {label, first_error, label_source} would.
const NO_LABEL = ',"label":null,"first_error":false,"label_source":null}';
const labelSuffix = (l: DerivedLabel) =>
  `,"label":${JSON.stringify(l.label)},"first_error":${l.first_error === true},"label_source":${JSON.stringify(l.source)}}`;

export const prmFromBranches: Exporter = function* (data) {
  const labels = stepLabels(data);
  if (labels.size === 0) return;
  for (const branch of branchesOrLeaves(data)) {
    const path = pathOf(data, branch);
    if (!path.some((s) => labels.has(s.id))) continue;
    let firstError: number | null = null;
    const steps = path.map((s) => {
      const l = labels.get(s.id);
      if (firstError === null && l && (l.first_error || l.label === 'incorrect')) firstError = s.step_idx;
      return `${stepJson(s).slice(0, -1)}${l ? labelSuffix(l) : NO_LABEL}`;
    });
    yield recordJson({
      session_id: data.session.id,
      branch: branch.name,
      task: data.session.task,
      steps: rawArray(steps),
      first_error_step: firstError,
    });
  }
};

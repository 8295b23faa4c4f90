/**
 * @module export/formats/prm-from-branches
 * `prm_from_branches`: step-level process-reward labels (rules.ts), one line per branch path and
 * one per path a rollback without a branch abandoned (so labels on thrown-away steps are kept).
 */
import type { Step } from '../../steps/types.js';
import type { BranchRecord } from '../../store/types.js';
import { rawArray, recordJson } from '../json.js';
import { provenance } from '../provenance.js';
import { abandonedPaths, type DerivedLabel, stepLabels } from '../rules.js';
import { branchesOrLeaves, lineId, pathOf, stepJson } from '../session-data.js';
import type { Exporter, SessionData } from '../types.js';

// The label fields that close each exported step, as a spread of them would.
const NO_LABEL = ',"label":null,"first_error":false,"label_source":null,"labelled_by":null,"labelled_at":null}';
const labelSuffix = (l: DerivedLabel) =>
  `,"label":${JSON.stringify(l.label)},"first_error":${l.first_error},"label_source":${JSON.stringify(l.source)},"labelled_by":${JSON.stringify(l.annotator)},"labelled_at":${l.labelled_at === null ? 'null' : JSON.stringify(new Date(l.labelled_at).toISOString())}}`;

function line(data: SessionData, id: string, branch: BranchRecord | null, path: Step[], abandoned: boolean) {
  const labels = stepLabels(data);
  let firstError: number | null = null;
  const steps = path.map((s) => {
    const l = labels.get(s.id);
    if (firstError === null && l?.label === 'incorrect') firstError = s.step_idx;
    return `${stepJson(data, s).slice(0, -1)}${l ? labelSuffix(l) : NO_LABEL}`;
  });
  return recordJson(
    {
      id,
      session_id: data.session.id,
      branch: branch?.name ?? null,
      abandoned,
      task: data.session.task,
      steps: rawArray(steps),
      first_error_step: firstError,
      provenance: provenance(data, branch, abandoned ? { steps: path } : undefined),
    },
    data.clean,
  );
}

export const prmFromBranches: Exporter = function* (data) {
  const labels = stepLabels(data);
  if (labels.size === 0) return;
  const branches = branchesOrLeaves(data);
  for (const branch of branches) {
    const path = pathOf(data, branch);
    if (!path.some((s) => labels.has(s.id))) continue;
    yield line(data, lineId(data, 'prm_from_branches', branch.name), branch, path, false);
  }
  for (const a of abandonedPaths(data, branches)) {
    if (!a.steps.some((s) => labels.has(s.id))) continue;
    yield line(data, lineId(data, 'prm_from_branches', 'abandoned', a.leaf.id), a.branch, a.steps, true);
  }
};

/**
 * @module export/formats/trajectories
 * `trajectories`: the source's shape. Flattened, one line per branch with the whole path from
 * step 1 to its head; otherwise one line per session holding the tree (steps with parent ids).
 */
import { prefixJson, rawArray, recordJson } from '../json.js';
import { provenance } from '../provenance.js';
import {
  answerFor,
  branchesOrLeaves,
  exportIntervention,
  interventionsOn,
  lineId,
  pathOf,
  rollbackSteps,
  sessionAnswers,
  stepJson,
  stepsJson,
  usageOf,
} from '../session-data.js';
import type { Exporter, SessionData } from '../types.js';

function* flat(data: SessionData) {
  for (const branch of branchesOrLeaves(data)) {
    const path = pathOf(data, branch);
    if (path.length === 0) continue;
    const parent = branch.parent_branch_id ? data.branchById.get(branch.parent_branch_id) : undefined;
    yield recordJson(
      {
        id: lineId(data, 'trajectories', branch.name),
        session_id: data.session.id,
        branch: branch.name,
        task: data.session.task,
        steps: stepsJson(data, path),
        human_interventions: interventionsOn(data, branch, path).map(exportIntervention),
        ...rollbackSteps(data, branch),
        outcome: answerFor(data.annotations, 'outcome', branch.id),
        parent_branch: parent?.name ?? null,
        rollback_reason: parent ? branch.reason : null,
        annotations: sessionAnswers(data.annotations),
        usage: usageOf(path),
        provenance: provenance(data, branch),
      },
      data.clean,
    );
  }
}

function* tree(data: SessionData) {
  if (data.steps.length === 0) return;
  const branches = branchesOrLeaves(data);
  const nameOf = new Map(branches.map((b) => [b.id, b.name]));
  const current = data.session.current_branch_id ? data.branchById.get(data.session.current_branch_id) : undefined;
  yield recordJson(
    {
      id: lineId(data, 'trajectories'),
      session_id: data.session.id,
      task: data.session.task,
      status: data.session.status,
      outcome: answerFor(data.annotations, 'outcome', null),
      annotations: sessionAnswers(data.annotations),
      usage: data.session.usage,
      branches: branches.map((b) => {
        const path = pathOf(data, b);
        return {
          branch: b.name,
          parent_branch: b.parent_branch_id ? (nameOf.get(b.parent_branch_id) ?? null) : null,
          ...rollbackSteps(data, b),
          rollback_reason: b.parent_branch_id ? b.reason : null,
          outcome: answerFor(data.annotations, 'outcome', b.id),
          step_ids: path.map((s) => s.id),
        };
      }),
      steps: rawArray(data.steps.map((s) => prefixJson({ parent_step_id: s.parent_id }, stepJson(data, s)))),
      human_interventions: data.interventions.map((iv) => ({
        ...exportIntervention(iv),
        after_step_id: iv.after_step_id,
        branch: iv.branch_id ? (nameOf.get(iv.branch_id) ?? null) : null,
      })),
      provenance: provenance(data, current ?? branches.at(-1) ?? null),
    },
    data.clean,
  );
}

export const trajectories: Exporter = (data, opts) => (opts.flattenBranches ? flat(data) : tree(data));

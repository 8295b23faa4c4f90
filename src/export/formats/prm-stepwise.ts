/**
 * @module export/formats/prm-stepwise
 * `prm_stepwise`: TRL's stepwise-supervision format ({prompt, completions, labels}, one boolean
 * per completion) for PRMTrainer. Every step with a yes/no label (rules.ts) is a completion of
 * exactly one line of its session, and nothing after the first error on a path. A line is a run
 * of labelled steps (at most `prmWindow`), or one labelled step with `prmSparseLabels`; the
 * `prmWindow` steps before it go into the prompt as context, so a line stays short enough that a
 * trainer's `max_length` does not cut its labels away. Unlabelled and unsure steps end a run and
 * become context: they never cut a path short.
 */
import type { Step } from '../../steps/types.js';
import type { BranchRecord } from '../../store/types.js';
import { recordJson } from '../json.js';
import { provenance } from '../provenance.js';
import { abandonedPaths, stepLabels } from '../rules.js';
import { branchesOrLeaves, lineId, pathOf, stepText } from '../session-data.js';
import { type Exporter, withDefaults } from '../types.js';

export const prmStepwise: Exporter = function* (data, opts) {
  const labels = stepLabels(data);
  if (labels.size === 0) return;
  const { prmWindow: window, prmSparseLabels: sparse } = withDefaults(opts);
  const emitted = new Set<string>();
  const branches = branchesOrLeaves(data);
  const paths: { branch: BranchRecord | null; steps: Step[] }[] = [
    ...branches.map((b) => ({ branch: b, steps: pathOf(data, b) })),
    ...abandonedPaths(data, branches).map((a) => ({ branch: a.branch, steps: a.steps })),
  ];
  const pathOfBranch = (b: BranchRecord | null) => (b ? pathOf(data, b) : null);
  const verdict = (s: Step) => {
    const l = labels.get(s.id)?.label;
    return l === 'correct' ? true : l === 'incorrect' ? false : null;
  };

  function lineOf(branch: BranchRecord | null, path: Step[], first: number, last: number): string {
    const context = path.slice(Math.max(0, first - window), first);
    const prompt =
      context.length === 0
        ? data.session.task
        : `${data.session.task}\n\nSteps so far (${context[0]!.step_idx} to ${context.at(-1)!.step_idx}):\n\n${context.map(stepText).join('\n\n')}`;
    const run = path.slice(first, last + 1);
    for (const s of run) emitted.add(s.id);
    return recordJson(
      {
        id: lineId(data, 'prm_stepwise', run[0]!.id),
        prompt,
        completions: run.map(stepText),
        labels: run.map((s) => verdict(s) === true),
        session_id: data.session.id,
        branch: branch?.name ?? null,
        first_step: run[0]!.step_idx,
        step_ids: run.map((s) => s.id),
        label_sources: run.map((s) => labels.get(s.id)!.source),
        provenance: provenance(data, branch, path === pathOfBranch(branch) ? undefined : { steps: path }),
      },
      data.clean,
    );
  }

  for (const { branch, steps: path } of paths) {
    let start = -1;
    for (let i = 0; i < path.length; i++) {
      const s = path[i]!;
      const v = emitted.has(s.id) ? null : verdict(s);
      if (v === null) {
        if (start !== -1) yield lineOf(branch, path, start, i - 1);
        start = -1;
        continue;
      }
      if (start === -1) start = i;
      if (sparse || v === false || i - start + 1 === window) {
        yield lineOf(branch, path, start, i);
        start = -1;
      }
      if (v === false) break;
    }
    if (start !== -1) yield lineOf(branch, path, start, path.length - 1);
  }
};

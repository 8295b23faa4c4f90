/**
 * @module export/formats/prm-stepwise
 * `prm_stepwise`: TRL's stepwise-supervision format ({prompt, completions, labels}, one boolean
 * per completion), one line per branch path: the labelled steps from step 0 up to and
 * including the first error; a path stops early at its first step without a yes/no label.
 */
import { branchesOrLeaves, pathOf, stepLabels, stepText } from '../session-data.js';
import type { Exporter } from '../types.js';

export const prmStepwise: Exporter = function* (data) {
  const labels = stepLabels(data);
  if (labels.size === 0) return;
  for (const branch of branchesOrLeaves(data)) {
    const completions: string[] = [];
    const verdicts: boolean[] = [];
    for (const step of pathOf(data, branch)) {
      const l = labels.get(step.id);
      if (!l || l.label === 'unsure') break;
      completions.push(stepText(step));
      verdicts.push(l.label === 'correct');
      if (l.label === 'incorrect') break;
    }
    if (completions.length === 0) continue;
    yield JSON.stringify({
      prompt: data.session.task,
      completions,
      labels: verdicts,
      session_id: data.session.id,
      branch: branch.name,
    });
  }
};

/**
 * @module export/consistency
 * Checks one export run (the parsed lines of every format of the same store) for the
 * contradictions that would quietly hurt training, and returns every one it finds:
 *
 * - a missing or repeated `id`, a line without provenance;
 * - a step chosen in one pair and rejected in another (branch_preferences);
 * - a pair whose chosen side holds a step labelled incorrect, or whose rejected side holds none
 *   (prm_from_branches);
 * - a step with two different labels, a label after the first error on a path, `first_error`
 *   anywhere but on the incorrect step (prm_from_branches);
 * - a step that is a completion twice, or whose boolean differs from its label (prm_stepwise);
 * - a dpo or dpo_step line that is not one of the branch_preferences pairs.
 */
import type { ExportFormat } from '../config/schema.js';

type Line = Record<string, unknown>;
type Step = { step_id?: string; label?: string | null; first_error?: boolean };

export type ExportRun = Partial<Record<ExportFormat, readonly Line[]>>;

const key = (session: unknown, step: unknown) => `${String(session)}\0${String(step)}`;

export function checkExportRun(run: ExportRun): string[] {
  const problems: string[] = [];
  const say = (m: string) => problems.push(m);

  for (const [format, lines] of Object.entries(run) as [ExportFormat, readonly Line[]][]) {
    const ids = new Set<string>();
    for (const [i, line] of lines.entries()) {
      const id = line.id;
      if (typeof id !== 'string' || id === '') say(`${format} line ${i + 1}: no id`);
      else if (ids.has(id)) say(`${format}: id ${id} appears twice`);
      else ids.add(id);
      const prov = line.provenance as Record<string, unknown> | undefined;
      if (!prov || prov.session_id !== line.session_id) say(`${format} ${String(id)}: no provenance for its session`);
    }
  }

  // prm_from_branches: one label per step, nothing after the first error, first_error only there.
  const labels = new Map<string, string | null>();
  for (const line of run.prm_from_branches ?? []) {
    let errorSeen = false;
    for (const s of (line.steps as Step[]) ?? []) {
      const k = key(line.session_id, s.step_id);
      const label = s.label ?? null;
      if (labels.has(k) && labels.get(k) !== label) {
        say(`prm_from_branches ${String(line.id)}: step ${s.step_id} is ${label} here and ${labels.get(k)} elsewhere`);
      }
      labels.set(k, label);
      if (errorSeen && label !== null)
        say(`prm_from_branches ${String(line.id)}: step ${s.step_id} labelled after the first error`);
      if ((s.first_error ?? false) !== (label === 'incorrect')) {
        say(
          `prm_from_branches ${String(line.id)}: step ${s.step_id} has first_error ${s.first_error} with label ${label}`,
        );
      }
      if (label === 'incorrect') errorSeen = true;
    }
  }

  // branch_preferences: no step on both sides anywhere, and the labels agree with every pair.
  const chosen = new Map<string, string>();
  const rejected = new Map<string, string>();
  const pairKeys = new Set<string>();
  const unit = (id: unknown) => String(id).split('/').slice(2).join('/');
  for (const line of run.branch_preferences ?? []) {
    pairKeys.add(`${String(line.session_id)}/${unit(line.id)}`);
    const c = (line.chosen_steps as Step[]) ?? [];
    const r = (line.rejected_steps as Step[]) ?? [];
    for (const s of c) chosen.set(key(line.session_id, s.step_id), String(line.id));
    for (const s of r) rejected.set(key(line.session_id, s.step_id), String(line.id));
    if (run.prm_from_branches) {
      const bad = c.find((s) => labels.get(key(line.session_id, s.step_id)) === 'incorrect');
      if (bad) say(`branch_preferences ${String(line.id)}: chosen step ${bad.step_id} is labelled incorrect`);
      if (!r.some((s) => labels.get(key(line.session_id, s.step_id)) === 'incorrect')) {
        say(`branch_preferences ${String(line.id)}: no rejected step is labelled incorrect`);
      }
    }
  }
  for (const [k, where] of chosen) {
    if (rejected.has(k)) say(`step ${k.split('\0')[1]} is chosen in ${where} and rejected in ${rejected.get(k)}`);
  }

  // prm_stepwise: each step once, with the boolean of its label.
  const completed = new Set<string>();
  for (const line of run.prm_stepwise ?? []) {
    const ids = (line.step_ids as string[]) ?? [];
    const verdicts = (line.labels as boolean[]) ?? [];
    const completions = (line.completions as string[]) ?? [];
    if (ids.length !== verdicts.length || completions.length !== verdicts.length) {
      say(`prm_stepwise ${String(line.id)}: completions, labels and step_ids differ in length`);
    }
    for (const [i, id] of ids.entries()) {
      const k = key(line.session_id, id);
      if (completed.has(k)) say(`prm_stepwise: step ${id} is a completion twice`);
      completed.add(k);
      if (run.prm_from_branches) {
        const want = labels.get(k);
        if (want !== (verdicts[i] ? 'correct' : 'incorrect')) {
          say(`prm_stepwise ${String(line.id)}: step ${id} is ${verdicts[i]} but labelled ${want}`);
        }
      }
    }
  }

  // dpo and dpo_step: only pairs that branch_preferences has.
  for (const format of ['dpo', 'dpo_step'] as const) {
    if (!run.branch_preferences) continue;
    for (const line of run[format] ?? []) {
      if (!pairKeys.has(`${String(line.session_id)}/${unit(line.id)}`)) {
        say(`${format} ${String(line.id)}: not a branch_preferences pair`);
      }
    }
  }
  return problems;
}

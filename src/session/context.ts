/**
 * @module session/context
 * What the model sees for a given head: the task, the steps on the path from the root, and the
 * annotator's instructions that belong to that path. An instruction belongs to the branch and
 * position where it was given: it is on a path when the step that followed it is on the path,
 * or when nothing has followed it yet and it waits at the path's head. One given before a
 * rollback to the same step, or on another branch, is on no other path (see `followed_by`).
 * An instruction given in the middle of a model turn is placed after that turn's last step on
 * the path, so a provider never sees a user message between a tool call and its result.
 */

import type { ContextItem, Step } from '../steps/types.js';
import type { Intervention } from '../store/types.js';

/** Whether an instruction belongs to the path root → `path`'s last step. */
function onPath(iv: Intervention, steps: { has(id: string): boolean }, head: string | null): boolean {
  if (iv.followed_by === null) return iv.after_step_id === head;
  return steps.has(iv.followed_by);
}

export function buildContext(task: string, path: Step[], interventions: Intervention[]): ContextItem[] {
  const index = new Map(path.map((s, i) => [s.id, i]));
  const head = path.at(-1)?.id ?? null;
  // Instructions keyed by the index on the path after which they are delivered.
  const byIndex = new Map<number, string[]>();
  const atStart: string[] = [];
  for (const iv of interventions) {
    if (iv.type !== 'instruction' || !iv.content) continue;
    if (!onPath(iv, index, head)) continue;
    if (iv.after_step_id === null) {
      atStart.push(iv.content);
      continue;
    }
    const at = index.get(iv.after_step_id);
    if (at === undefined) continue; // cannot happen for an instruction on the path
    const end = endOfTurn(path, at);
    const list = byIndex.get(end) ?? [];
    list.push(iv.content);
    byIndex.set(end, list);
  }
  const items: ContextItem[] = [{ kind: 'task', text: task }];
  for (const text of atStart) items.push({ kind: 'instruction', text });
  path.forEach((step, i) => {
    items.push({ kind: 'step', step });
    for (const text of byIndex.get(i) ?? []) items.push({ kind: 'instruction', text });
  });
  return items;
}

function endOfTurn(path: Step[], i: number): number {
  const turn = path[i]?.turn_id;
  let end = i;
  while (turn && path[end + 1]?.turn_id === turn) end++;
  return end;
}

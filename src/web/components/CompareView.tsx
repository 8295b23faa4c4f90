/**
 * @module web/components/CompareView
 * Two branches side by side from their branch point: what each did after the paths parted,
 * and how each ended.
 */
import { useMemo, useState } from 'react';
import type { BranchRecord, Step, StepLabel } from '../api/types.ts';
import { plural, stepLabel } from '../lib/format.ts';
import { pathTo } from '../state/session.ts';
import { StepBlock } from '../trace/StepBlock.tsx';

const MAX_SHOWN = 300;

function lastExit(steps: Step[]): string {
  for (let i = steps.length - 1; i >= 0; i--) {
    const p = steps[i]!.payload;
    if (p.type === 'bash_command') return `last command exit ${p.exit_code ?? (p.timed_out ? 'timeout' : '–')}`;
  }
  return 'no command run';
}

/**
 * The export's preference rule (docs/exports.md, "Pair"): a branch is chosen over the branch it
 * was forked from. Two branches that are not parent and child make no pair.
 */
function preferenceRole(b: BranchRecord | undefined, other: BranchRecord | undefined): 'chosen' | 'rejected' | null {
  if (!b || !other) return null;
  if (b.parent_branch_id === other.id) return 'chosen';
  if (other.parent_branch_id === b.id) return 'rejected';
  return null;
}

function preferenceWords(a: BranchRecord | undefined, b: BranchRecord | undefined): string {
  if (!a || !b || a.id === b.id) return 'the same branch on both sides';
  if (preferenceRole(a, b) === null) return 'not a preference pair: neither branch was forked from the other';
  const [chosen, rejected] = preferenceRole(a, b) === 'chosen' ? [a, b] : [b, a];
  return `exported as a preference pair: ${chosen.name} chosen over ${rejected.name}`;
}

export function CompareView({
  branches,
  heads,
  steps,
  labels,
  defaultPair,
}: {
  branches: Map<string, BranchRecord>;
  heads: Map<string, string | null>;
  steps: Map<string, Step>;
  labels: Map<string, StepLabel>;
  defaultPair: [string, string];
}) {
  const [left, setLeft] = useState(defaultPair[0]);
  const [right, setRight] = useState(defaultPair[1]);
  const all = [...branches.values()].sort((a, b) => a.created_at - b.created_at);
  const leftPath = useMemo(() => pathTo(steps, heads.get(left) ?? null), [steps, heads, left]);
  const rightPath = useMemo(() => pathTo(steps, heads.get(right) ?? null), [steps, heads, right]);
  let shared = 0;
  while (shared < leftPath.length && shared < rightPath.length && leftPath[shared]!.id === rightPath[shared]!.id)
    shared++;
  const forkStep = shared > 0 ? leftPath[shared - 1]! : null;
  const columns: [string, (v: string) => void, Step[]][] = [
    [left, setLeft, leftPath.slice(shared)],
    [right, setRight, rightPath.slice(shared)],
  ];
  return (
    <div className="compare" data-testid="compare-view">
      <div className="compare-fork" data-testid="compare-fork">
        Branch point: {forkStep ? stepLabel(forkStep) : 'the start (before step 0)'}
        <span className="muted"> · {plural(shared, 'shared step')}</span>
        <span className="muted"> · {preferenceWords(branches.get(left), branches.get(right))}</span>
      </div>
      <div className="compare-cols">
        {columns.map(([id, set, rest], col) => {
          const b = branches.get(id);
          const role = preferenceRole(b, branches.get(col === 0 ? right : left));
          return (
            <section className="compare-col" key={col === 0 ? 'left' : 'right'} data-testid={`compare-col-${col}`}>
              <header className="compare-head">
                <select value={id} onChange={(e) => set(e.target.value)} data-testid={`compare-select-${col}`}>
                  {all.map((x) => (
                    <option key={x.id} value={x.id}>
                      {x.name}
                    </option>
                  ))}
                </select>
                {role && (
                  <span className={`badge badge-${role}`} data-testid={`compare-role-${col}`}>
                    {role}
                  </span>
                )}
                <span className="muted small">
                  {plural(rest.length, 'step')} after the branch point · {lastExit(rest)}
                </span>
                {b?.reason && <div className="branch-reason small">“{b.reason}”</div>}
              </header>
              <div className="compare-steps">
                {rest.length === 0 && <div className="empty">No steps after the branch point</div>}
                {rest.slice(0, MAX_SHOWN).map((s) => (
                  <StepBlock key={s.id} step={s} label={labels.get(s.id)} onLabel={() => {}} labelling={false} />
                ))}
                {rest.length > MAX_SHOWN && (
                  <div className="muted pad">{rest.length - MAX_SHOWN} more steps: open the branch to see them all</div>
                )}
              </div>
            </section>
          );
        })}
      </div>
    </div>
  );
}

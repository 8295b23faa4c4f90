/**
 * @module web/components/CompareView
 * Two branches side by side from their branch point: what each did after the paths parted,
 * and how each ended.
 */
import { useMemo, useState } from 'react';
import type { BranchRecord, Step, StepLabel } from '../api/types.ts';
import { stepLabel } from '../lib/format.ts';
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
        <span className="muted"> · {shared} shared steps</span>
      </div>
      <div className="compare-cols">
        {columns.map(([id, set, rest], col) => {
          const b = branches.get(id);
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
                <span className="muted small">
                  {rest.length} steps after the branch point · {lastExit(rest)}
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

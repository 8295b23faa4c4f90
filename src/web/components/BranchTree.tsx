/**
 * @module web/components/BranchTree
 * The session's branches as a tree (branch-A, branch-B… with fork points and reasons); a
 * click shows that branch's path in the trace.
 */
import type { BranchRecord, Step } from '../api/types.ts';
import { plural } from '../lib/format.ts';
import { pathTo } from '../state/session.ts';

export function BranchTree({
  branches,
  heads,
  steps,
  liveBranchId,
  viewedBranchId,
  onSelect,
  onFork,
  forkBlocked = null,
}: {
  /** Offered when branching is on: open the branch dialog on that branch's checkpoints. */
  onFork?: (id: string) => void;
  /** Why a fork cannot be made now (read-only, branch limit…): the entries show disabled, saying it. */
  forkBlocked?: string | null;
  branches: Map<string, BranchRecord>;
  heads: Map<string, string | null>;
  steps: Map<string, Step>;
  liveBranchId: string | null;
  viewedBranchId: string | null;
  onSelect: (id: string) => void;
}) {
  const all = [...branches.values()].sort((a, b) => a.created_at - b.created_at);
  const children = new Map<string, BranchRecord[]>();
  for (const b of all) {
    const k = b.parent_branch_id && branches.has(b.parent_branch_id) ? b.parent_branch_id : '';
    children.set(k, [...(children.get(k) ?? []), b]);
  }
  const render = (b: BranchRecord, depth: number): React.ReactNode => {
    const fork = b.fork_step_id ? steps.get(b.fork_step_id) : null;
    const head = heads.get(b.id) ?? b.head_step_id;
    const length = pathTo(steps, head).length;
    return (
      <li key={b.id}>
        <button
          type="button"
          className={`branch-node${b.id === viewedBranchId ? ' viewed' : ''}`}
          style={{ paddingLeft: 8 + depth * 14 }}
          data-testid="branch-node"
          data-branch={b.name}
          onClick={() => onSelect(b.id)}
        >
          <span className="branch-line">
            {depth > 0 && (
              <span className="branch-elbow" aria-hidden="true">
                └
              </span>
            )}
            <span className="branch-name">{b.name}</span>
            {b.id === liveBranchId && <span className="badge badge-live">live</span>}
            <span className="spacer" />
            <span className="muted small">{plural(length, 'step')}</span>
          </span>
          {b.parent_branch_id && (
            <span className="branch-fork muted small">forked after {fork ? `step ${fork.step_idx}` : 'the start'}</span>
          )}
          {b.reason && (
            <span className="branch-reason small" data-testid="branch-reason">
              “{b.reason}”
            </span>
          )}
        </button>
        {onFork && length > 0 && (
          <button
            type="button"
            className="btn btn-ghost btn-small branch-fork-btn"
            data-testid="branch-fork"
            data-branch={b.name}
            disabled={forkBlocked !== null}
            title={
              forkBlocked === null
                ? `Start a new branch from one of ${b.name}'s checkpoints`
                : `Fork is unavailable: ${forkBlocked}`
            }
            style={{ marginLeft: 8 + depth * 14 }}
            onClick={() => onFork(b.id)}
          >
            Fork from {b.name}…
          </button>
        )}
        {(children.get(b.id) ?? []).length > 0 && (
          <ul className="tree-list">{(children.get(b.id) ?? []).map((c) => render(c, depth + 1))}</ul>
        )}
      </li>
    );
  };
  return (
    <div className="branch-tree" data-testid="branch-tree">
      <div className="panel-title">Branches</div>
      {all.length === 0 ? (
        <div className="muted small pad">No branches yet</div>
      ) : (
        <ul className="tree-list">{(children.get('') ?? []).map((b) => render(b, 0))}</ul>
      )}
    </div>
  );
}

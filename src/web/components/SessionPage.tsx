/**
 * @module web/components/SessionPage
 * One session: progress header, control bar, file tree and branch tree, the trace (or the
 * compare view) and the annotation panel. A running session is followed live; an ended one
 * replays its whole tree, read-only except for annotation.
 */
import { useCallback, useMemo, useState } from 'react';
import { CONTROL_ACTIONS } from '../actions/controls.ts';
import type { ControlContext, LabelContext } from '../actions/types.ts';
import { api } from '../api/client.ts';
import type { Step, StepLabel, StepLabelValue, UiConfig } from '../api/types.ts';
import { isSessionFailure } from '../lib/format.ts';
import { branchLineage, isEnded, pathTo, type SessionState } from '../state/session.ts';
import { useApprovals } from '../state/useApprovals.ts';
import { useLiveSession } from '../state/useLiveSession.ts';
import { TraceList, traceItems } from '../trace/TraceList.tsx';
import { AnnotationPanel } from './AnnotationPanel.tsx';
import { ApprovalPanel } from './ApprovalPanel.tsx';
import { BranchTree } from './BranchTree.tsx';
import { CompareView } from './CompareView.tsx';
import { ControlBar, InstructionInput } from './ControlBar.tsx';
import { FileTree, FileViewer } from './FileTree.tsx';
import { LabelProgress, ShortcutHelp, StepOutline, useLabelKeys } from './Labelling.tsx';
import { ProgressHeader } from './ProgressHeader.tsx';
import { ResultPanel } from './ResultPanel.tsx';
import { RollbackDialog } from './RollbackDialog.tsx';

interface Toast {
  id: number;
  text: string;
}

function headOf(state: SessionState, branchId: string | null): string | null {
  if (branchId !== null && state.heads.has(branchId)) return state.heads.get(branchId) ?? null;
  // No branch recorded yet: the newest step is the head.
  let last: string | null = null;
  for (const id of state.steps.keys()) last = id;
  return last;
}

export function SessionPage({ id, config, user }: { id: string; config: UiConfig; user: string }) {
  const { state, error, connection } = useLiveSession(id);
  if (error)
    return (
      <div className="page-error" data-testid="session-error">
        {error} <a href="#/">Back to sessions</a>
      </div>
    );
  if (!state) return <div className="loading">Loading session…</div>;
  return <SessionView id={id} config={config} user={user} state={state} connection={connection} />;
}

function SessionView({
  id,
  config,
  user,
  state,
  connection,
}: {
  id: string;
  config: UiConfig;
  user: string;
  state: SessionState;
  connection: ReturnType<typeof useLiveSession>['connection'];
}) {
  const [viewBranch, setViewBranch] = useState<string | null>(null);
  const [mode, setMode] = useState<'trace' | 'compare'>('trace');
  const [instructionOpen, setInstructionOpen] = useState(false);
  const [rollback, setRollback] = useState<{ mode: 'rollback' | 'branch'; stepId?: string | null } | null>(null);
  const [openFile, setOpenFile] = useState<string | null>(null);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [selectedStepId, setSelectedStepId] = useState<string | null>(null);
  const [helpOpen, setHelpOpen] = useState(false);
  const [labelOverrides, setLabelOverrides] = useState<Map<string, StepLabel | null>>(new Map());

  const toast = useCallback((text: string) => {
    const t = { id: Date.now() + Math.random(), text };
    setToasts((l) => [...l, t]);
    setTimeout(() => setToasts((l) => l.filter((x) => x.id !== t.id)), 6000);
  }, []);

  const owner = state.session.annotator;
  // A lead may open anyone's session; the server refuses every change but the owner's.
  const readOnly = owner === user ? null : `read-only: only ${owner} can change this session`;
  const liveBranch = state.session.current_branch_id;
  const viewed = viewBranch !== null && state.branches.has(viewBranch) ? viewBranch : liveBranch;
  const viewingOther = viewed !== liveBranch;
  const head = headOf(state, viewed);
  const path = useMemo(() => pathTo(state.steps, head), [state.steps, head]);
  const partials = useMemo(() => (viewingOther ? [] : [...state.partials.values()]), [viewingOther, state.partials]);
  const lineage = useMemo(
    () => new Set(branchLineage(state.branches, viewed).map((b) => b.id)),
    [state.branches, viewed],
  );
  const interventions = useMemo(
    () => state.interventions.filter((i) => i.branch_id === null || lineage.size === 0 || lineage.has(i.branch_id)),
    [state.interventions, lineage],
  );
  const workspace = state.session.workspace;
  const items = useMemo(
    () => traceItems(path, interventions, partials, workspace),
    [path, interventions, partials, workspace],
  );
  const approvals = useApprovals(
    id,
    {
      status: state.session.status,
      activity: state.activity,
      message: state.statusMessage,
      asks: state.approvalAsks,
    },
    config.backend === 'claude_agent_sdk',
  );
  const labels = useMemo(() => {
    if (labelOverrides.size === 0) return state.labels;
    const m = new Map(state.labels);
    for (const [k, v] of labelOverrides) {
      if (v) m.set(k, v);
      else m.delete(k);
    }
    return m;
  }, [state.labels, labelOverrides]);

  const run = useCallback(
    (label: string, call: () => Promise<unknown>) => {
      call().catch((e: Error) => toast(`${label} failed: ${e.message}`));
    },
    [toast],
  );

  const onLabel = useCallback(
    (step: Step, label: StepLabelValue | null, firstError: boolean) => {
      const previous = labels.get(step.id) ?? null;
      const next: StepLabel | null = label
        ? {
            session_id: id,
            step_id: step.id,
            annotator: previous?.annotator ?? '',
            label,
            first_error: firstError,
            updated_at: Date.now(),
          }
        : null;
      setLabelOverrides((m) => new Map(m).set(step.id, next));
      const call = label ? api.saveLabel(id, step.id, label, firstError) : api.deleteLabel(id, step.id);
      call.catch((e: Error) => {
        setLabelOverrides((m) => new Map(m).set(step.id, previous));
        toast(`Label not saved: ${e.message}`);
      });
    },
    [id, labels, toast],
  );

  const labellable = useMemo(() => path.filter((s) => !isSessionFailure(s)), [path]);
  const selectedStep = labellable.find((s) => s.id === selectedStepId) ?? null;
  const labelCtx: LabelContext = {
    config,
    steps: labellable,
    selected: selectedStep,
    labelOf: (s) => labels.get(s.id),
    select: (s) => setSelectedStepId(s.id),
    label: readOnly ? () => toast(`Not labelled: ${readOnly}`) : onLabel,
    toggleHelp: () => setHelpOpen((o) => !o),
  };
  useLabelKeys(labelCtx);
  const ratingName = config.annotation_schemes.find((sc) => sc.annotation_type === 'radio')?.name ?? null;
  const rated =
    ratingName !== null &&
    [...state.annotations.values()].some((a) => a.scheme === ratingName && a.value !== null && a.value !== '');

  const ctx: ControlContext = {
    sessionId: id,
    status: state.session.status,
    config,
    viewingOtherBranch: viewingOther,
    readOnly,
    hasSteps: path.length > 0,
    branchCount: state.branches.size,
    openInstruction: () => setInstructionOpen(true),
    openRollback: (m) => setRollback({ mode: m }),
    run,
  };

  const showCompare = config.branching.enabled && config.branching.compare_branches_view;
  const canCompare = showCompare && state.branches.size > 1;
  // Fork entries in the tree and the trace are the Branch control at a chosen point: shown and
  // refused for the same reasons (read-only, branch limit, not started), saying why on hover.
  const branchAction = CONTROL_ACTIONS.find((a) => a.id === 'branch')!;
  const canFork = branchAction.visible(ctx);
  const forkBlocked = branchAction.blocked(ctx);
  // Checkpoints stop once max_checkpoints is reached: the first step without one says where.
  const firstUncheckpointed = state.session.base_commit ? path.find((s) => !s.checkpoint) : undefined;
  const comparePair = useMemo((): [string, string] | null => {
    const live = liveBranch ? state.branches.get(liveBranch) : undefined;
    const all = [...state.branches.values()].sort((a, b) => a.created_at - b.created_at);
    if (all.length < 2) return null;
    const right = live ?? all.at(-1)!;
    const left =
      (right.parent_branch_id && state.branches.get(right.parent_branch_id)) || all.find((b) => b.id !== right.id)!;
    return [left.id, right.id];
  }, [state.branches, liveBranch]);

  const lastStep = path.at(-1);
  const fileCommit = viewingOther ? (lastStep?.checkpoint ?? undefined) : undefined;
  const ended = isEnded(state.session.status);

  return (
    <div className="session-page" data-testid="session-page" data-status={state.session.status}>
      <ProgressHeader
        // A snapshot does not say what the agent is doing; a call found waiting on load does.
        state={approvals.pending.length > 0 ? { ...state, activity: 'waiting_approval' } : state}
        stepNumber={lastStep ? lastStep.step_idx : null}
        connection={connection}
      />
      {readOnly && (
        <div className="notice" data-testid="read-only-notice">
          You are viewing {owner}'s session as lead: read-only, only {owner} can control, label or rate it.
        </div>
      )}
      <ControlBar ctx={ctx}>
        <div className="view-toggle" role="tablist">
          <button
            type="button"
            role="tab"
            aria-selected={mode === 'trace'}
            className={`btn btn-ghost${mode === 'trace' ? ' active' : ''}`}
            data-testid="view-trace"
            onClick={() => setMode('trace')}
          >
            Trace
          </button>
          {showCompare && (
            <button
              type="button"
              role="tab"
              aria-selected={mode === 'compare'}
              className={`btn btn-ghost${mode === 'compare' ? ' active' : ''}`}
              data-testid="view-compare"
              disabled={!canCompare}
              title={canCompare ? 'Compare two branches side by side' : 'Needs at least two branches'}
              onClick={() => setMode('compare')}
            >
              Compare branches
            </button>
          )}
        </div>
      </ControlBar>
      {instructionOpen && (
        <InstructionInput
          onClose={() => setInstructionOpen(false)}
          onSend={async (text) => {
            try {
              await api.instruction(id, text);
              return true;
            } catch (e) {
              toast(`Instruction not sent: ${(e as Error).message}`);
              return false;
            }
          }}
        />
      )}
      <div className="session-grid">
        <aside className="sidebar">
          <FileTree sessionId={id} path={path} commit={fileCommit} onOpen={setOpenFile} />
          <BranchTree
            branches={state.branches}
            heads={state.heads}
            steps={state.steps}
            liveBranchId={liveBranch}
            viewedBranchId={viewed}
            onSelect={(b) => {
              setViewBranch(b === liveBranch ? null : b);
              setMode('trace');
            }}
            forkBlocked={forkBlocked}
            onFork={
              canFork
                ? (b) => {
                    setViewBranch(b === liveBranch ? null : b);
                    setMode('trace');
                    setRollback({ mode: 'branch' });
                  }
                : undefined
            }
          />
          <StepOutline
            steps={labellable}
            labels={labels}
            selectedId={selectedStepId}
            onJump={(s) => {
              setMode('trace');
              setSelectedStepId(s.id);
            }}
          />
          <ResultPanel
            sessionId={id}
            branchName={state.branches.get(viewed ?? '')?.name}
            branchCount={state.branches.size}
          />
        </aside>
        <main className="center">
          {viewingOther && mode === 'trace' && (
            <div className="view-banner" data-testid="viewing-branch">
              Viewing {state.branches.get(viewed ?? '')?.name ?? 'a branch'} (not the live branch).
              <button type="button" className="btn btn-ghost" onClick={() => setViewBranch(null)}>
                Back to the live branch
              </button>
            </div>
          )}
          {firstUncheckpointed && (
            <div className="notice" data-testid="checkpoint-limit">
              Checkpoints stopped at step {firstUncheckpointed.step_idx}: checkpoints.max_checkpoints was reached, so
              this step and the ones after it cannot be rolled back to.
            </div>
          )}
          {mode === 'trace' && (
            <div className="row label-bar">
              <LabelProgress steps={labellable} labels={labels} rated={rated} ratingName={ratingName} />
              <span className="spacer" />
              <button
                type="button"
                className="btn btn-ghost btn-small"
                data-testid="shortcut-help-toggle"
                title="Keyboard shortcuts"
                onClick={() => setHelpOpen((o) => !o)}
              >
                Shortcuts <kbd>{config.controls.label_keyboard_shortcuts.help}</kbd>
              </button>
            </div>
          )}
          {helpOpen && <ShortcutHelp control={ctx} label={labelCtx} onClose={() => setHelpOpen(false)} />}
          {mode === 'compare' && canCompare && comparePair ? (
            <CompareView
              branches={state.branches}
              heads={state.heads}
              steps={state.steps}
              labels={labels}
              defaultPair={comparePair}
            />
          ) : (
            <TraceList
              items={items}
              labels={labels}
              onLabel={onLabel}
              labelling={!readOnly}
              selectedStepId={selectedStepId}
              onSelect={(s) => setSelectedStepId(s.id)}
              onFork={canFork ? (step) => setRollback({ mode: 'branch', stepId: step.id }) : undefined}
              forkBlocked={forkBlocked}
              emptyText={ended ? 'This session has no steps.' : 'Waiting for the agent’s first step…'}
            />
          )}
          {/* The call holds the live agent whatever is on screen, so it is always shown. */}
          <fieldset className="plain" disabled={readOnly !== null} title={readOnly ?? undefined}>
            <ApprovalPanel sessionId={id} workspace={workspace} approvals={approvals} notify={toast} />
          </fieldset>
        </main>
        <aside className="sidebar sidebar-right">
          <fieldset className="plain" disabled={readOnly !== null} title={readOnly ?? undefined}>
            <AnnotationPanel
              sessionId={id}
              schemes={config.annotation_schemes}
              annotations={state.annotations}
              branches={state.branches}
              ended={ended}
            />
          </fieldset>
        </aside>
      </div>
      {rollback && (
        <RollbackDialog
          mode={rollback.mode}
          path={path}
          branchName={state.branches.get(viewed ?? '')?.name}
          otherBranch={viewingOther}
          {...(rollback.stepId !== undefined ? { initialStepId: rollback.stepId } : {})}
          config={config}
          onClose={() => setRollback(null)}
          onSubmit={async (body) => {
            try {
              await api.rollback(id, body);
              setViewBranch(null);
              return null;
            } catch (e) {
              return (e as Error).message;
            }
          }}
        />
      )}
      {openFile && <FileViewer sessionId={id} path={openFile} commit={fileCommit} onClose={() => setOpenFile(null)} />}
      <div className="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className="toast" data-testid="toast">
            {t.text}
          </div>
        ))}
      </div>
    </div>
  );
}

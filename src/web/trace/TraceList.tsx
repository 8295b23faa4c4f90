/**
 * @module web/trace/TraceList
 * The CodingTraceDisplay: the steps of one path, the annotator's interventions between them
 * and the steps still streaming, in a virtualised list (only what is on screen is in the DOM,
 * rows are measured as they render). While the view is at the bottom it follows new steps.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef } from 'react';
import type { Intervention, Step, StepLabel } from '../api/types.ts';
import { approvalText, parseApproval } from '../lib/approval.ts';
import type { Partial } from '../state/session.ts';
import { JumpContext } from './jump.tsx';
import { type ApprovalLine, InterventionRow, type LabelHandlers, PartialBlock, StepBlock } from './StepBlock.tsx';

export type TraceItem =
  /** `denied`: the annotator denied this step's tool call. */
  | { kind: 'step'; key: string; step: Step; denied?: boolean }
  /** `approval`: an approval's one line ("Approved Bash: pytest -q"), worked out from the path. */
  | { kind: 'intervention'; key: string; intervention: Intervention; approval?: ApprovalLine }
  | { kind: 'partial'; key: string; partial: Partial };

export function traceItems(
  path: Step[],
  interventions: Intervention[],
  partials: Partial[],
  /** The session's workspace: approvals name files relative to it. */
  workspace?: string,
): TraceItem[] {
  const onPath = new Set(path.map((s) => s.id));
  // An approved or denied call becomes a step with the same tool call id.
  let byCall: Map<string, Step> | undefined;
  const approvalLine = (i: Intervention): ApprovalLine | undefined => {
    const record = parseApproval(i.content);
    if (!record) return undefined;
    byCall ??= new Map(path.filter((s) => s.tool_call).map((s) => [s.tool_call!.id, s]));
    return { text: approvalText(record, byCall.get(record.call_id), workspace), allow: record.allow };
  };
  const after = new Map<string, Intervention[]>();
  for (const i of interventions) {
    if (i.after_step_id !== null && !onPath.has(i.after_step_id)) continue;
    const k = i.after_step_id ?? '';
    const list = after.get(k);
    if (list) list.push(i);
    else after.set(k, [i]);
  }
  const items: TraceItem[] = [];
  const pushAfter = (k: string) => {
    for (const i of (after.get(k) ?? []).sort((a, b) => a.created_at - b.created_at))
      items.push({
        kind: 'intervention',
        key: `i:${i.id}`,
        intervention: i,
        ...(i.type === 'approval' ? { approval: approvalLine(i) } : {}),
      });
  };
  pushAfter('');
  const denied = new Set<string>();
  for (const i of interventions) {
    const record = i.type === 'approval' ? parseApproval(i.content) : null;
    if (record && !record.allow) denied.add(record.call_id);
  }
  for (const step of path) {
    const call = step.tool_call?.id;
    items.push({ kind: 'step', key: `s:${step.id}`, step, ...(call && denied.has(call) ? { denied: true } : {}) });
    pushAfter(step.id);
  }
  for (const p of [...partials].sort((a, b) => a.order - b.order))
    items.push({ kind: 'partial', key: `p:${p.key}`, partial: p });
  return items;
}

export function TraceList({
  items,
  labels,
  onLabel,
  labelling,
  emptyText,
  testId = 'trace',
  selectedStepId = null,
  onSelect,
  onFork,
  forkBlocked = null,
}: {
  /** Offered on steps with a checkpoint: start a new branch from there. */
  onFork?: (step: Step) => void;
  /** Why a fork cannot be made now (read-only, branch limit…): the entries show disabled, saying it. */
  forkBlocked?: string | null;
  items: TraceItem[];
  /** The step the keyboard acts on (highlighted, kept in view). */
  selectedStepId?: string | null;
  onSelect?: (step: Step) => void;
  labels: Map<string, StepLabel>;
  labelling: boolean;
  emptyText: string;
  testId?: string;
} & LabelHandlers) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const follow = useRef(true);
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (i) => estimate(items[i]),
    getItemKey: (i) => items[i]!.key,
    overscan: 4,
  });

  // Keep following the newest step while the annotator has not scrolled up.
  const lastKey = items.at(-1)?.key;
  const lastPartialLen = useMemo(() => {
    const last = items.at(-1);
    return last?.kind === 'partial' ? last.partial.text.length : 0;
  }, [items]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new last row or streamed text is the trigger
  useLayoutEffect(() => {
    if (follow.current && items.length) virtualizer.scrollToIndex(items.length - 1, { align: 'end' });
  }, [lastKey, lastPartialLen, items.length, virtualizer]);

  const jump = useCallback(
    (idx: number) => {
      const at = items.findIndex((i) => i.kind === 'step' && i.step.step_idx === idx);
      if (at < 0) return false;
      follow.current = false;
      virtualizer.scrollToIndex(at, { align: 'start' });
      const item = items[at];
      if (item?.kind === 'step') onSelect?.(item.step);
      return true;
    },
    [items, virtualizer, onSelect],
  );

  // The selected step stays in view as the keyboard moves it.
  useEffect(() => {
    if (!selectedStepId) return;
    const at = items.findIndex((i) => i.kind === 'step' && i.step.id === selectedStepId);
    if (at >= 0) {
      follow.current = false;
      virtualizer.scrollToIndex(at, { align: 'auto' });
    }
  }, [selectedStepId, items, virtualizer]);

  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const onScroll = () => {
      follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    };
    el.addEventListener('scroll', onScroll, { passive: true });
    // A panel opening under the trace (a call waiting for approval) shortens it: keep the end in view.
    const resized = new ResizeObserver(() => {
      if (follow.current) el.scrollTop = el.scrollHeight;
    });
    resized.observe(el);
    return () => {
      el.removeEventListener('scroll', onScroll);
      resized.disconnect();
    };
  }, []);

  return (
    <JumpContext.Provider value={jump}>
      <div className="trace-scroll" ref={scrollRef} data-testid={testId}>
        {items.length === 0 ? (
          <div className="empty">{emptyText}</div>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative', width: '100%' }}>
            {virtualizer.getVirtualItems().map((v) => {
              const item = items[v.index]!;
              return (
                <div
                  key={v.key}
                  data-index={v.index}
                  ref={virtualizer.measureElement}
                  className="trace-row"
                  style={{
                    position: 'absolute',
                    top: 0,
                    left: 0,
                    width: '100%',
                    transform: `translateY(${v.start}px)`,
                  }}
                >
                  {item.kind === 'step' ? (
                    <StepBlock
                      step={item.step}
                      label={labels.get(item.step.id)}
                      onLabel={onLabel}
                      labelling={labelling}
                      denied={item.denied}
                      selected={item.step.id === selectedStepId}
                      onFork={onFork}
                      forkBlocked={forkBlocked}
                    />
                  ) : item.kind === 'intervention' ? (
                    <InterventionRow intervention={item.intervention} approval={item.approval} />
                  ) : (
                    <PartialBlock partial={item.partial} />
                  )}
                </div>
              );
            })}
          </div>
        )}
      </div>
    </JumpContext.Provider>
  );
}

function estimate(item: TraceItem | undefined): number {
  if (!item) return 80;
  if (item.kind === 'intervention') return 48;
  if (item.kind === 'partial') return 120;
  switch (item.step.type) {
    case 'thinking':
    case 'message':
      return 110;
    case 'file_read':
    case 'file_edit':
    case 'file_write':
    case 'bash_command':
      return 360;
    default:
      return 160;
  }
}

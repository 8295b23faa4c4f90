/**
 * @module web/state/session
 * The session as the browser holds it: the snapshot from GET /api/sessions/:id, advanced by
 * live events in sequence order. Pure functions, so the reducer is tested without a browser.
 * An event whose seq is not above the last one applied is a duplicate (a reconnect overlap)
 * and is ignored.
 */

import type { AgentActivity } from '../../session/events.ts';
import type {
  Annotation,
  BranchRecord,
  Intervention,
  SessionEvent,
  SessionRecord,
  SessionSnapshot,
  SessionStatus,
  Step,
  StepLabel,
  TokenUsage,
} from '../api/types.ts';

export interface Partial {
  key: string;
  kind: 'thinking' | 'message' | 'tool_input' | 'output';
  text: string;
  tool?: string;
  /** The streamed tool input, kept when the same key goes on to stream the tool's output. */
  input?: string;
  /** Order of arrival, so partials keep their place. */
  order: number;
}

export interface SessionState {
  session: SessionRecord;
  steps: Map<string, Step>;
  branches: Map<string, BranchRecord>;
  /** Head step of each branch as far as this client knows (advances as steps arrive). */
  heads: Map<string, string | null>;
  interventions: Intervention[];
  /** Keyed by `${branch_id ?? ''}\u0000${scheme}`. */
  annotations: Map<string, Annotation>;
  labels: Map<string, StepLabel>;
  partials: Map<string, Partial>;
  activity: AgentActivity;
  statusMessage: string | null;
  /**
   * How many times a tool call was announced as waiting for approval: the approvals panel loads
   * the waiting calls on each, even when a later status in the same batch hides the announcement.
   */
  approvalAsks: number;
  usage: TokenUsage;
  /** Every status the session took, with when (the snapshot's, then each `session` event's). */
  statusChanges: { at: number; status: SessionStatus }[];
  lastSeq: number;
  /** Bumped when steps or heads change, so path memoisation can key on it. */
  treeVersion: number;
}

export const annotationKey = (branchId: string | null, scheme: string) => `${branchId ?? ''}\u0000${scheme}`;

export function fromSnapshot(snap: SessionSnapshot): SessionState {
  const steps = new Map(snap.steps.map((s) => [s.id, s]));
  const branches = new Map(snap.branches.map((b) => [b.id, b]));
  const heads = new Map<string, string | null>();
  for (const b of snap.branches) heads.set(b.id, b.head_step_id);
  const state: SessionState = {
    session: snap.session,
    steps,
    branches,
    heads,
    interventions: [...snap.interventions],
    annotations: new Map(snap.annotations.map((a) => [annotationKey(a.branch_id, a.scheme), a])),
    labels: new Map(snap.labels.map((l) => [l.step_id, l])),
    partials: new Map(),
    activity: snap.session.status === 'running' ? 'thinking' : 'idle',
    statusMessage: null,
    approvalAsks: 0,
    usage: snap.session.usage,
    statusChanges: snap.status_changes,
    lastSeq: snap.last_seq,
    treeVersion: 0,
  };
  // Branch records may lag behind the steps already stored: follow children down to the leaf.
  for (const b of snap.branches) advanceHead(state, b.id);
  return state;
}

/** Move a branch's head down while exactly one stored child continues it. */
function advanceHead(state: SessionState, branchId: string): void {
  if (branchId !== state.session.current_branch_id) return;
  const children = childIndex(state);
  let head = state.heads.get(branchId) ?? null;
  for (;;) {
    const kids = children.get(head ?? '') ?? [];
    // At a fork the branch record is the only authority: stop there.
    if (kids.length !== 1) break;
    head = kids[0]!.id;
  }
  state.heads.set(branchId, head);
}

function childIndex(state: SessionState): Map<string, Step[]> {
  const out = new Map<string, Step[]>();
  for (const s of state.steps.values()) {
    const k = s.parent_id ?? '';
    const list = out.get(k);
    if (list) list.push(s);
    else out.set(k, [s]);
  }
  return out;
}

const ENDED: SessionStatus[] = ['stopped', 'finished', 'failed', 'interrupted'];
export const isEnded = (s: SessionStatus) => ENDED.includes(s);

/** Apply a batch of events; returns the same object when nothing new was in it. */
export function applyEvents(prev: SessionState, events: readonly SessionEvent[]): SessionState {
  const fresh = events.filter((e) => e.seq > prev.lastSeq).sort((a, b) => a.seq - b.seq);
  if (fresh.length === 0) return prev;
  const s: SessionState = {
    ...prev,
    steps: prev.steps,
    partials: new Map(prev.partials),
  };
  let stepsCopied = false;
  const steps = () => {
    if (!stepsCopied) {
      s.steps = new Map(s.steps);
      s.heads = new Map(s.heads);
      stepsCopied = true;
    }
    return s.steps;
  };
  let order = Math.max(0, ...[...prev.partials.values()].map((p) => p.order));
  for (const e of fresh) {
    if (e.seq <= s.lastSeq) continue;
    s.lastSeq = e.seq;
    switch (e.type) {
      case 'session':
        if (s.statusChanges.at(-1)?.status !== e.session.status) {
          s.statusChanges = [...s.statusChanges, { at: e.at, status: e.session.status }];
        }
        s.session = e.session;
        s.usage = e.session.usage;
        if (isEnded(e.session.status)) s.partials.clear();
        break;
      case 'status':
        s.session = { ...s.session, status: e.status };
        s.activity = e.activity;
        s.statusMessage = e.message ?? null;
        if (e.activity === 'waiting_approval') s.approvalAsks++;
        if (isEnded(e.status)) s.partials.clear();
        break;
      case 'partial': {
        const old = s.partials.get(e.key);
        // One key streams the tool input, then the same call's output: keep the input aside.
        const switched = old !== undefined && old.kind !== e.kind;
        s.partials.set(e.key, {
          key: e.key,
          kind: e.kind,
          tool: e.tool ?? old?.tool,
          text: (switched ? '' : (old?.text ?? '')) + e.text,
          input: switched && old.kind === 'tool_input' ? old.text : old?.input,
          order: old?.order ?? ++order,
        });
        break;
      }
      case 'step': {
        steps().set(e.step.id, e.step);
        if (e.partial_key) s.partials.delete(e.partial_key);
        const branch = s.session.current_branch_id;
        if (branch !== null && (s.heads.get(branch) ?? null) === e.step.parent_id) s.heads.set(branch, e.step.id);
        s.treeVersion++;
        break;
      }
      case 'branch': {
        s.branches = new Map(s.branches);
        s.branches.set(e.branch.id, e.branch);
        steps();
        const known = s.heads.get(e.branch.id);
        if (known === undefined || isAncestor(s.steps, known, e.branch.head_step_id)) {
          s.heads.set(e.branch.id, e.branch.head_step_id);
        }
        s.treeVersion++;
        break;
      }
      case 'head':
        steps();
        s.session = { ...s.session, current_branch_id: e.branch_id };
        s.heads.set(e.branch_id, e.head_step_id);
        s.partials.clear();
        s.treeVersion++;
        break;
      case 'intervention':
        s.interventions = [...s.interventions.filter((i) => i.id !== e.intervention.id), e.intervention];
        break;
      case 'annotation':
        s.annotations = new Map(s.annotations);
        s.annotations.set(annotationKey(e.annotation.branch_id, e.annotation.scheme), e.annotation);
        break;
      case 'label':
        s.labels = new Map(s.labels);
        s.labels.set(e.label.step_id, e.label);
        break;
      case 'label_removed':
        if (s.labels.get(e.step_id)?.annotator === e.annotator) {
          s.labels = new Map(s.labels);
          s.labels.delete(e.step_id);
        }
        break;
      case 'usage':
        s.usage = e.total;
        break;
      default: {
        const never: never = e;
        void never;
      }
    }
  }
  return s;
}

/** True when `ancestor` is on the path from the root to `descendant` (null is the root's parent). */
export function isAncestor(steps: Map<string, Step>, ancestor: string | null, descendant: string | null): boolean {
  if (ancestor === null) return true;
  let cur = descendant;
  while (cur !== null) {
    if (cur === ancestor) return true;
    cur = steps.get(cur)?.parent_id ?? null;
  }
  return false;
}

/** Steps from the root to `head`, in order. */
export function pathTo(steps: Map<string, Step>, head: string | null): Step[] {
  const out: Step[] = [];
  let cur = head;
  const seen = new Set<string>();
  while (cur !== null && !seen.has(cur)) {
    seen.add(cur);
    const step = steps.get(cur);
    if (!step) break;
    out.push(step);
    cur = step.parent_id;
  }
  return out.reverse();
}

/** A branch and the branches it descends from, nearest first. */
export function branchLineage(branches: Map<string, BranchRecord>, id: string | null): BranchRecord[] {
  const out: BranchRecord[] = [];
  let cur = id;
  while (cur !== null) {
    const b = branches.get(cur);
    if (!b || out.includes(b)) break;
    out.push(b);
    cur = b.parent_branch_id;
  }
  return out;
}

/**
 * @module export/session-data
 * Loads one session's records for the exporters, and the shared rules every format uses:
 * a step's exported fields, a branch's path, the interventions on a path, the outcome answer,
 * the branch pairs (rejected parent path vs chosen new path) and the step labels.
 */
import fs from 'node:fs';
import { addUsage, type Step, type TokenUsage } from '../steps/types.js';
import { branchName, branchPath, branchPoint, indexSteps } from '../store/tree.js';
import type { Annotation, BranchRecord, Intervention, SessionRecord, Store } from '../store/types.js';
import { type RawJson, rawArray } from './json.js';
import { cleanValue, sessionCleaner } from './redact.js';
import type { ExportFormat, SessionData } from './types.js';

/** One session's records; pass the session record when the caller has it (one query fewer). */
export async function loadSession(
  store: Store,
  sessionId: string,
  known?: SessionRecord | null,
): Promise<SessionData | null> {
  const session = known === undefined ? await store.getSession(sessionId) : known;
  if (!session) return null;
  const [steps, branches, interventions, annotations, labels] = await Promise.all([
    store.listSteps(sessionId),
    store.listBranches(sessionId),
    store.listInterventions(sessionId),
    store.listAnnotations(sessionId),
    store.listStepLabels(sessionId),
  ]);
  return {
    session,
    steps,
    byId: indexSteps(steps),
    branches,
    branchById: new Map(branches.map((b) => [b.id, b])),
    interventions,
    annotations,
    labels,
    paths: new Map(),
    clean: sessionCleaner(workspacePaths(session.workspace)),
    memo: new Map(),
  };
}

/** The workspace as recorded and, when it still exists, as the kernel resolves it. */
function workspacePaths(workspace: string): string[] {
  if (!workspace.startsWith('/')) return [];
  try {
    return [workspace, fs.realpathSync(workspace)];
  } catch {
    // The workspace is gone: only the recorded path can appear in the data.
    return [workspace];
  }
}

/**
 * A line's stable id: the same unit (a branch, a pair, an intervention) keeps it across every
 * re-export, so a consumer can upsert by it.
 */
export const lineId = (data: SessionData, format: ExportFormat | 'dpo_step', ...unit: string[]) =>
  [data.session.id, format, ...unit].join('/');

/** An exported step: its id, step_idx, type, the payload's fields, and the tool call and its result. */
export type ExportedStep = { step_idx: number; type: string } & Record<string, unknown>;

export function exportStep(step: Step, clean: SessionData['clean'] = (t) => t): ExportedStep {
  // Signatures and redacted thinking are the provider's opaque data: not training text.
  const { type: _type, signature: _signature, redacted, ...fields } = step.payload as Record<string, unknown>;
  const out: ExportedStep = {
    step_id: step.id,
    step_idx: step.step_idx,
    type: step.type,
    ...fields,
    author: step.author,
  };
  if (redacted !== undefined) out.redacted = true;
  if (step.tool_call) {
    out.tool_name = step.tool_call.name;
    out.tool_input = step.tool_call.input;
    out.tool_result = step.tool_result;
    out.tool_is_error = step.tool_is_error;
  }
  if (step.checkpoint) out.checkpoint = step.checkpoint;
  if (step.usage) out.usage = step.usage;
  return cleanValue(out, clean);
}

/** Tokens spent on these steps (each model turn's usage sits on one of its steps), cache counts apart. */
export function usageOf(steps: readonly Step[]): TokenUsage {
  let total: TokenUsage = { input_tokens: 0, output_tokens: 0 };
  for (const s of steps) if (s.usage) total = addUsage(total, s.usage);
  return total;
}

// A step appears on several branch paths (and in several lines): serialise it once.
const jsonCache = new WeakMap<Step, string>();

/** JSON.stringify(exportStep(step)) with every string cleaned, made once per step. */
export function stepJson(data: SessionData, step: Step): string {
  let json = jsonCache.get(step);
  if (json === undefined) {
    json = JSON.stringify(exportStep(step, data.clean));
    jsonCache.set(step, json);
  }
  return json;
}

/** The JSON array of these steps' exported forms. */
export const stepsJson = (data: SessionData, steps: readonly Step[]): RawJson =>
  rawArray(steps.map((s) => stepJson(data, s)));

/**
 * The branches in creation order with their path (step 0 to head). Branches whose head is
 * unknown and have no fork (a first branch before any step) get an empty path.
 */
export function pathOf(data: SessionData, branch: BranchRecord): Step[] {
  let path = data.paths.get(branch);
  if (!path) {
    path = branchPath(branch, data.byId);
    data.paths.set(branch, path);
  }
  return path;
}

/**
 * A session without any branch record (a backend that never made one, an interrupted start)
 * still has steps: treat every leaf as its own unnamed path so no step is dropped.
 */
export function branchesOrLeaves(data: SessionData): BranchRecord[] {
  if (data.branches.length > 0) return data.branches;
  const hasChild = new Set<string>();
  for (const s of data.steps) if (s.parent_id) hasChild.add(s.parent_id);
  const leaves = data.steps.filter((s) => !hasChild.has(s.id));
  return leaves.map((leaf, i) => ({
    id: `leaf-${leaf.id}`,
    session_id: data.session.id,
    name: branchName(i, true),
    fork_step_id: null,
    parent_branch_id: null,
    reason: null,
    head_step_id: leaf.id,
    git_ref: '',
    created_at: leaf.ended_at,
  }));
}

/** Branches from the root branch down to `branch` (inclusive), root first. */
function lineage(data: SessionData, branch: BranchRecord): BranchRecord[] {
  const chain: BranchRecord[] = [];
  let cur: BranchRecord | undefined = branch;
  while (cur && chain.length <= data.branches.length) {
    chain.push(cur);
    cur = cur.parent_branch_id ? data.branchById.get(cur.parent_branch_id) : undefined;
  }
  return chain.reverse();
}

/**
 * The interventions that belong to a branch's history: on the branch itself, or on an
 * ancestor branch before the branch leading here was forked from it, and (for the ones tied
 * to a step) at a step on this path. In order of time.
 */
export function interventionsOn(data: SessionData, branch: BranchRecord, path: readonly Step[]): Intervention[] {
  const onPath = new Set(path.map((s) => s.id));
  const chain = lineage(data, branch);
  // For each branch of the chain, until when its interventions count for this path.
  const until = new Map<string, number>();
  for (let i = 0; i < chain.length; i++) {
    const next = chain[i + 1];
    until.set(chain[i]!.id, next ? next.created_at : Number.POSITIVE_INFINITY);
  }
  const unbranched = data.branches.length === 0;
  return data.interventions.filter((iv) => {
    if (iv.after_step_id !== null && !onPath.has(iv.after_step_id)) return false;
    if (unbranched || iv.branch_id === null) return true;
    const limit = until.get(iv.branch_id);
    return limit !== undefined && iv.created_at <= limit;
  });
}

/** What the engine records about a rollback (src/session/lifecycle.ts, applyRollback). */
export interface RollbackInfo {
  reason: string | null;
  /** step_idx of the head the annotator rolled back from (null when unknown). */
  from_step: number | null;
  /** step_idx of the step rolled back to (0: the initial state). */
  to_step: number | null;
}

/**
 * A rollback or branch intervention's content. The engine stores JSON
 * `{reason, from_step, to_step, branch}`; anything else (older records, a store filled by
 * hand) is taken as the plain reason text.
 */
export function rollbackInfo(iv: Intervention): RollbackInfo {
  const text = iv.content;
  if (text?.startsWith('{')) {
    try {
      const o = JSON.parse(text) as Record<string, unknown>;
      return {
        reason: typeof o.reason === 'string' ? o.reason : null,
        from_step: typeof o.from_step === 'number' ? o.from_step : null,
        to_step: typeof o.to_step === 'number' ? o.to_step : null,
      };
    } catch {
      // not the engine's JSON: plain text that happens to start with a brace
    }
  }
  return { reason: text, from_step: null, to_step: null };
}

/** An intervention as exported: `after_step` 0 is the initial state; a rollback's reason is its content. */
export function exportIntervention(iv: Intervention): {
  after_step: number;
  type: string;
  content: string | null;
  from_step?: number | null;
  to_step?: number | null;
} {
  if (iv.type === 'rollback' || iv.type === 'branch') {
    const r = rollbackInfo(iv);
    return {
      after_step: iv.after_step ?? 0,
      type: iv.type,
      content: r.reason,
      from_step: r.from_step,
      to_step: r.to_step,
    };
  }
  return { after_step: iv.after_step ?? 0, type: iv.type, content: iv.content };
}

/**
 * Where a branch made by a rollback came from: `branch_point_step`, the step rolled back to
 * (0: the initial state), and `rollback_from_step`, the head the annotator rolled back from.
 * The latter is read from the engine's branch intervention; without one, it is the parent
 * branch's head (the engine leaves the old branch's head where the rollback found it).
 * Both null for a first branch.
 */
export function rollbackSteps(
  data: SessionData,
  branch: BranchRecord,
): { branch_point_step: number | null; rollback_from_step: number | null } {
  const parent = branch.parent_branch_id ? data.branchById.get(branch.parent_branch_id) : undefined;
  if (!parent) return { branch_point_step: null, rollback_from_step: null };
  const parentPath = pathOf(data, parent);
  const bp = branchPoint(parentPath, pathOf(data, branch));
  const pointIdx = bp.step ? bp.step.step_idx : 0;
  const iv = data.interventions.find((i) => i.type === 'branch' && i.branch_id === branch.id);
  const from = iv ? rollbackInfo(iv).from_step : null;
  return {
    branch_point_step: pointIdx,
    rollback_from_step: from ?? parentPath.at(-1)?.step_idx ?? pointIdx,
  };
}

/** The latest answer to a scheme: the branch's own if any, else the session-level one. */
export function answerFor(annotations: readonly Annotation[], scheme: string, branchId: string | null): unknown {
  let best: Annotation | null = null;
  let bestSession: Annotation | null = null;
  for (const a of annotations) {
    if (a.scheme !== scheme) continue;
    if (branchId !== null && a.branch_id === branchId) {
      if (!best || a.updated_at >= best.updated_at) best = a;
    } else if (a.branch_id === null) {
      if (!bestSession || a.updated_at >= bestSession.updated_at) bestSession = a;
    }
  }
  return (best ?? bestSession)?.value ?? null;
}

/** Latest session-level answer per scheme. */
export function sessionAnswers(annotations: readonly Annotation[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const at: Record<string, number> = {};
  for (const a of annotations) {
    if (a.branch_id !== null) continue;
    if (at[a.scheme] === undefined || a.updated_at >= at[a.scheme]!) {
      out[a.scheme] = a.value;
      at[a.scheme] = a.updated_at;
    }
  }
  return out;
}

/** One line of text for a step, for formats that want strings (prm_stepwise, code_review context). */
export function stepText(step: Step): string {
  const p = step.payload;
  switch (p.type) {
    case 'thinking':
    case 'message':
      return p.content;
    case 'file_read':
      return `Read ${p.path}${p.start_line > 1 ? ` from line ${p.start_line}` : ''}:\n${p.content}`;
    case 'file_edit':
    case 'file_write':
      return `${p.type === 'file_write' || p.created ? 'Write' : 'Edit'} ${p.path}:\n${p.diff}`;
    case 'bash_command':
      return p.refused
        ? `$ ${p.command}\n(refused: ${p.refused})`
        : `$ ${p.command}\n${p.output}${p.output.endsWith('\n') || p.output === '' ? '' : '\n'}${p.cut ? `(cut: ${p.cut})` : `(exit code ${p.exit_code ?? 'none'}${p.timed_out ? ', timed out' : ''})`}`;
    case 'directory_list':
      return `List ${p.path}:\n${p.entries.join('\n')}`;
    case 'file_search':
      return `Search ${JSON.stringify(p.pattern)} in ${p.path}:\n${p.matches.map((m) => `${m.path}:${m.line}: ${m.text}`).join('\n')}`;
    case 'error':
      return `Error (${p.kind}): ${p.message}`;
  }
}

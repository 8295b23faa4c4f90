/**
 * @module export/formats/dpo
 * `dpo`: TRL's conversational preference format ({prompt, chosen, rejected}) for DPOTrainer,
 * one line per branch point. The prompt is the task and the shared path as messages (assistant
 * turns with tool_calls, tool results, the annotator's instructions as user turns); chosen and
 * rejected are the assistant and tool messages after the branch point on each side.
 */
import type { Step } from '../../steps/types.js';
import { type BranchPair, branchPairs, interventionsOn } from '../session-data.js';
import type { Exporter, SessionData } from '../types.js';

export type Message =
  | { role: 'user'; content: string }
  | {
      role: 'assistant';
      content: string;
      reasoning_content?: string;
      tool_calls?: { type: 'function'; function: { name: string; arguments: Record<string, unknown> } }[];
    }
  | { role: 'tool'; name: string; content: string };

/** The tool call a step made; steps recorded without one (SDK-mapped) get one from their payload. */
function toolCallOf(step: Step): { name: string; arguments: Record<string, unknown> } | null {
  if (step.tool_call) return { name: step.tool_call.name, arguments: step.tool_call.input };
  const p = step.payload;
  switch (p.type) {
    case 'file_read':
      return { name: 'file_read', arguments: { path: p.path } };
    case 'file_edit':
    case 'file_write':
      return { name: p.type, arguments: { path: p.path } };
    case 'bash_command':
      return { name: 'bash_command', arguments: { command: p.command } };
    case 'directory_list':
      return { name: 'directory_list', arguments: { path: p.path } };
    case 'file_search':
      return { name: 'file_search', arguments: { pattern: p.pattern, path: p.path } };
    default:
      return null;
  }
}

function toolResultOf(step: Step): string {
  if (step.tool_result !== null) return step.tool_result;
  const p = step.payload;
  switch (p.type) {
    case 'file_read':
      return p.content;
    case 'file_edit':
    case 'file_write':
      return p.diff;
    case 'bash_command':
      return p.output;
    case 'directory_list':
      return p.entries.join('\n');
    case 'file_search':
      return p.matches.map((m) => `${m.path}:${m.line}: ${m.text}`).join('\n');
    case 'error':
      return p.message;
    default:
      return '';
  }
}

/**
 * Steps as chat messages: consecutive steps of one model turn make one assistant message
 * (text, reasoning, tool calls) followed by one tool message per call. Backend and internal
 * errors are not model output and are left out.
 */
export function stepsToMessages(steps: readonly Step[]): Message[] {
  const out: Message[] = [];
  let turn: Extract<Message, { role: 'assistant' }> | null = null;
  let turnId: string | null = null;
  let results: Message[] = [];
  const flush = () => {
    if (turn) out.push(turn, ...results);
    turn = null;
    turnId = null;
    results = [];
  };
  for (const step of steps) {
    const p = step.payload;
    if (p.type === 'error' && (p.kind === 'backend' || p.kind === 'internal' || p.kind === 'timeout')) continue;
    // A retried attempt's output was replaced by the attempt after it; redacted thinking has no text.
    if ((p.type === 'thinking' || p.type === 'message') && p.retried !== undefined) continue;
    if (p.type === 'thinking' && p.content === '') continue;
    if (!turn || step.turn_id === null || step.turn_id !== turnId) {
      flush();
      turn = { role: 'assistant', content: '' };
      turnId = step.turn_id;
    }
    const t: Extract<Message, { role: 'assistant' }> = turn;
    if (p.type === 'thinking') {
      t.reasoning_content = t.reasoning_content ? `${t.reasoning_content}\n${p.content}` : p.content;
    } else if (p.type === 'message') {
      t.content = t.content ? `${t.content}\n${p.content}` : p.content;
    } else {
      const call = toolCallOf(step);
      if (!call) continue;
      t.tool_calls ??= [];
      t.tool_calls.push({ type: 'function', function: call });
      results.push({ role: 'tool', name: call.name, content: toolResultOf(step) });
    }
  }
  flush();
  return out;
}

/**
 * The prompt: the task, then the shared steps with the instructions given along them: those in
 * the chosen branch's history (as trajectories counts them) that were given before the
 * rollback, so both sides saw them. An instruction sent with the rollback only reached the
 * chosen side; it is in branch_preferences and code_review, not in the prompt.
 */
function promptMessages(data: SessionData, pair: BranchPair): Message[] {
  const msgs: Message[] = [{ role: 'user', content: data.session.task }];
  const instructionsAfter = new Map<string | null, string[]>();
  for (const iv of interventionsOn(data, pair.chosenBranch, pair.shared)) {
    // The chosen branch's own instructions came with or after the rollback (created_at can tie
    // with the branch's in the same millisecond, so the branch id decides, not the clock).
    if (iv.type !== 'instruction' || !iv.content || iv.branch_id === pair.chosenBranch.id) continue;
    if (iv.created_at > pair.chosenBranch.created_at) continue;
    const list = instructionsAfter.get(iv.after_step_id) ?? [];
    list.push(iv.content);
    instructionsAfter.set(iv.after_step_id, list);
  }
  for (const text of instructionsAfter.get(null) ?? []) msgs.push({ role: 'user', content: text });
  let run: Step[] = [];
  for (const step of pair.shared) {
    run.push(step);
    const texts = instructionsAfter.get(step.id);
    if (texts) {
      msgs.push(...stepsToMessages(run));
      run = [];
      for (const text of texts) msgs.push({ role: 'user', content: text });
    }
  }
  msgs.push(...stepsToMessages(run));
  return msgs;
}

export const dpo: Exporter = function* (data) {
  for (const pair of branchPairs(data)) {
    const chosen = stepsToMessages(pair.chosen);
    const rejected = stepsToMessages(pair.rejected);
    if (chosen.length === 0 || rejected.length === 0) continue;
    yield JSON.stringify({
      prompt: promptMessages(data, pair),
      chosen,
      rejected,
      session_id: data.session.id,
      branch_point_step: pair.point ? pair.point.step_idx : 0,
      chosen_branch: pair.chosenBranch.name,
      rejected_branch: pair.rejectedBranch.name,
    });
  }
};

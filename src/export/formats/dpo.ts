/**
 * @module export/formats/dpo
 * `dpo` and `dpo_step`: TRL's conversational preference type ({prompt, chosen, rejected} message
 * lists, with a `tools` column) for DPOTrainer and RewardTrainer, one line per pair (rules.ts).
 *
 * - `dpo`: each side is its whole segment as assistant and tool messages. TRL scores everything
 *   after the prompt, tool output included.
 * - `dpo_step`: each side is only the first assistant turn after the branch point (text,
 *   reasoning and tool calls), so only what the policy produced is scored.
 *
 * The prompt is the system prompt, the task and the shared path, with the instructions both sides
 * saw. The instruction sent with the rollback reached only the chosen side: it ends the prompt
 * (`rollbackInstruction: 'prompt'`, the default) or the pair is left out ('exclude'). A side ends
 * before any later instruction given on it. An annotator's edited tool call is never an assistant
 * message: it is a user turn saying so (`annotatorCalls: 'mark'`) or the pair is left out.
 */
import type { Step } from '../../steps/types.js';
import type { Intervention } from '../../store/types.js';
import { recordJson } from '../json.js';
import { provenance, toolsOf } from '../provenance.js';
import { type BranchPair, branchPairs } from '../rules.js';
import { interventionsOn, lineId } from '../session-data.js';
import { type Exporter, type ExportOptions, type SessionData, withDefaults } from '../types.js';
import { pairPoint } from './branch-preferences.js';

type ToolCallMessage = { type: 'function'; function: { name: string; arguments: Record<string, unknown> } };
type Assistant = { role: 'assistant'; content: string; reasoning_content?: string; tool_calls?: ToolCallMessage[] };
export type Message =
  | { role: 'system' | 'user'; content: string }
  | Assistant
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

/** An annotator's edited tool call, as a user turn: never presented as the model's own. */
function annotatorTurn(step: Step): Message {
  const call = toolCallOf(step);
  const what = call ? `${call.name} ${JSON.stringify(call.arguments)}` : step.type;
  return {
    role: 'user',
    content: `[The annotator replaced the model's tool call and ran: ${what}]\nResult:\n${toolResultOf(step)}`,
  };
}

/**
 * Steps as chat messages: consecutive steps of one model turn make one assistant message
 * (text, reasoning, tool calls) followed by one tool message per call. Backend, timeout and
 * internal errors are not model output and are left out, and so is an assistant message left
 * with nothing in it.
 */
export function stepsToMessages(steps: readonly Step[]): Message[] {
  const out: Message[] = [];
  let turn: Assistant | null = null;
  let turnId: string | null = null;
  let results: Message[] = [];
  const flush = () => {
    if (turn && (turn.content || turn.reasoning_content || turn.tool_calls?.length)) out.push(turn, ...results);
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
    if (step.author === 'annotator') {
      flush();
      out.push(annotatorTurn(step));
      continue;
    }
    if (!turn || step.turn_id === null || step.turn_id !== turnId) {
      flush();
      turn = { role: 'assistant', content: '' };
      turnId = step.turn_id;
    }
    const t: Assistant = turn;
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

/** The instructions one side saw before its first step, on the shared path. */
function seenBy(data: SessionData, pair: BranchPair, side: 'chosen' | 'rejected'): Intervention[] {
  const branch = side === 'chosen' ? pair.chosenBranch : pair.rejectedBranch;
  const first = (side === 'chosen' ? pair.chosen : pair.rejected)[0]!;
  return interventionsOn(data, branch, pair.shared).filter(
    (iv) => iv.type === 'instruction' && iv.content && iv.created_at <= first.started_at,
  );
}

/** A side up to (and including) the first step after which the annotator gave an instruction. */
function untilInstruction(data: SessionData, side: readonly Step[]): Step[] {
  const told = new Set(data.interventions.filter((iv) => iv.type === 'instruction').map((iv) => iv.after_step_id));
  const at = side.findIndex((s, i) => i < side.length - 1 && told.has(s.id));
  return at === -1 ? [...side] : side.slice(0, at + 1);
}

interface Shaped {
  prompt: Message[];
  chosen: Step[];
  rejected: Step[];
  annotatorCall: boolean;
}

/** The prompt and both sides of a pair, or null when the options leave the pair out. */
function shape(data: SessionData, pair: BranchPair, opts: Required<ExportOptions>): Shaped | null {
  const both = new Set(seenBy(data, pair, 'rejected').map((iv) => iv.id));
  const chosenSaw = seenBy(data, pair, 'chosen');
  const onlyChosen = chosenSaw.filter((iv) => !both.has(iv.id));
  if (onlyChosen.length > 0 && opts.rollbackInstruction === 'exclude') return null;
  const chosen = untilInstruction(data, pair.chosen);
  const rejected = untilInstruction(data, pair.rejected);
  const annotatorCall = [...pair.shared, ...chosen, ...rejected].some((s) => s.author === 'annotator');
  if (annotatorCall && opts.annotatorCalls === 'exclude') return null;

  const msgs: Message[] = [];
  const system = (data.session.backend_settings as { system_prompt?: unknown }).system_prompt;
  if (typeof system === 'string' && system) msgs.push({ role: 'system', content: system });
  msgs.push({ role: 'user', content: data.session.task });
  const after = new Map<string | null, string[]>();
  for (const iv of chosenSaw.filter((i) => both.has(i.id))) {
    const list = after.get(iv.after_step_id) ?? [];
    list.push(iv.content!);
    after.set(iv.after_step_id, list);
  }
  for (const text of after.get(null) ?? []) msgs.push({ role: 'user', content: text });
  let run: Step[] = [];
  for (const step of pair.shared) {
    run.push(step);
    const texts = after.get(step.id);
    if (texts) {
      msgs.push(...stepsToMessages(run));
      run = [];
      for (const text of texts) msgs.push({ role: 'user', content: text });
    }
  }
  msgs.push(...stepsToMessages(run));
  for (const iv of onlyChosen) msgs.push({ role: 'user', content: iv.content! });
  return { prompt: msgs, chosen, rejected, annotatorCall };
}

function* pairs(data: SessionData, options: ExportOptions, stepLevel: boolean): Generator<string> {
  const opts = withDefaults(options);
  const tools = JSON.stringify(toolsOf(data));
  for (const pair of branchPairs(data, opts.outcomeOrder)) {
    const shaped = shape(data, pair, opts);
    if (!shaped) continue;
    let chosen = stepsToMessages(shaped.chosen);
    let rejected = stepsToMessages(shaped.rejected);
    if (stepLevel) {
      // The first turn of each side, when both are the model's: what the policy did differently.
      if (chosen[0]?.role !== 'assistant' || rejected[0]?.role !== 'assistant') continue;
      chosen = [chosen[0]];
      rejected = [rejected[0]];
      if (JSON.stringify(chosen) === JSON.stringify(rejected)) continue;
    }
    if (chosen.length === 0 || rejected.length === 0) continue;
    const format = stepLevel ? 'dpo_step' : 'dpo';
    yield recordJson(
      {
        id: lineId(data, format, pair.rejectedBranch.name, pair.chosenBranch.name, pairPoint(pair)),
        prompt: shaped.prompt,
        chosen,
        rejected,
        tools,
        session_id: data.session.id,
        branch_point_step: pair.point ? pair.point.step_idx : 0,
        chosen_branch: pair.chosenBranch.name,
        rejected_branch: pair.rejectedBranch.name,
        annotator_call: shaped.annotatorCall,
        provenance: provenance(data, pair.chosenBranch, { rejected: pair.rejectedBranch }),
      },
      data.clean,
    );
  }
}

export const dpo: Exporter = (data, opts) => pairs(data, opts, false);
export const dpoStep: Exporter = (data, opts) => pairs(data, opts, true);

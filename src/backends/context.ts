/**
 * @module backends/context
 * Turns the controller's ContextItem[] into a provider-neutral conversation that each backend
 * maps to its wire format: the task and instructions become user messages, consecutive steps
 * of one model turn become one assistant message, and the results of that turn's tool calls
 * follow it in order. Steps without a tool call (thinking, message) only add to the assistant
 * message; a bad_tool_call error step answers its call with an error result.
 */
import type { ContextItem, Step, ToolCall } from '../steps/types.js';

export type AssistantBlock =
  | { type: 'thinking'; content: string; signature?: string; redacted?: string }
  | { type: 'text'; text: string }
  | { type: 'tool_call'; call: ToolCall };

export interface ToolResult {
  call_id: string;
  name: string;
  content: string;
  is_error: boolean;
}

export type NeutralMessage =
  /** Adjacent user texts (task, instructions) arrive as one message with several parts. */
  | { role: 'user'; parts: string[] }
  | { role: 'assistant'; blocks: AssistantBlock[] }
  | { role: 'tool'; results: ToolResult[] };

/** Said to the model for a call that has no recorded result (the session stopped mid-call). */
export const MISSING_RESULT = 'The tool call was not executed: the session was interrupted before it ran.';

function blockOf(step: Step): AssistantBlock | null {
  const p = step.payload;
  if (step.tool_call) return { type: 'tool_call', call: step.tool_call };
  // A retried attempt's output was superseded by the attempt that followed it.
  if ((p.type === 'thinking' || p.type === 'message') && p.retried !== undefined) return null;
  if (p.type === 'thinking') {
    return { type: 'thinking', content: p.content, signature: p.signature, redacted: p.redacted };
  }
  if (p.type === 'message') return { type: 'text', text: p.content };
  // Other steps without a call (a backend failure, a timeout) are not something the model said.
  return null;
}

function resultOf(step: Step): ToolResult | null {
  if (!step.tool_call) return null;
  return {
    call_id: step.tool_call.id,
    name: step.tool_call.name,
    content: step.tool_result ?? MISSING_RESULT,
    is_error: step.tool_result === null || step.tool_is_error || step.payload.type === 'error',
  };
}

export function toNeutralMessages(context: ContextItem[]): NeutralMessage[] {
  const out: NeutralMessage[] = [];
  let turn: { id: string | null; assistant: AssistantBlock[]; results: ToolResult[] } | null = null;

  const flush = () => {
    if (!turn) return;
    if (turn.assistant.length) out.push({ role: 'assistant', blocks: turn.assistant });
    if (turn.results.length) out.push({ role: 'tool', results: turn.results });
    turn = null;
  };

  for (const item of context) {
    if (item.kind === 'step') {
      const { step } = item;
      // A null turn_id never joins another step: each such step is a turn of its own.
      if (!turn || turn.id === null || turn.id !== step.turn_id) {
        flush();
        turn = { id: step.turn_id, assistant: [], results: [] };
      }
      const block = blockOf(step);
      if (block) turn.assistant.push(block);
      const result = resultOf(step);
      if (result) turn.results.push(result);
      continue;
    }
    flush();
    const last = out[out.length - 1];
    if (last?.role === 'user') last.parts.push(item.text);
    else out.push({ role: 'user', parts: [item.text] });
  }
  flush();
  return out;
}

/** Anthropic tool_use ids must match ^[a-zA-Z0-9_-]+$; ids made by other backends may not. */
export function safeToolId(id: string): string {
  const clean = id.replace(/[^a-zA-Z0-9_-]/g, '_');
  return clean === '' ? 'call' : clean;
}

/** The configured subset of tools, by name, in the order given. */
export function pickTools<T extends { name: string }>(tools: T[], names: readonly string[] | undefined): T[] {
  if (!names) return tools;
  return tools.filter((t) => names.includes(t.name));
}

/** Parses a tool call's arguments text; a malformed call becomes an error, never a throw. */
export function parseToolInput(text: string): { input: Record<string, unknown>; error?: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { input: {} };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (e) {
    return { input: {}, error: `tool arguments are not valid JSON (${(e as Error).message}): ${clip(trimmed)}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { input: {}, error: `tool arguments must be a JSON object, got: ${clip(trimmed)}` };
  }
  return { input: value as Record<string, unknown> };
}

function clip(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

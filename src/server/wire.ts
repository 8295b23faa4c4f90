/**
 * @module server/wire
 * What a browser is allowed and needs to see of the event log: `streaming.show_thinking` and
 * `show_tool_inputs` filter it, `buffer_output` coalesces streamed text. Applied the same way to
 * a replay, a live batch and the session snapshot, so a reload shows what the stream showed.
 * Large text fields of a step (a file read, a diff, a command's output, long reasoning, the
 * tool result, long tool-call inputs) go out as a preview (`cutStep`), so opening a session of
 * thousands of steps moves megabytes, not tens of them; GET /api/sessions/:id/steps/:stepId
 * sends a step whole.
 */
import type { SessionEvent } from '../session/events.js';
import type { Step } from '../steps/types.js';

export interface WireOptions {
  showThinking: boolean;
  showToolInputs: boolean;
  bufferOutput: boolean;
}

/** The full size of a text field that went out as a preview. */
export interface CutField {
  /** Lines of the whole text (a trailing newline ends the last line, it does not start one). */
  lines: number;
  chars: number;
  /** For a diff: its added and removed lines, so the diff stat stays right on a preview. */
  added?: number;
  removed?: number;
}

/**
 * A step as the browser gets it: `hidden` marks a thinking step whose content was withheld;
 * `payload_cut` marks a step some of whose text fields are previews, and `cut_fields` names
 * them (`payload.content`, `payload.diff`, `payload.output`, `tool_result`,
 * `tool_call.input.<key>`) with their full size.
 */
export type WireStep = Step & { hidden?: true; payload_cut?: true; cut_fields?: Record<string, CutField> };

/** A text longer than this many lines, or characters, goes out as its first lines. */
export const PREVIEW_LINES = 40;
export const PREVIEW_CHARS = 4096;

/** Lines of a text counted as the UI splits it (a trailing newline adds no line). */
function countLines(text: string): number {
  if (text === '') return 0;
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return text.endsWith('\n') ? n - 1 : n;
}

/** The preview of a text, or null when the text is small enough to send whole. */
function preview(text: string): string | null {
  let end = -1;
  for (let i = 0; i < PREVIEW_LINES; i++) {
    end = text.indexOf('\n', end + 1);
    if (end === -1 || end >= PREVIEW_CHARS) break;
  }
  if (end === -1 && text.length <= PREVIEW_CHARS) return null;
  // A trailing newline after the last allowed line is not a cut.
  if (end !== -1 && end === text.length - 1 && end < PREVIEW_CHARS) return null;
  if (end !== -1 && end < PREVIEW_CHARS) return text.slice(0, end);
  const lastBreak = text.lastIndexOf('\n', PREVIEW_CHARS);
  return text.slice(0, lastBreak > 0 ? lastBreak : PREVIEW_CHARS);
}

/** Added and removed lines of a unified diff, counted inside its hunks only. */
function diffStat(diff: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  let oldLeft = 0;
  let newLeft = 0;
  for (const line of diff.split('\n')) {
    if (oldLeft > 0 || newLeft > 0) {
      const mark = line[0];
      if (mark === '+') {
        added++;
        newLeft--;
      } else if (mark === '-') {
        removed++;
        oldLeft--;
      } else if (mark === ' ' || line === '') {
        oldLeft--;
        newLeft--;
      }
      continue;
    }
    const hunk = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line);
    if (hunk) {
      oldLeft = hunk[1] === undefined ? 1 : Number(hunk[1]);
      newLeft = hunk[2] === undefined ? 1 : Number(hunk[2]);
    }
  }
  return { added, removed };
}

/**
 * The step with its large text fields cut to a preview (the same step when nothing is large).
 * Exports and the engine read the store, never this.
 */
export function cutStep(step: WireStep): WireStep {
  const cut: Record<string, CutField> = {};
  const take = (name: string, text: string, isDiff = false): string => {
    const short = preview(text);
    if (short === null) return text;
    cut[name] = { lines: countLines(text), chars: text.length, ...(isDiff ? diffStat(text) : {}) };
    return short;
  };
  let payload = step.payload;
  switch (payload.type) {
    case 'thinking':
    case 'message':
    case 'file_read': {
      const content = take('payload.content', payload.content);
      if (content !== payload.content) payload = { ...payload, content };
      break;
    }
    case 'file_edit':
    case 'file_write': {
      const diff = take('payload.diff', payload.diff, true);
      if (diff !== payload.diff) payload = { ...payload, diff };
      break;
    }
    case 'bash_command': {
      const output = take('payload.output', payload.output);
      if (output !== payload.output) payload = { ...payload, output };
      break;
    }
    default:
      break;
  }
  const toolResult = step.tool_result === null ? null : take('tool_result', step.tool_result);
  let toolCall = step.tool_call;
  if (toolCall) {
    let input: Record<string, unknown> | null = null;
    for (const [key, value] of Object.entries(toolCall.input)) {
      if (typeof value !== 'string') continue;
      const short = take(`tool_call.input.${key}`, value);
      if (short !== value) {
        input ??= { ...toolCall.input };
        input[key] = short;
      }
    }
    if (input) toolCall = { ...toolCall, input };
  }
  if (Object.keys(cut).length === 0) return step;
  return { ...step, payload, tool_result: toolResult, tool_call: toolCall, payload_cut: true, cut_fields: cut };
}

/** A step as the snapshot and the socket send it: filtered, then cut to its preview. */
export function wirePreview(step: Step, opts: WireOptions): WireStep {
  return cutStep(wireStep(step, opts));
}

export type WireEvent = SessionEvent;

/** The message a socket carries. `last_seq` covers events filtered or coalesced away. */
export interface EventsMessage {
  type: 'events';
  events: WireEvent[];
  last_seq: number;
}

export function wireStep(step: Step, opts: WireOptions): WireStep {
  if (opts.showThinking || step.payload.type !== 'thinking') return step;
  return { ...step, payload: { type: 'thinking', content: '' }, hidden: true };
}

/**
 * Filter and coalesce a run of events (ascending seq). A coalesced partial carries the seq and
 * time of the last event folded into it, so seqs stay increasing.
 */
export function toWire(events: readonly SessionEvent[], opts: WireOptions): WireEvent[] {
  const out: WireEvent[] = [];
  for (const e of events) {
    if (e.type === 'partial') {
      if (e.kind === 'thinking' && !opts.showThinking) continue;
      if (e.kind === 'tool_input' && !opts.showToolInputs) continue;
      const prev = out[out.length - 1];
      if (opts.bufferOutput && prev?.type === 'partial' && prev.key === e.key && prev.kind === e.kind) {
        out[out.length - 1] = { ...prev, text: prev.text + e.text, seq: e.seq, at: e.at };
        continue;
      }
      out.push(e);
    } else if (e.type === 'step') {
      const step = wirePreview(e.step, opts);
      out.push(step === e.step ? e : { ...e, step });
    } else {
      out.push(e);
    }
  }
  return out;
}

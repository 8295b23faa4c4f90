/**
 * @module server/wire
 * What a browser is allowed and needs to see of the event log: `streaming.show_thinking` and
 * `show_tool_inputs` filter it, `buffer_output` coalesces streamed text. Applied the same way to
 * a replay, a live batch and the session snapshot, so a reload shows what the stream showed.
 */
import type { SessionEvent } from '../session/events.js';
import type { Step } from '../steps/types.js';

export interface WireOptions {
  showThinking: boolean;
  showToolInputs: boolean;
  bufferOutput: boolean;
}

/** A step as the browser gets it: `hidden` marks a thinking step whose content was withheld. */
export type WireStep = Step & { hidden?: true };

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
    } else if (e.type === 'step' && !opts.showThinking && e.step.payload.type === 'thinking') {
      out.push({ ...e, step: wireStep(e.step, opts) });
    } else {
      out.push(e);
    }
  }
  return out;
}

/**
 * @module store/event-row
 * How every store keeps an event: `seq`, `session_id` and `at` in columns of their own, the rest
 * as the body, and for a step event only the step's id (the step row is the one copy of its
 * payload; the event is put back together on read).
 */
import type { SessionEvent, SessionEventBody } from '../session/events.js';

/** What is stored of an event's body: the body itself, a step event's without its step. */
export interface EventRow {
  stored: Record<string, unknown>;
  stepId: string | null;
}

export function eventRow(body: SessionEventBody): EventRow {
  if (body.type === 'step') {
    const { step, ...rest } = body;
    return { stored: rest, stepId: step.id };
  }
  return { stored: body, stepId: null };
}

/** The body of an event read back from a store (without the fields that have columns). */
export function bodyOf(event: SessionEvent): SessionEventBody {
  const { seq: _seq, session_id: _session, at: _at, ...body } = event;
  return body as SessionEventBody;
}

/**
 * Why `events` cannot be restored into session `sessionId` whose last seq is `last`, or null: they
 * must be its own, each seq above the one before and the first above `last`.
 */
export function restoreProblem(sessionId: string, last: number, events: readonly SessionEvent[]): string | null {
  let prev = last;
  for (const e of events) {
    if (e.session_id !== sessionId) return `cannot restore an event of session ${e.session_id} into ${sessionId}`;
    if (!Number.isInteger(e.seq) || e.seq <= prev) {
      return `cannot restore event ${e.seq} of session ${sessionId} after ${prev}: seqs must rise above the session's last`;
    }
    prev = e.seq;
  }
  return null;
}

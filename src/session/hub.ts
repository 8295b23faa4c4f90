/**
 * @module session/hub
 * The EventHub: every session event is persisted (store.appendEvent assigns its seq) and only
 * then handed to listeners, so whatever a browser sees survives a crash. Streamed text
 * (thinking, tool input, terminal output) is coalesced per key for a few milliseconds so a
 * fast stream costs one row per flush, not one per token.
 */
import { errField, type Logger, silentLogger } from '../log/logger.js';
import type { Store } from '../store/types.js';
import type { SessionEvent, SessionEventBody } from './events.js';
import type { EventListener } from './types.js';

type PartialKind = Extract<SessionEventBody, { type: 'partial' }>['kind'];

interface PendingPartial {
  sessionId: string;
  key: string;
  kind: PartialKind;
  tool?: string;
  text: string;
}

export class EventHub {
  private readonly listeners = new Map<string, Set<EventListener>>();
  private readonly pending = new Map<string, PendingPartial>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    /** How long streamed text may wait to be coalesced; well under update_interval_ms. */
    private readonly coalesceMs = 20,
    private readonly log: Logger = silentLogger,
  ) {}

  emit(sessionId: string, body: SessionEventBody): SessionEvent {
    const event = this.store.appendEvent(sessionId, body);
    for (const l of this.listeners.get(sessionId) ?? []) {
      try {
        l(event);
      } catch {
        // A broken viewer must not break the agent loop.
      }
    }
    return event;
  }

  partial(sessionId: string, key: string, kind: PartialKind, text: string, tool?: string): void {
    const id = `${sessionId}\0${key}\0${kind}`;
    const p = this.pending.get(id);
    if (p) p.text += text;
    else this.pending.set(id, { sessionId, key, kind, tool, text });
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.coalesceMs);
  }

  /** Flush buffered text, all of it or one step's (before that step's final event). */
  flush(sessionId?: string, key?: string): void {
    for (const [id, p] of this.pending) {
      if (sessionId && p.sessionId !== sessionId) continue;
      if (key && p.key !== key) continue;
      this.pending.delete(id);
      const body: SessionEventBody = { type: 'partial', key: p.key, kind: p.kind, text: p.text };
      if (p.tool) body.tool = p.tool;
      try {
        this.emit(p.sessionId, body);
      } catch (err) {
        // Runs from a timer, where a throw would end the process. Streamed text is a preview of a
        // step; the step itself is written (or its failure handled) by the session's loop.
        this.log.error(
          { session: p.sessionId, err: errField(err) },
          `streamed text of ${p.key} could not be stored (${p.text.length} chars dropped)`,
        );
      }
    }
  }

  subscribe(sessionId: string, listener: EventListener): () => void {
    let set = this.listeners.get(sessionId);
    if (!set) {
      set = new Set();
      this.listeners.set(sessionId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(sessionId);
    };
  }
}

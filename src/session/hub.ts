/**
 * @module session/hub
 * The EventHub: every session event is persisted (store.appendEvents assigns its seq) and only
 * then handed to listeners, so whatever a browser sees survives a crash. A change that writes
 * rows too (an annotation, a label) commits them with its events in one transaction (`record`),
 * on the same per-session queue, so this is the one path from a change to a viewer. Streamed text
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

/** Emits of one session stored in one commit, in emit order; each caller gets its own event. */
interface Batch {
  bodies: SessionEventBody[];
  written: Promise<SessionEvent[]>;
}

export class EventHub {
  private readonly listeners = new Map<string, Set<EventListener>>();
  private readonly pending = new Map<string, PendingPartial>();
  /** The last write of each session, so the next one is stored after it. */
  private readonly tails = new Map<string, Promise<void>>();
  /** Each session's emits waiting for the write before them: they are stored together, in one commit. */
  private readonly open = new Map<string, Batch>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    /** How long streamed text may wait to be coalesced; well under update_interval_ms. */
    private readonly coalesceMs = 20,
    private readonly log: Logger = silentLogger,
  ) {}

  /**
   * Persist an event, then hand it to the session's listeners. Events of one session are stored
   * and delivered in the order emit was called, even when callers do not wait for each other.
   * Those emitted while the session's previous write is still committing are stored together in
   * the next commit: a burst (a turn's status, text, step and usage) costs one or two commits, not
   * one each, and reaches another replica's viewers at once rather than spread over its commits.
   */
  emit(sessionId: string, body: SessionEventBody): Promise<SessionEvent> {
    let batch = this.open.get(sessionId);
    if (!batch) {
      const opened: Batch = { bodies: [], written: Promise.resolve([]) };
      opened.written = this.inOrder(sessionId, async () => {
        // Writing starts: later emits open the next batch.
        if (this.open.get(sessionId) === opened) this.open.delete(sessionId);
        const events = await this.store.appendEvents(sessionId, opened.bodies);
        for (const e of events) this.deliver(sessionId, e);
        return events;
      });
      this.open.set(sessionId, opened);
      batch = opened;
    }
    const i = batch.bodies.push(body) - 1;
    return batch.written.then((events) => events[i]!);
  }

  /**
   * A change that is rows and events at once (an annotation, a label): `write` writes its rows
   * through `tx` and returns its result with the bodies of its events; the hub appends those in
   * the same transaction, so rows and events commit together or not at all, and hands them to
   * the listeners after the commit. Ordered with the session's emits, like emit.
   */
  record<T>(sessionId: string, write: (tx: Store) => Promise<{ result: T; events: SessionEventBody[] }>): Promise<T> {
    // Emits after this one go after it, not into a batch queued before it.
    this.open.delete(sessionId);
    return this.inOrder(sessionId, async () => {
      const { result, events } = await this.store.transaction(async (tx) => {
        const written = await write(tx);
        const appended: SessionEvent[] = [];
        for (const body of written.events) appended.push(await tx.appendEvent(sessionId, body));
        return { result: written.result, events: appended };
      });
      for (const e of events) this.deliver(sessionId, e);
      return result;
    });
  }

  /** Run `job` after every earlier one of the session has settled; the caller sees its own failure. */
  private inOrder<T>(sessionId: string, job: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(sessionId);
    const next = (prev ?? Promise.resolve()).then(job, job);
    // The chain holds only the order; each caller sees its own event's failure.
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(sessionId, tail);
    void tail.then(() => {
      if (this.tails.get(sessionId) === tail) this.tails.delete(sessionId);
    });
    return next;
  }

  private deliver(sessionId: string, event: SessionEvent): void {
    for (const l of this.listeners.get(sessionId) ?? []) {
      try {
        l(event);
      } catch {
        // A broken viewer must not break the agent loop.
      }
    }
  }

  /** Resolves when every event emitted so far for the session is stored and delivered. */
  async settled(sessionId: string): Promise<void> {
    await this.tails.get(sessionId);
  }

  partial(sessionId: string, key: string, kind: PartialKind, text: string, tool?: string): void {
    const id = `${sessionId}\0${key}\0${kind}`;
    const p = this.pending.get(id);
    if (p) p.text += text;
    else this.pending.set(id, { sessionId, key, kind, tool, text });
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.coalesceMs);
  }

  /**
   * Flush buffered text, all of it or one step's (before that step's final event). The text is
   * queued ahead of any event emitted after this call; the promise resolves when it is stored.
   */
  flush(sessionId?: string, key?: string): Promise<void> {
    const writes: Promise<unknown>[] = [];
    for (const [id, p] of this.pending) {
      if (sessionId && p.sessionId !== sessionId) continue;
      if (key && p.key !== key) continue;
      this.pending.delete(id);
      const body: SessionEventBody = { type: 'partial', key: p.key, kind: p.kind, text: p.text };
      if (p.tool) body.tool = p.tool;
      writes.push(
        this.emit(p.sessionId, body).catch((err: unknown) => {
          // Often runs from a timer, where a rejection would end the process. Streamed text is a
          // preview of a step; the step itself is written (or its failure handled) by the loop.
          this.log.error(
            { session: p.sessionId, err: errField(err) },
            `streamed text of ${p.key} could not be stored (${p.text.length} chars dropped)`,
          );
        }),
      );
    }
    return Promise.all(writes).then(() => undefined);
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

/**
 * @module server/live
 * The live stream: one channel per watched session, fed by manager.subscribe (events arrive
 * already persisted, with their seq: the agent's, and the annotations and labels the engine
 * records for the server's routes).
 * A channel batches what arrives and sends each batch, serialised once, to every socket
 * watching the session, at most once per `streaming.update_interval_ms`.
 *
 * No gap, no duplicate: a socket is on its session's channel from the start, but the channel
 * sends it nothing while it replays: it reads the store page by page after its `after` seq until
 * it has everything up to what the channel has already sent, and only then goes live. Every event
 * reaches the store before any listener, so whatever a replaying socket has not read yet is in
 * the store, and whatever the channel sends after that is newer. Each socket remembers the last
 * seq it was sent and skips anything at or below it. A channel that receives an event out of
 * order (a seq beyond the next one) fills the hole from the store before queueing it.
 *
 * Back-pressure, without ever cutting a viewer for being slow: a replay page is bounded by bytes
 * (`replayPageBytes`) and the next is read only once the previous one has reached the socket. A
 * live socket whose unsent bytes pass `maxBufferedBytes` leaves the channel; once it has drained
 * it replays from the store from its last seq and joins again. So a viewer holds at most about
 * one page and one batch in memory, and one that fell behind catches up while the session runs.
 * A socket that never drains is found by the server's ping (server.ts).
 *
 * Replicas: the manager delivers only the sessions this process runs. On a store several
 * processes share, the server also watches every append (Store.watchEvents, LISTEN/NOTIFY on
 * PostgreSQL) and a channel that has not seen the seq catches up from the store, the same
 * read that fills a hole; so a viewer on any replica gets the same events in the same order.
 */
import type { WebSocket } from 'ws';
import type { SessionEvent } from '../session/events.js';
import type { SessionManager } from '../session/types.js';
import type { Store } from '../store/types.js';
import { type EventsMessage, toWire, type WireOptions } from './wire.js';

export interface LiveOptions extends WireOptions {
  intervalMs: number;
  /** Unsent bytes a socket may hold before it is dropped (default 8 MiB). */
  maxBufferedBytes?: number;
  /** Events per replay message at most (default 200). */
  replayPageSize?: number;
  /** Bytes per replay message, about (default 1 MiB; one larger event still goes alone). */
  replayPageBytes?: number;
}

interface Viewer {
  ws: WebSocket;
  /** Highest seq this socket has been sent (or skipped past by a filter). */
  lastSent: number;
  closed: boolean;
  /** False while it replays from the store: the channel's batches skip it. */
  live: boolean;
}

function encode(events: readonly SessionEvent[], opts: WireOptions, lastSeq: number): Buffer {
  const msg: EventsMessage = { type: 'events', events: toWire(events, opts), last_seq: lastSeq };
  return Buffer.from(JSON.stringify(msg));
}

class Channel {
  readonly viewers = new Set<Viewer>();
  /** Highest seq queued or sent by this channel. */
  lastSeq: number;
  /** Highest seq this channel has sent to its live sockets. */
  sentSeq: number;
  private catching: Promise<void> | null = null;
  private catchAgain = false;
  private pending: SessionEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastFlush = 0;
  private unsubscribe: () => void;

  constructor(
    readonly sessionId: string,
    startSeq: number,
    private readonly live: LiveHub,
  ) {
    this.lastSeq = startSeq;
    this.sentSeq = startSeq;
    this.unsubscribe = this.subscribe();
  }

  private subscribe(): () => void {
    return this.live.manager.subscribe(this.sessionId, (e) => this.receive(e));
  }

  /** A manager may only deliver to listeners of a running session: subscribe again after a (re)start. */
  resubscribe(): void {
    this.unsubscribe();
    this.unsubscribe = this.subscribe();
    this.catchUp();
  }

  receive(e: SessionEvent): void {
    if (e.seq <= this.lastSeq) return;
    if (e.seq === this.lastSeq + 1) {
      this.pending.push(e);
      this.lastSeq = e.seq;
    } else {
      this.catchUp();
    }
    this.schedule();
  }

  /** Queue whatever the store holds beyond what this channel has seen (one read at a time). */
  catchUp(): void {
    if (this.catching !== null) {
      this.catchAgain = true;
      return;
    }
    this.catching = (async () => {
      do {
        this.catchAgain = false;
        const missed = await this.live.store.eventsAfter(this.sessionId, this.lastSeq);
        // receive() may have queued some of them meanwhile: only what is still newer.
        const fresh = missed.filter((e) => e.seq > this.lastSeq);
        if (fresh.length > 0) {
          this.pending.push(...fresh);
          this.lastSeq = fresh[fresh.length - 1]!.seq;
          this.schedule();
        }
      } while (this.catchAgain);
    })()
      .catch((err: unknown) => {
        // The store could not be read: these sockets would miss events. Closing them makes their
        // clients reconnect and replay from their last seq.
        for (const v of this.viewers) v.ws.close(1011, 'the event log could not be read; reconnect');
        this.live.onError(err);
      })
      .finally(() => {
        this.catching = null;
      });
  }

  private schedule(): void {
    if (this.timer || this.pending.length === 0) return;
    // One message per interval, except that no event waits here past an interval after it was
    // made: one read from another replica (the owner's commit, its notification, this read) has
    // spent part of its interval already, and its viewers should not wait a whole interval more.
    const due = Math.min(this.lastFlush, this.pending[0]!.at) + this.live.opts.intervalMs;
    const wait = Math.max(0, due - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush(): void {
    this.timer = null;
    this.lastFlush = Date.now();
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const first = batch[0]!.seq;
    const last = batch[batch.length - 1]!.seq;
    let shared: Buffer | undefined;
    this.sentSeq = last;
    for (const v of this.viewers) {
      if (!v.live || v.lastSent >= last) continue;
      let data: Buffer;
      if (v.lastSent < first) {
        shared ??= encode(batch, this.live.opts, last);
        data = shared;
      } else {
        // Joined mid-batch: its replay already covered the start of this batch.
        data = encode(
          batch.filter((e) => e.seq > v.lastSent),
          this.live.opts,
          last,
        );
      }
      v.lastSent = last;
      v.ws.send(data, { binary: false });
      if (v.ws.bufferedAmount > this.live.maxBufferedBytes) this.live.fallBehind(v, this);
    }
  }

  close(): void {
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
  }
}

export class LiveHub {
  private readonly channels = new Map<string, Channel>();
  readonly maxBufferedBytes: number;
  private readonly pageSize: number;
  private readonly pageBytes: number;
  /** Times a live socket fell too far behind and went back to replaying, for the log and the tests. */
  fellBehind = 0;

  constructor(
    readonly store: Store,
    readonly manager: SessionManager,
    readonly opts: LiveOptions,
    /** Where a failed read of the event log is reported (the server's logger). */
    readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.pageSize = opts.replayPageSize ?? 200;
    this.pageBytes = opts.replayPageBytes ?? 1024 * 1024;
  }

  /** Replay everything after `after` to the socket, then keep it live until it closes. */
  async attach(ws: WebSocket, sessionId: string, after: number): Promise<void> {
    const viewer: Viewer = { ws, lastSent: after, closed: false, live: false };
    ws.on('close', () => {
      viewer.closed = true;
      this.detach(viewer, sessionId);
    });
    ws.on('error', () => ws.terminate());
    await this.replay(viewer, sessionId);
  }

  /**
   * Send from the store, one byte-bounded page at a time, each after the last reached the socket,
   * until the socket has everything the channel already sent; then it takes the channel's batches.
   */
  private async replay(viewer: Viewer, sessionId: string): Promise<void> {
    viewer.live = false;
    const ch = await this.join(viewer, sessionId);
    for (;;) {
      if (viewer.closed || !ch) return;
      const { events, last } = await this.page(sessionId, viewer.lastSent);
      if (viewer.closed) return;
      if (events.length > 0) {
        viewer.lastSent = events[events.length - 1]!.seq;
        await new Promise<void>((resolve) =>
          viewer.ws.send(encode(events, this.opts, viewer.lastSent), { binary: false }, () => resolve()),
        );
      }
      // Checked in the same turn as going live: whatever the channel sends next is newer.
      if (last && viewer.lastSent >= ch.sentSeq) {
        viewer.live = true;
        return;
      }
    }
  }

  /** The next replay page after `after`: at most pageSize events and about pageBytes. */
  private async page(sessionId: string, after: number): Promise<{ events: SessionEvent[]; last: boolean }> {
    const rows = await this.store.eventsAfter(sessionId, after, this.pageSize);
    let bytes = 0;
    let n = 0;
    while (n < rows.length && (n === 0 || bytes < this.pageBytes)) {
      const e = rows[n]!;
      bytes += e.type === 'partial' ? e.text.length + 200 : JSON.stringify(e).length;
      n++;
    }
    return { events: rows.slice(0, n), last: n === rows.length && rows.length < this.pageSize };
  }

  /** Put the (not yet live) viewer on its session's channel, made when it is the first. */
  private async join(viewer: Viewer, sessionId: string): Promise<Channel | null> {
    let ch = this.channels.get(sessionId);
    if (!ch) {
      // The channel starts where the store is, not where a viewer asked to start.
      const start = await this.store.lastSeq(sessionId);
      if (viewer.closed) return null;
      ch = this.channels.get(sessionId);
      if (!ch) {
        ch = new Channel(sessionId, start, this);
        this.channels.set(sessionId, ch);
      }
    }
    ch.viewers.add(viewer);
    return ch;
  }

  private detach(viewer: Viewer, sessionId: string): void {
    const ch = this.channels.get(sessionId);
    if (!ch?.viewers.delete(viewer)) return;
    if (ch.viewers.size === 0) {
      ch.close();
      this.channels.delete(sessionId);
    }
  }

  /**
   * A live socket with too much unsent: the channel stops sending to it, and once the socket has
   * drained it replays from the store after its last seq and goes live again.
   */
  fallBehind(viewer: Viewer, ch: Channel): void {
    this.fellBehind++;
    viewer.live = false;
    const resume = () => {
      if (viewer.closed) return;
      if (viewer.ws.bufferedAmount > this.maxBufferedBytes / 4) {
        setTimeout(resume, 50).unref();
        return;
      }
      // A replay that fails leaves the viewer behind for good: cut it, so its client reconnects.
      this.replay(viewer, ch.sessionId).catch((err: unknown) => {
        this.onError(err);
        viewer.ws.terminate();
      });
    };
    setTimeout(resume, 50).unref();
  }

  /**
   * An event was appended somewhere, maybe by another replica (Store.watchEvents): a channel of
   * that session that has not seen it reads the store from where it is.
   */
  appended(sessionId: string, seq: number): void {
    const ch = this.channels.get(sessionId);
    if (ch && seq > ch.lastSeq) ch.catchUp();
  }

  /** Events may have been appended unseen (the watch broke): every channel reads the store. */
  catchUpAll(): void {
    for (const ch of this.channels.values()) ch.catchUp();
  }

  /** After a session (re)starts in this process, make sure its viewers are listening to it. */
  resubscribe(sessionId: string): void {
    this.channels.get(sessionId)?.resubscribe();
  }

  /** Sockets that take a session's live batches (not those replaying or drained off after falling behind). */
  viewerCount(sessionId?: string): number {
    const live = (ch: Channel | undefined) => [...(ch?.viewers ?? [])].filter((v) => v.live).length;
    if (sessionId) return live(this.channels.get(sessionId));
    let n = 0;
    for (const ch of this.channels.values()) n += live(ch);
    return n;
  }

  /** Close every socket (server shutdown). */
  closeAll(code = 1001, reason = 'server shutting down'): void {
    for (const ch of this.channels.values()) {
      ch.flush();
      for (const v of ch.viewers) v.ws.close(code, reason);
      ch.close();
    }
    this.channels.clear();
  }
}

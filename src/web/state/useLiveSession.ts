/**
 * @module web/state/useLiveSession
 * Loads a session's whole tree, then follows its live events over a WebSocket. On a dropped
 * connection it reconnects with backoff, asking for everything after the last seq applied,
 * so nothing is missed and nothing is applied twice. A socket closed because the login ended
 * does not reconnect: the app shows the login page.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, api, eventsUrl, LOGIN_ENDED_CLOSE_CODE, loginEnded } from '../api/client.ts';
import type { SessionEvent } from '../api/types.ts';
import { applyEvents, fromSnapshot, type SessionState } from './session.ts';

export type Connection = 'connecting' | 'live' | 'reconnecting';

export interface LiveSession {
  state: SessionState | null;
  error: string | null;
  connection: Connection;
  /** Apply events produced locally (e.g. the answer to a PUT) through the same reducer path. */
  reload: () => void;
}

export function useLiveSession(id: string): LiveSession {
  const [state, setState] = useState<SessionState | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [connection, setConnection] = useState<Connection>('connecting');
  const [generation, setGeneration] = useState(0);
  const lastSeq = useRef(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `generation` forces a full reload
  useEffect(() => {
    let cancelled = false;
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    // Events that arrive while React has not yet rendered are folded in one update.
    let queue: SessionEvent[] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const batch = queue;
      queue = [];
      setState((prev) => (prev ? applyEvents(prev, batch) : prev));
    };

    const connect = () => {
      if (cancelled) return;
      const ws = new WebSocket(eventsUrl(id, lastSeq.current));
      socket = ws;
      ws.onopen = () => {
        attempt = 0;
        setConnection('live');
      };
      ws.onmessage = (msg) => {
        let data: { type?: string; events?: SessionEvent[] };
        try {
          data = JSON.parse(String(msg.data));
        } catch {
          // The server sends only JSON: anything else is not an event to show.
          return;
        }
        if (data.type !== 'events' || !Array.isArray(data.events)) return;
        for (const e of data.events) {
          if (e.seq > lastSeq.current) {
            lastSeq.current = e.seq;
            queue.push(e);
          }
        }
        if (!frame && queue.length) frame = requestAnimationFrame(flush);
      };
      ws.onclose = (ev) => {
        if (cancelled) return;
        if (ev.code === LOGIN_ENDED_CLOSE_CODE) {
          loginEnded();
          return;
        }
        setConnection('reconnecting');
        const delay = Math.min(10_000, 300 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
        attempt++;
        timer = setTimeout(connect, delay);
      };
    };

    setConnection('connecting');
    api
      .session(id)
      .then((snap) => {
        if (cancelled) return;
        lastSeq.current = snap.last_seq;
        setState(fromSnapshot(snap));
        setError(null);
        connect();
      })
      .catch((e: unknown) => {
        if (cancelled) return;
        setError(e instanceof ApiError ? e.message : String(e));
      });

    return () => {
      cancelled = true;
      clearTimeout(timer);
      if (frame) cancelAnimationFrame(frame);
      socket?.close();
    };
  }, [id, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { state, error, connection, reload };
}

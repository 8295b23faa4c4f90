/**
 * @module web/state/useApprovals
 * The tool calls waiting for the annotator (claude_agent_sdk, permission_mode ask). The list
 * is fetched, not pushed: on load (a call may already be waiting) and whenever a status event
 * changes while a call waits or was waiting, so an answer given in another window, a stop or
 * a rollback clears it here too.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { AgentActivity } from '../../session/events.ts';
import { ApiError, api } from '../api/client.ts';
import type { PendingApproval, SessionStatus } from '../api/types.ts';
import { isEnded } from './session.ts';

export interface Approvals {
  pending: PendingApproval[];
  /** Why the list could not be fetched (shown in the panel, with a retry). */
  error: string | null;
  refresh: () => void;
  /** Take an answered call off the list at once, then ask the server what still waits. */
  answered: (callId: string) => void;
}

export function useApprovals(
  id: string,
  live: { status: SessionStatus; activity: AgentActivity; message: string | null; asks: number },
  /** The server runs claude_agent_sdk: only then can calls wait on load. */
  enabled: boolean,
): Approvals {
  const [pending, setPending] = useState<PendingApproval[]>([]);
  const [error, setError] = useState<string | null>(null);
  const request = useRef(0);
  const loaded = useRef(false);
  const holding = useRef(false);
  holding.current = pending.length > 0;

  const refresh = useCallback(() => {
    const n = ++request.current;
    api.approvals(id).then(
      (list) => {
        loaded.current = true;
        if (n !== request.current) return;
        setPending(list);
        setError(null);
      },
      (e: unknown) => {
        loaded.current = true;
        if (n !== request.current) return;
        // Not running in this server process, or not an SDK session: nothing can be waiting.
        if (e instanceof ApiError && (e.status === 404 || e.status === 409)) {
          setPending([]);
          setError(null);
        } else setError(`Could not load the tool calls waiting for approval: ${(e as Error).message}`);
      },
    );
  }, [id]);

  const ended = isEnded(live.status);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new status (or its message) is the trigger
  useEffect(() => {
    if (ended) {
      request.current++;
      setPending([]);
      setError(null);
      return;
    }
    if (live.activity === 'waiting_approval' || holding.current || (enabled && !loaded.current)) refresh();
  }, [ended, live.status, live.activity, live.message, enabled, refresh]);

  // A call announced as waiting, even if a later status of the same batch replaced the announcement.
  // biome-ignore lint/correctness/useExhaustiveDependencies: each new announcement is the trigger
  useEffect(() => {
    if (live.asks > 0 && !ended) refresh();
  }, [live.asks]);

  const answered = useCallback(
    (callId: string) => {
      setPending((l) => l.filter((p) => p.call_id !== callId));
      refresh();
    },
    [refresh],
  );

  return { pending, error, refresh, answered };
}

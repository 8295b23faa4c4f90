/**
 * @module web/components/ProgressHeader
 * Step number, ticking elapsed time, what the agent is doing, token totals, connection state.
 */
import { useEffect, useState } from 'react';
import { inputTotal } from '../../steps/types.ts';
import type { SessionStatus } from '../api/types.ts';
import { formatDuration, formatTokens, statusText, usageTitle } from '../lib/format.ts';
import { isEnded, type SessionState } from '../state/session.ts';
import type { Connection } from '../state/useLiveSession.ts';
import { StatusBadge } from './StatusBadge.tsx';

/**
 * The agent's running time, and apart from it the time it was paused and the time it was idle
 * (not started yet, or ended until a rollback or Continue started it again), from the statuses
 * the session took. `now` is null for an ended session: its time stops where it ended.
 */
export function agentTime(state: SessionState, now: number | null): { running: number; paused: number; idle: number } {
  const changes = state.statusChanges;
  if (changes.length === 0) return { ...fromInterventions(state, now), idle: 0 };
  // An ended session stops at its last status, or its last step if that came later (no end event after a crash).
  const end = now ?? Math.max(changes.at(-1)!.at, lastStepEnd(state));
  const spent = { running: 0, paused: 0, idle: 0 };
  let status: SessionStatus = 'created';
  let since = state.session.created_at;
  const until = (at: number) => {
    const to = Math.min(at, end);
    if (to <= since) return;
    spent[status === 'running' ? 'running' : status === 'paused' ? 'paused' : 'idle'] += to - since;
    since = to;
  };
  for (const c of changes) {
    until(c.at);
    status = c.status;
  }
  until(end);
  return spent;
}

function lastStepEnd(state: SessionState): number {
  let end = state.session.created_at;
  for (const s of state.steps.values()) end = Math.max(end, s.ended_at);
  return end;
}

/** A session with no status events (written straight to the store): start to now or its last step, less pause → resume. */
function fromInterventions(state: SessionState, now: number | null): { running: number; paused: number } {
  const start = state.session.created_at;
  const end = now !== null ? Math.max(now, start) : lastStepEnd(state);
  let paused = 0;
  let since: number | null = null;
  for (const i of [...state.interventions].sort((a, b) => a.created_at - b.created_at)) {
    if (i.type === 'pause' && since === null) since = i.created_at;
    else if (i.type === 'resume' && since !== null) {
      paused += i.created_at - since;
      since = null;
    }
  }
  if (since !== null) paused += Math.max(0, end - since);
  return { running: Math.max(0, end - start - paused), paused };
}

export function ProgressHeader({
  state,
  stepNumber,
  connection,
}: {
  state: SessionState;
  stepNumber: number | null;
  connection: Connection;
}) {
  const { session } = state;
  const ended = isEnded(session.status);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (ended) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [ended]);
  const time = agentTime(state, ended ? null : now);
  const text = statusText(session, state.activity, state.statusMessage);
  return (
    <header className={`progress-header progress-${session.status}`} data-testid="progress-header">
      <div className="progress-task" title={session.task} data-testid="session-task">
        {session.task}
      </div>
      <div className="progress-stats">
        <StatusBadge status={session.status} />
        <span className="progress-status" data-testid="status-text">
          {session.status === 'running' && <span className="live-dot" aria-hidden="true" />}
          {text}
        </span>
        <span className="stat">
          <span className="stat-label">Step</span>
          <span data-testid="step-counter">{stepNumber ?? '–'}</span>
        </span>
        <span className="stat" title="Time the agent was running; paused and idle time are counted apart">
          <span className="stat-label">Elapsed</span>
          <span data-testid="elapsed">{formatDuration(time.running)}</span>
          {time.paused >= 1000 && (
            <span className="muted small" data-testid="elapsed-paused">
              {' '}
              · paused {formatDuration(time.paused)}
            </span>
          )}
          {time.idle >= 1000 && (
            <span
              className="muted small"
              data-testid="elapsed-idle"
              title="Not running: before it started, or ended until a rollback or Continue"
            >
              {' '}
              · idle {formatDuration(time.idle)}
            </span>
          )}
        </span>
        <span className="stat" title={`Whole session. ${usageTitle(state.usage)}`}>
          <span className="stat-label">Tokens</span>
          <span data-testid="token-total">
            {formatTokens(inputTotal(state.usage))} in · {formatTokens(state.usage.output_tokens)} out
          </span>
        </span>
        {connection !== 'live' && !ended && (
          <span className="reconnecting" data-testid="reconnecting">
            {connection === 'connecting' ? 'connecting…' : 'reconnecting…'}
          </span>
        )}
      </div>
    </header>
  );
}

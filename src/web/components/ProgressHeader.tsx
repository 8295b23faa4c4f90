/**
 * @module web/components/ProgressHeader
 * Step number, ticking elapsed time, what the agent is doing, token totals, connection state.
 */
import { useEffect, useState } from 'react';
import { inputTotal } from '../../steps/types.ts';
import { formatDuration, formatTokens, statusText, usageTitle } from '../lib/format.ts';
import { isEnded, type SessionState } from '../state/session.ts';
import type { Connection } from '../state/useLiveSession.ts';
import { StatusBadge } from './StatusBadge.tsx';

/**
 * The agent's running time: from the start to now (a live session) or to its last step (an
 * ended one, so time spent reading it afterwards does not count), less the paused spans
 * (from each pause to the resume after it).
 */
export function agentTime(state: SessionState, now: number | null): { running: number; paused: number } {
  const start = state.session.created_at;
  let end = start;
  if (now !== null) end = Math.max(now, start);
  else for (const s of state.steps.values()) end = Math.max(end, s.ended_at);
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

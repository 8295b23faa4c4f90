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
  const elapsed = (ended ? session.updated_at : Math.max(now, session.updated_at)) - session.created_at;
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
        <span className="stat">
          <span className="stat-label">Elapsed</span>
          <span data-testid="elapsed">{formatDuration(elapsed)}</span>
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

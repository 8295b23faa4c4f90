/**
 * @module web/components/ProgressHeader.test
 * Elapsed is the time the agent ran: paused time and idle time (before it started, and ended
 * until a rollback started it again) are counted apart, from the statuses the session took.
 */
import { describe, expect, it } from 'vitest';
import type { SessionStatus } from '../api/types.ts';
import { applyEvents, fromSnapshot } from '../state/session.ts';
import { agentTime } from './ProgressHeader.tsx';

const MIN = 60_000;

function state(changes: [number, SessionStatus][]) {
  return fromSnapshot({
    session: {
      id: 's1',
      task: 't',
      annotator: 'a',
      backend: 'scripted',
      backend_settings: {},
      status: changes.at(-1)?.[1] ?? 'created',
      end_reason: null,
      workspace: '/w',
      base_commit: null,
      current_branch_id: null,
      usage: { input_tokens: 0, output_tokens: 0 },
      created_at: 0,
      updated_at: 0,
    },
    steps: [],
    branches: [],
    interventions: [],
    annotations: [],
    labels: [],
    status_changes: changes.map(([at, status]) => ({ at, status })),
    last_seq: changes.length,
  });
}

describe('agentTime', () => {
  it('counts a 3-minute run read for a quarter of an hour and forked as 4 minutes, not 19', () => {
    const s = state([
      [1000, 'running'],
      [1000 + MIN, 'paused'],
      [1000 + 2 * MIN, 'running'],
      [1000 + 3 * MIN, 'finished'],
      // Read for 15 minutes, then a branch from an earlier step starts it again for a minute.
      [1000 + 18 * MIN, 'running'],
      [1000 + 19 * MIN, 'finished'],
    ]);
    expect(agentTime(s, null)).toEqual({ running: 3 * MIN, paused: MIN, idle: 1000 + 15 * MIN });
  });

  it('runs on to now while live, and follows the statuses the socket brings', () => {
    let s = state([[1000, 'running']]);
    expect(agentTime(s, 1000 + 5 * MIN)).toEqual({ running: 5 * MIN, paused: 0, idle: 1000 });
    s = applyEvents(s, [
      { type: 'session', session: { ...s.session, status: 'paused' }, seq: 2, session_id: 's1', at: 1000 + 5 * MIN },
    ]);
    expect(agentTime(s, 1000 + 7 * MIN)).toEqual({ running: 5 * MIN, paused: 2 * MIN, idle: 1000 });
  });
});

/**
 * @module web/state/session.test
 * The browser's reducer: events apply once in seq order, partials are replaced by their step,
 * a rollback's head event rewinds the path.
 */
import { describe, expect, it } from 'vitest';
import type { SessionEvent, SessionEventBody } from '../../session/events.ts';
import type { Step } from '../../steps/types.ts';
import type { SessionRecord } from '../../store/types.ts';
import { traceItems } from '../trace/TraceList.tsx';
import { applyEvents, fromSnapshot, pathTo } from './session.ts';

const session: SessionRecord = {
  id: 's1',
  task: 't',
  annotator: 'a',
  backend: 'scripted',
  backend_settings: {},
  status: 'running',
  end_reason: null,
  workspace: '/w',
  base_commit: null,
  current_branch_id: 'bA',
  usage: { input_tokens: 0, output_tokens: 0 },
  created_at: 1,
  updated_at: 1,
};

function step(id: string, parent: string | null, idx: number): Step {
  return {
    id,
    session_id: 's1',
    parent_id: parent,
    step_idx: idx,
    type: 'message',
    payload: { type: 'message', content: id },
    author: 'agent',
    turn_id: null,
    tool_call: null,
    tool_result: null,
    tool_is_error: false,
    checkpoint: null,
    changed_files: false,
    usage: null,
    started_at: 1,
    ended_at: 1,
  };
}

let seq = 0;
const ev = (body: SessionEventBody): SessionEvent => ({ ...body, seq: ++seq, session_id: 's1', at: 1 });

function start() {
  seq = 0;
  return fromSnapshot({
    session,
    steps: [],
    branches: [
      {
        id: 'bA',
        session_id: 's1',
        name: 'branch-A',
        fork_step_id: null,
        parent_branch_id: null,
        reason: null,
        head_step_id: null,
        git_ref: 'r',
        created_at: 1,
      },
    ],
    interventions: [],
    annotations: [],
    labels: [],
    status_changes: [],
    last_seq: 0,
  });
}

describe('session reducer', () => {
  it('moves an instruction marker to where the agent received it when the engine places it again', () => {
    let s = start();
    const given = {
      id: 'i1',
      session_id: 's1',
      branch_id: 'bA',
      type: 'instruction' as const,
      after_step_id: 'a',
      after_step: 0,
      content: 'use a regex',
      annotator: 'a',
      created_at: 1,
      followed_by: null,
    };
    s = applyEvents(s, [
      ev({ type: 'step', step: step('a', null, 0) }),
      ev({ type: 'intervention', intervention: given }),
      ev({ type: 'step', step: step('b', 'a', 1) }),
      ev({ type: 'intervention', intervention: { ...given, after_step_id: 'b', after_step: 1 } }),
    ]);
    expect(s.interventions).toHaveLength(1);
    const order = traceItems(pathTo(s.steps, s.heads.get('bA') ?? null), s.interventions, []).map((i) => i.key);
    expect(order).toEqual(['s:a', 's:b', 'i:i1']);
  });

  it('follows the live branch as steps arrive and ignores replayed events', () => {
    const s0 = start();
    const batch = [ev({ type: 'step', step: step('a', null, 0) }), ev({ type: 'step', step: step('b', 'a', 1) })];
    const s1 = applyEvents(s0, batch);
    expect(pathTo(s1.steps, s1.heads.get('bA') ?? null).map((s) => s.id)).toEqual(['a', 'b']);
    // A reconnect that overlaps sends the same seqs again: nothing changes.
    expect(applyEvents(s1, batch)).toBe(s1);
    expect(s1.lastSeq).toBe(2);
  });

  it('streams a partial in place and drops it when its step arrives', () => {
    let s = start();
    s = applyEvents(s, [
      ev({ type: 'partial', key: 'k', kind: 'tool_input', text: '{"command":', tool: 'bash_command' }),
      ev({ type: 'partial', key: 'k', kind: 'tool_input', text: '"ls"}' }),
      ev({ type: 'partial', key: 'k', kind: 'output', text: 'a.py\n', tool: 'bash_command' }),
      ev({ type: 'partial', key: 'k', kind: 'output', text: 'b.py\n' }),
    ]);
    const p = s.partials.get('k');
    expect(p?.text).toBe('a.py\nb.py\n');
    expect(p?.input).toBe('{"command":"ls"}');
    s = applyEvents(s, [ev({ type: 'step', step: step('a', null, 0), partial_key: 'k' })]);
    expect(s.partials.size).toBe(0);
    expect(s.steps.has('a')).toBe(true);
  });

  it('rewinds the path on a head event and follows the new branch', () => {
    let s = start();
    s = applyEvents(s, [
      ev({ type: 'step', step: step('a', null, 0) }),
      ev({ type: 'step', step: step('b', 'a', 1) }),
      ev({ type: 'step', step: step('c', 'b', 2) }),
    ]);
    s = applyEvents(s, [
      ev({
        type: 'branch',
        branch: {
          id: 'bB',
          session_id: 's1',
          name: 'branch-B',
          fork_step_id: 'a',
          parent_branch_id: 'bA',
          reason: 'wrong file',
          head_step_id: 'a',
          git_ref: 'r2',
          created_at: 2,
        },
      }),
      ev({ type: 'head', branch_id: 'bB', head_step_id: 'a' }),
    ]);
    expect(pathTo(s.steps, s.heads.get('bB') ?? null).map((x) => x.id)).toEqual(['a']);
    s = applyEvents(s, [ev({ type: 'step', step: step('d', 'a', 1) })]);
    expect(pathTo(s.steps, s.heads.get('bB') ?? null).map((x) => x.id)).toEqual(['a', 'd']);
    // The old branch keeps its path.
    expect(pathTo(s.steps, s.heads.get('bA') ?? null).map((x) => x.id)).toEqual(['a', 'b', 'c']);
  });
});

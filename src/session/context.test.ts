/**
 * @module session/context.test
 * buildContext on hand-made trees: which instructions a path holds, and where.
 */
import { describe, expect, it } from 'vitest';
import type { ContextItem, Step } from '../steps/types.js';
import type { Intervention } from '../store/types.js';
import { buildContext } from './context.js';

function step(id: string, parent: Step | null, turn: string | null = id): Step {
  return {
    id,
    session_id: 's',
    parent_id: parent?.id ?? null,
    step_idx: parent ? parent.step_idx + 1 : 1,
    type: 'message',
    payload: { type: 'message', content: id },
    author: 'agent',
    turn_id: turn,
    tool_call: null,
    tool_result: null,
    tool_is_error: false,
    checkpoint: null,
    changed_files: false,
    usage: null,
    started_at: 0,
    ended_at: 0,
  };
}

function instruction(text: string, after: Step | null, followedBy: string | null): Intervention {
  return {
    id: `iv_${text}`,
    session_id: 's',
    branch_id: null,
    type: 'instruction',
    after_step_id: after?.id ?? null,
    after_step: after?.step_idx ?? null,
    content: text,
    annotator: 'ann',
    created_at: 0,
    followed_by: followedBy,
  };
}

/** The context as short strings: task, step ids, `!instruction`. */
const shape = (items: ContextItem[]) =>
  items.map((i) => (i.kind === 'task' ? 'task' : i.kind === 'step' ? i.step.id : `!${i.text}`));

describe('buildContext', () => {
  const a1 = step('a1', null);
  const a2 = step('a2', a1);
  const a3 = step('a3', a2);
  const b3 = step('b3', a2); // branch-B forked after a2
  const c3 = step('c3', a2); // a later rollback to a2

  it('holds the instructions followed by a step of the path, and those waiting at its head', () => {
    const ivs = [instruction('X', a1, 'a2'), instruction('Y', a2, 'a3'), instruction('Z', a3, null)];
    expect(shape(buildContext('t', [a1, a2, a3], ivs))).toEqual(['task', 'a1', '!X', 'a2', '!Y', 'a3', '!Z']);
    // On the branch forked after a2: X is on its path; Y went with a3, Z waits at another head.
    expect(shape(buildContext('t', [a1, a2, b3], ivs))).toEqual(['task', 'a1', '!X', 'a2', 'b3']);
  });

  it('leaves out an instruction whose position a rollback left, even when back at the same step', () => {
    // Rolled back to a2 with "first", then again with "second": only "second" waits at the head.
    const ivs = [instruction('first', a2, 'iv_rollback2'), instruction('second', a2, null)];
    expect(shape(buildContext('t', [a1, a2], ivs))).toEqual(['task', 'a1', 'a2', '!second']);
    // Once the agent took c3 after "second", that path keeps it; a3's path never had either.
    const later = [instruction('first', a2, 'iv_rollback2'), instruction('second', a2, 'c3')];
    expect(shape(buildContext('t', [a1, a2, c3], later))).toEqual(['task', 'a1', 'a2', '!second', 'c3']);
    expect(shape(buildContext('t', [a1, a2, a3], later))).toEqual(['task', 'a1', 'a2', 'a3']);
  });

  it('places instructions before the first step after the task, and after the end of a running turn', () => {
    const t1 = step('t1', null, 'turn');
    const t2 = step('t2', t1, 'turn');
    const t3 = step('t3', t2, 'next');
    const ivs = [instruction('start', null, 't1'), instruction('mid-turn', t1, 't2'), instruction('stale', null, 'rb')];
    expect(shape(buildContext('t', [t1, t2, t3], ivs))).toEqual(['task', '!start', 't1', 't2', '!mid-turn', 't3']);
    // At the very start, nothing taken yet: only what waits there.
    expect(shape(buildContext('t', [], [instruction('old', null, 'rb'), instruction('new', null, null)]))).toEqual([
      'task',
      '!new',
    ]);
  });
});

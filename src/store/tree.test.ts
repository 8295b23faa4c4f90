/**
 * @module store/tree.test
 * Path and branch helpers on a small hand-drawn tree:
 *   s0 ─ s1 ─ s2 ─ a3 ─ a4        (branch-A)
 *             └─ b3 ─ b4          (branch-B, forked after s2)
 *                  └─ c4          (branch-C, forked after b3)
 */
import { describe, expect, it } from 'vitest';
import type { Step } from '../steps/types.js';
import { branchName, branchPath, branchPoint, branchPointOf, childrenMap, indexSteps, leaves, pathTo } from './tree.js';
import type { BranchRecord } from './types.js';

function step(id: string, parent: string | null, idx: number): Step {
  return {
    id,
    session_id: 's',
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
    started_at: idx,
    ended_at: idx,
  };
}

const steps = [
  step('s0', null, 0),
  step('s1', 's0', 1),
  step('s2', 's1', 2),
  step('a3', 's2', 3),
  step('a4', 'a3', 4),
  step('b3', 's2', 3),
  step('b4', 'b3', 4),
  step('c4', 'b3', 4),
];

function branch(name: string, fork: string | null, head: string | null, parent: string | null): BranchRecord {
  return {
    id: name,
    session_id: 's',
    name,
    fork_step_id: fork,
    parent_branch_id: parent,
    reason: null,
    head_step_id: head,
    git_ref: name,
    created_at: 0,
  };
}

const ids = (xs: Step[]) => xs.map((s) => s.id);

describe('tree helpers', () => {
  it('pathTo walks from step 0 to the step', () => {
    expect(ids(pathTo('a4', steps))).toEqual(['s0', 's1', 's2', 'a3', 'a4']);
    expect(ids(pathTo('c4', indexSteps(steps)))).toEqual(['s0', 's1', 's2', 'b3', 'c4']);
    expect(pathTo(null, steps)).toEqual([]);
    expect(() => pathTo('zz', steps)).toThrow(/zz is not in this session/);
  });

  it('pathTo refuses a loop in the parent pointers instead of hanging', () => {
    expect(() => pathTo('x', [step('x', 'y', 0), step('y', 'x', 1)])).toThrow(/loop/);
  });

  it('childrenMap lists children in insertion order, roots under null', () => {
    const children = childrenMap(steps);
    expect(ids(children.get(null)!)).toEqual(['s0']);
    expect(ids(children.get('s2')!)).toEqual(['a3', 'b3']);
    expect(ids(children.get('b3')!)).toEqual(['b4', 'c4']);
    expect(children.get('a4')).toBeUndefined();
    expect(ids(leaves(steps))).toEqual(['a4', 'b4', 'c4']);
  });

  it('branchPath goes from step 0 to the head, or to the fork when the branch has no step yet', () => {
    expect(ids(branchPath(branch('B', 's2', 'b4', 'A'), steps))).toEqual(['s0', 's1', 's2', 'b3', 'b4']);
    expect(ids(branchPath(branch('D', 's1', null, 'A'), steps))).toEqual(['s0', 's1']);
    expect(branchPath(branch('A', null, null, null), steps)).toEqual([]);
  });

  it('branchPoint finds the last shared step and the steps after it on each side', () => {
    const A = branch('A', null, 'a4', null);
    const B = branch('B', 's2', 'b4', 'A');
    const C = branch('C', 'b3', 'c4', 'B');
    const ab = branchPointOf(A, B, steps);
    expect(ab.step?.id).toBe('s2');
    expect(ids(ab.afterA)).toEqual(['a3', 'a4']);
    expect(ids(ab.afterB)).toEqual(['b3', 'b4']);
    const bc = branchPointOf(B, C, steps);
    expect(bc.step?.id).toBe('b3');
    expect(ids(bc.afterA)).toEqual(['b4']);
    expect(ids(bc.afterB)).toEqual(['c4']);
    const apart = branchPoint(pathTo('a4', steps), [step('z0', null, 0)]);
    expect(apart.step).toBeNull();
    expect(ids(apart.afterB)).toEqual(['z0']);
  });
});

describe('branchName', () => {
  it('goes on past Z as spreadsheet columns do, so names stay in order and never repeat', () => {
    const at = (i: number) => branchName(i, true);
    expect([0, 1, 25, 26, 27, 51, 52, 701, 702].map(at)).toEqual([
      'branch-A',
      'branch-B',
      'branch-Z',
      'branch-AA',
      'branch-AB',
      'branch-AZ',
      'branch-BA',
      'branch-ZZ',
      'branch-AAA',
    ]);
    const names = Array.from({ length: 1000 }, (_, i) => at(i));
    expect(new Set(names).size).toBe(1000);
  });

  it('numbers from 1 when auto naming is off', () => {
    expect([0, 1, 26].map((i) => branchName(i, false))).toEqual(['branch-1', 'branch-2', 'branch-27']);
  });
});

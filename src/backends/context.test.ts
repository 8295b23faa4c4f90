import { describe, expect, it } from 'vitest';
import { makeStep } from '../../test/model-server/steps.js';
import type { ContextItem } from '../steps/types.js';
import { MISSING_RESULT, parseToolInput, toNeutralMessages } from './context.js';

const read = (id: string, turn: string | null, result: string | null) =>
  makeStep({
    turn_id: turn,
    tool_call: { id, name: 'file_read', input: { path: `${id}.py` } },
    tool_result: result,
    payload: { type: 'file_read', path: `${id}.py`, content: result ?? '', start_line: 1, truncated: false },
  });

describe('toNeutralMessages', () => {
  it('groups a turn into one assistant message followed by its results, instructions as user messages', () => {
    const context: ContextItem[] = [
      { kind: 'task', text: 'task' },
      { kind: 'instruction', text: 'first hint' },
      {
        kind: 'step',
        step: makeStep({ turn_id: 't1', payload: { type: 'thinking', content: 'hmm', signature: 's' } }),
      },
      { kind: 'step', step: read('a', 't1', 'A') },
      { kind: 'step', step: read('b', 't1', 'B') },
      { kind: 'instruction', text: 'look at c' },
      { kind: 'step', step: makeStep({ turn_id: 't2', payload: { type: 'message', content: 'ok' } }) },
    ];
    expect(toNeutralMessages(context)).toEqual([
      { role: 'user', parts: ['task', 'first hint'] },
      {
        role: 'assistant',
        blocks: [
          { type: 'thinking', content: 'hmm', signature: 's' },
          { type: 'tool_call', call: { id: 'a', name: 'file_read', input: { path: 'a.py' } } },
          { type: 'tool_call', call: { id: 'b', name: 'file_read', input: { path: 'b.py' } } },
        ],
      },
      {
        role: 'tool',
        results: [
          { call_id: 'a', name: 'file_read', content: 'A', is_error: false },
          { call_id: 'b', name: 'file_read', content: 'B', is_error: false },
        ],
      },
      { role: 'user', parts: ['look at c'] },
      { role: 'assistant', blocks: [{ type: 'text', text: 'ok' }] },
    ]);
  });

  it('keeps steps without a turn id apart, answers a bad call with its error and a call without result as not run', () => {
    const bad = makeStep({
      turn_id: 't3',
      tool_call: { id: 'x', name: 'file_edit', input: {} },
      tool_result: 'tool arguments are not valid JSON',
      tool_is_error: true,
      payload: { type: 'error', kind: 'bad_tool_call', message: 'tool arguments are not valid JSON' },
    });
    const backendFailure = makeStep({ turn_id: null, payload: { type: 'error', kind: 'backend', message: '500' } });
    const messages = toNeutralMessages([
      { kind: 'task', text: 't' },
      { kind: 'step', step: read('a', null, 'A') },
      { kind: 'step', step: read('b', null, null) },
      { kind: 'step', step: backendFailure },
      { kind: 'step', step: bad },
    ]);
    expect(messages.map((m) => m.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'assistant',
      'tool',
      'assistant',
      'tool',
    ]);
    expect(messages[4]).toEqual({
      role: 'tool',
      results: [{ call_id: 'b', name: 'file_read', content: MISSING_RESULT, is_error: true }],
    });
    expect(messages[6]).toEqual({
      role: 'tool',
      results: [{ call_id: 'x', name: 'file_edit', content: 'tool arguments are not valid JSON', is_error: true }],
    });
  });
});

describe('parseToolInput', () => {
  it('parses objects, treats empty as {}, and explains anything else', () => {
    expect(parseToolInput('{"path":"a"}')).toEqual({ input: { path: 'a' } });
    expect(parseToolInput('  ')).toEqual({ input: {} });
    expect(parseToolInput('[1]').error).toMatch(/must be a JSON object/);
    expect(parseToolInput('{"path": ').error).toMatch(/not valid JSON/);
  });
});

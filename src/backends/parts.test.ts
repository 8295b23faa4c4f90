/**
 * @module backends/parts.test
 * The one open/close state machine: PartWriter's blocks for providers with and without block
 * boundaries, and TurnAssembler's steps from them (consecutive text joined, whitespace-only runs
 * dropped, thinking kept when it has only a signature or redacted data, a failed attempt set aside).
 */
import { describe, expect, it } from 'vitest';
import { PartWriter, TurnAssembler } from './parts.js';
import type { ModelEvent } from './types.js';

describe('PartWriter', () => {
  it('switches blocks when the kind of delta changes, with a fresh id each time', () => {
    const w = new PartWriter();
    const parts: ModelEvent[] = [
      ...w.write('thinking', 'hm'),
      ...w.write('thinking', 'm'),
      ...w.write('text', 'Done'),
      ...w.write('text', ''),
      ...w.closeAll(),
    ];
    expect(parts).toEqual([
      { type: 'thinking-start', id: 'thinking-0' },
      { type: 'thinking-delta', id: 'thinking-0', text: 'hm' },
      { type: 'thinking-delta', id: 'thinking-0', text: 'm' },
      { type: 'thinking-end', id: 'thinking-0' },
      { type: 'text-start', id: 'text-1' },
      { type: 'text-delta', id: 'text-1', text: 'Done' },
      { type: 'text-end', id: 'text-1' },
    ]);
  });

  it('ends a tool input with the parsed call, or says why it cannot be used', () => {
    const w = new PartWriter();
    expect([
      ...w.toolStart('c1', 'file_read'),
      ...w.toolDelta('c1', '{"path":'),
      ...w.toolDelta('c1', '"a"}'),
    ]).toHaveLength(3);
    expect(w.toolEnd('c1')).toEqual([
      { type: 'tool-input-end', id: 'c1' },
      { type: 'tool-call', id: 'c1', name: 'file_read', input: { path: 'a' } },
    ]);
    const cut = w.toolCall('c2', 'file_read', '{"path": "sr');
    expect(cut.at(-1)).toMatchObject({
      type: 'tool-call',
      id: 'c2',
      input: {},
      error: expect.stringMatching(/not valid JSON/),
    });
  });

  it('carries the signature and redacted data on the thinking end', () => {
    const w = new PartWriter();
    w.start('thinking', '0');
    w.signature('0', 'c2ln');
    expect(w.end('0')).toEqual([{ type: 'thinking-end', id: '0', signature: 'c2ln' }]);
    expect(w.redacted('1', 'ZW5j')).toEqual([
      { type: 'thinking-start', id: '1' },
      { type: 'thinking-end', id: '1', redacted: 'ZW5j' },
    ]);
  });
});

describe('TurnAssembler', () => {
  const assemble = (parts: ModelEvent[]) => {
    const asm = new TurnAssembler('t');
    for (const p of parts) asm.push(p, 0);
    return asm;
  };
  const text = (id: string, t: string): ModelEvent[] => [
    { type: 'text-start', id },
    { type: 'text-delta', id, text: t },
    { type: 'text-end', id },
  ];

  it('joins consecutive text blocks into one message; a tool input between them splits it', () => {
    const asm = assemble([
      ...text('0', '\n\n'),
      ...text('1', 'Keys may use '),
      { type: 'text-citation', id: '1', citation: { type: 'url_citation', url: 'https://a.example' } },
      ...text('2', '= or :.'),
      { type: 'tool-input-start', id: 'c', name: 'file_read' },
      ...text('3', '   '),
      ...text('4', 'After.'),
    ]);
    expect(asm.groups().map((g) => [g.kind, g.content, g.citations.length, g.key])).toEqual([
      ['message', 'Keys may use = or :.', 1, 't:0'],
      ['message', 'After.', 0, 't:1'],
    ]);
  });

  it('keeps signature-only and redacted thinking, drops empty unsigned thinking', () => {
    const asm = assemble([
      { type: 'thinking-start', id: '0' },
      { type: 'thinking-end', id: '0', signature: 'c2ln' },
      { type: 'thinking-start', id: '1' },
      { type: 'thinking-end', id: '1', redacted: 'ZW5j' },
      { type: 'thinking-start', id: '2' },
      { type: 'thinking-end', id: '2' },
    ]);
    expect(asm.groups().map((g) => [g.kind, g.content, g.signature, g.redacted])).toEqual([
      ['thinking', '', 'c2ln', undefined],
      ['thinking', '', undefined, 'ZW5j'],
    ]);
  });

  it('hands back a failed attempt and starts over with new partial keys; the last usage counts', () => {
    const asm = assemble([...text('0', 'Hello'), { type: 'usage', usage: { input_tokens: 5, output_tokens: 1 } }]);
    const failed = asm.restart('t:retry1');
    expect(failed.map((g) => [g.content, g.key])).toEqual([['Hello', 't:0']]);
    for (const p of [
      ...text('0', 'Hello again.'),
      { type: 'usage', usage: { input_tokens: 9, output_tokens: 1 } } as ModelEvent,
      { type: 'usage', usage: { input_tokens: 9, output_tokens: 4, cache_read_input_tokens: 2 } } as ModelEvent,
      { type: 'finish', reason: 'end_turn' } as ModelEvent,
    ])
      asm.push(p);
    expect(asm.groups().map((g) => [g.content, g.key])).toEqual([['Hello again.', 't:retry1:0']]);
    expect(asm.usage).toEqual({ input_tokens: 9, output_tokens: 4, cache_read_input_tokens: 2 });
    expect(asm.finish).toBe('end_turn');
  });
});

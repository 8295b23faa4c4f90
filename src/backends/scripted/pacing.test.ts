/**
 * @module backends/scripted/pacing.test
 * The scripted agent waits turn_delay_ms on the clock it is given before it answers, so a
 * test that holds the clock decides when a turn may go on (test/clock.ts).
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HeldClock } from '../../../test/clock.js';
import { collect } from '../../../test/model-server/steps.js';
import type { ModelEvent } from '../types.js';
import { createScriptedBackend } from './index.js';

const SCRIPT = resolve(import.meta.dirname, '../../../examples/demo/agent-script.yaml');

function startTurn(clock: HeldClock, signal = new AbortController().signal) {
  const backend = createScriptedBackend({ script: SCRIPT, turn_delay_ms: 1000 }, clock);
  let events: ModelEvent[] | null = null;
  const done = collect(
    backend.turn({ system: 's', context: [{ kind: 'task', text: 'fix it' }], tools: [], signal }),
  ).then((e) => {
    events = e;
  });
  return { done, answered: () => events };
}

describe('scripted agent pacing', () => {
  it('answers only once its clock has moved past turn_delay_ms', async () => {
    const clock = new HeldClock();
    clock.hold();
    const turn = startTurn(clock);
    await clock.advance(999);
    expect(clock.waiting).toBe(1);
    expect(turn.answered()).toBeNull();
    await clock.advance(1);
    await turn.done;
    expect(clock.waiting).toBe(0);
    expect(turn.answered()?.at(-1)).toMatchObject({ type: 'finish' });
  });

  it('stops waiting when the turn is aborted', async () => {
    const clock = new HeldClock();
    clock.hold();
    const abort = new AbortController();
    const turn = startTurn(clock, abort.signal);
    await clock.advance(0);
    expect(clock.waiting).toBe(1);
    abort.abort();
    await turn.done;
    expect(clock.waiting).toBe(0);
  });
});

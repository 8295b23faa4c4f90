/**
 * @module test/model-server/steps
 * Test helpers that do what the controller does between two turns, in miniature: collect a
 * turn's ModelEvents, record them as steps (thinking, message, tool calls with their results)
 * and extend the context, so backend tests can drive multi-turn exchanges.
 */
import { TurnAssembler } from '../../src/backends/parts.js';
import type { ModelEvent } from '../../src/backends/types.js';
import type { ContextItem, Step, StepPayload } from '../../src/steps/types.js';

export async function collect(events: AsyncIterable<ModelEvent>): Promise<ModelEvent[]> {
  const out: ModelEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

let stepCounter = 0;

export function makeStep(fields: Partial<Step> & { payload: StepPayload }): Step {
  stepCounter += 1;
  return {
    id: `step-${stepCounter}`,
    session_id: 'session-test',
    parent_id: null,
    step_idx: stepCounter,
    type: fields.payload.type,
    author: 'agent',
    turn_id: null,
    tool_call: null,
    tool_result: null,
    tool_is_error: false,
    checkpoint: null,
    changed_files: false,
    usage: null,
    started_at: 0,
    ended_at: 0,
    ...fields,
  };
}

/**
 * Records one turn's events as steps, as the controller would (with the same TurnAssembler):
 * thinking and text become thinking/message steps, each tool call a step whose result comes
 * from `results(name, input)`; a malformed call becomes a bad_tool_call error step answered
 * with its error.
 */
export function stepsFromTurn(
  events: ModelEvent[],
  turnId: string,
  results: (name: string, input: Record<string, unknown>) => string = () => 'ok',
): Step[] {
  const asm = new TurnAssembler(turnId);
  for (const e of events) asm.push(e);
  const steps: Step[] = asm.groups().map((g) =>
    makeStep({
      turn_id: turnId,
      payload:
        g.kind === 'thinking'
          ? { type: 'thinking', content: g.content, signature: g.signature, redacted: g.redacted }
          : { type: 'message', content: g.content },
    }),
  );
  for (const { call, error } of asm.bad) {
    steps.push(
      makeStep({
        turn_id: turnId,
        tool_call: call,
        tool_result: error,
        tool_is_error: true,
        payload: { type: 'error', kind: 'bad_tool_call', message: error },
      }),
    );
  }
  for (const call of asm.calls) {
    steps.push(
      makeStep({
        turn_id: turnId,
        tool_call: call,
        tool_result: results(call.name, call.input),
        payload: {
          type: 'bash_command',
          command: call.name,
          output: '',
          exit_code: 0,
          timed_out: false,
          truncated: false,
        },
      }),
    );
  }
  return steps;
}

export function asContext(steps: Step[]): ContextItem[] {
  return steps.map((step) => ({ kind: 'step', step }));
}

/** The five tool specs, as small as the tests need. */
export const TOOLS = ['file_read', 'file_edit', 'bash_command', 'directory_list', 'file_search'].map((name) => ({
  name,
  description: `the ${name} tool`,
  input_schema: { type: 'object' as const, properties: { path: { type: 'string' } } },
}));

/**
 * @module test/model-server/steps
 * Test helpers that do what the controller does between two turns, in miniature: collect a
 * turn's ModelEvents, record them as steps (thinking, message, tool calls with their results)
 * and extend the context, so backend tests can drive multi-turn exchanges.
 */
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
 * Records one turn's events as steps, as the controller would: thinking and text become
 * thinking/message steps, each tool call a step whose result comes from `results(name, input)`;
 * a malformed call becomes a bad_tool_call error step answered with its error.
 */
export function stepsFromTurn(
  events: ModelEvent[],
  turnId: string,
  results: (name: string, input: Record<string, unknown>) => string = () => 'ok',
): Step[] {
  const steps: Step[] = [];
  let thinking = '';
  let text = '';
  for (const e of events) {
    if (e.type === 'thinking-delta') thinking += e.text;
    else if (e.type === 'thinking-end') {
      steps.push(
        makeStep({ turn_id: turnId, payload: { type: 'thinking', content: thinking, signature: e.signature } }),
      );
      thinking = '';
    } else if (e.type === 'text-delta') text += e.text;
    else if (e.type === 'text-end') {
      steps.push(makeStep({ turn_id: turnId, payload: { type: 'message', content: text } }));
      text = '';
    } else if (e.type === 'tool-call') {
      const call = { id: e.id, name: e.name, input: e.input };
      if (e.error) {
        steps.push(
          makeStep({
            turn_id: turnId,
            tool_call: call,
            tool_result: e.error,
            tool_is_error: true,
            payload: { type: 'error', kind: 'bad_tool_call', message: e.error },
          }),
        );
      } else {
        steps.push(
          makeStep({
            turn_id: turnId,
            tool_call: call,
            tool_result: results(e.name, e.input),
            payload: {
              type: 'bash_command',
              command: e.name,
              output: '',
              exit_code: 0,
              timed_out: false,
              truncated: false,
            },
          }),
        );
      }
    }
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

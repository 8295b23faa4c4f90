import { describe, expect, it } from 'vitest';
import type { Step } from '../api/types.ts';
import { commandOutcome, cutCommand, endedEarly } from './command-outcome.ts';

// What session/cut-commands.ts writes (not imported: that module is server-side).
const CUT_REASON = 'the server stopped while the command ran: the output is what had streamed by then';

function command(
  payload: Partial<Extract<Step['payload'], { type: 'bash_command' }>>,
  toolResult: string | null,
): Step {
  return {
    id: 'st_1',
    session_id: 'se_1',
    parent_id: null,
    step_idx: 1,
    type: 'bash_command',
    payload: {
      type: 'bash_command',
      command: 'make',
      output: 'building…\n',
      exit_code: null,
      timed_out: false,
      truncated: false,
      ...payload,
    },
    author: 'agent',
    turn_id: null,
    tool_call: null,
    tool_result: toolResult,
    tool_is_error: true,
    checkpoint: null,
    changed_files: false,
    usage: null,
    started_at: 0,
    ended_at: 1,
  };
}

describe('command outcome', () => {
  it('marks a command cut by a server crash in words, with no exit code', () => {
    const step = command({ cut: CUT_REASON }, `building…\n[cut: ${CUT_REASON}]`);
    const end = { exitCode: null, ...cutCommand(step) };
    expect(commandOutcome(end)).toEqual({ text: `cut: ${CUT_REASON}`, tone: 'bad' });
    expect(commandOutcome(end)!.text).toMatch(/^cut: the server stopped while the command ran/);
    expect(commandOutcome(end)!.text).not.toMatch(/exit/);
    expect(endedEarly(end)).toBe(true);
  });

  it('keeps timed-out, stopped and finished commands as before', () => {
    const timed = command({ timed_out: true }, 'x\n[timed out after 30 s; killed]');
    expect(commandOutcome({ timedOut: true, ...cutCommand(timed) })?.text).toBe('timed out after 30 s');
    const stopped = command({}, 'x\n[stopped by the annotator]');
    expect(commandOutcome(cutCommand(stopped))?.text).toBe('stopped by the annotator');
    expect(cutCommand(command({ exit_code: 2 }, 'x'))).toEqual({});
    expect(commandOutcome({ exitCode: 2 })).toEqual({ text: 'exit 2', tone: 'bad' });
    expect(commandOutcome({ exitCode: null })).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { CUT_REASON } from '../session/cut-commands.js';
import type { Step } from '../steps/types.js';
import { stepText } from './session-data.js';

function command(payload: Partial<Extract<Step['payload'], { type: 'bash_command' }>>): Step {
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
    tool_result: null,
    tool_is_error: true,
    checkpoint: null,
    changed_files: false,
    usage: null,
    started_at: 0,
    ended_at: 1,
  };
}

describe('stepText of a command (prm_stepwise prompts and completions)', () => {
  it('says a command cut by a server crash was cut, not that it ended with no exit code', () => {
    expect(stepText(command({ cut: CUT_REASON }))).toBe(`$ make\nbuilding…\n(cut: ${CUT_REASON})`);
  });

  it('keeps the exit code of a finished or timed-out command', () => {
    expect(stepText(command({ exit_code: 0, output: 'ok' }))).toBe('$ make\nok\n(exit code 0)');
    expect(stepText(command({ timed_out: true }))).toBe('$ make\nbuilding…\n(exit code none, timed out)');
  });
});

/**
 * @module tools/bash-tool
 * bash_command: the command policy first, then the sandbox. A refused command runs nothing.
 */
import { checkCommand, refusalMessage } from './policy.js';
import type { ToolInput } from './specs.js';
import type { ToolResult } from './tool-result.js';
import type { ToolContext } from './types.js';

export async function bashCommand(input: ToolInput<'bash_command'>, ctx: ToolContext): Promise<ToolResult> {
  const command = input.command;
  const verdict = checkCommand(command, ctx.policy);
  if (!verdict.ok) {
    return {
      payload: {
        type: 'bash_command',
        command,
        output: '',
        exit_code: null,
        timed_out: false,
        truncated: false,
        refused: verdict.reason,
      },
      result: refusalMessage(verdict.reason),
      isError: true,
      changed: [],
    };
  }
  const requested = input.timeout_seconds !== undefined ? input.timeout_seconds * 1000 : ctx.commandTimeoutMs;
  const timeoutMs = Math.min(requested, ctx.commandTimeoutMs);
  await ctx.beforeCommand?.();
  const run = await ctx.sandbox.exec(command, { timeoutMs, onOutput: ctx.onOutput, signal: ctx.signal });
  const notes: string[] = [];
  if (run.timedOut)
    notes.push(`[timed out after ${timeoutMs / 1000} s; the command and everything it started were killed]`);
  else if (ctx.signal?.aborted) {
    // The session says why it cut the command (a shutdown, the timeout); a bare abort is the annotator.
    const why = typeof ctx.signal.reason === 'string' ? ctx.signal.reason : 'stopped by the annotator';
    notes.push(`[${why}]`);
  } else notes.push(`[exit code: ${run.exitCode ?? 'none (killed by a signal)'}]`);
  const body = run.output === '' ? '(no output)' : run.output.replace(/\n$/, '');
  return {
    payload: {
      type: 'bash_command',
      command,
      output: run.output,
      exit_code: run.exitCode,
      timed_out: run.timedOut,
      truncated: run.truncated,
    },
    result: `${body}\n${notes.join('\n')}`,
    isError: run.timedOut,
    changed: 'unknown',
  };
}

/**
 * @module web/trace/command-outcome
 * How a command step ended, in words for the terminal block's foot: refused, timed out, stopped,
 * cut by a server crash, running, or its exit code. A command that did not finish shows no exit
 * code, so a cut one never reads as a success or a plain failure.
 */
import type { Step } from '../api/types.ts';

export interface CommandEnd {
  exitCode?: number | null;
  timedOut?: boolean;
  /** The limit it ran into, when known. */
  timeoutSeconds?: number;
  /** Cut short by Stop (or a rollback): no exit code. */
  stopped?: boolean;
  /** The server died while it ran (payload `cut`): the output is what had streamed. */
  serverCut?: string;
  refused?: string;
  /** Who refused the command: the command policy, or the annotator denying the call. */
  refusedBy?: 'policy' | 'annotator';
  running?: boolean;
}

export interface CommandOutcome {
  text: string;
  tone: 'ok' | 'bad' | 'running';
}

export function commandOutcome(end: CommandEnd): CommandOutcome | null {
  if (end.refused)
    return {
      text: `${end.refusedBy === 'annotator' ? 'denied by the annotator' : 'refused by policy'}: ${end.refused}`,
      tone: 'bad',
    };
  if (end.serverCut) return { text: `cut: ${end.serverCut}`, tone: 'bad' };
  if (end.timedOut)
    return {
      text: `timed out${end.timeoutSeconds !== undefined ? ` after ${end.timeoutSeconds} s` : ''}`,
      tone: 'bad',
    };
  if (end.stopped) return { text: 'stopped by the annotator', tone: 'bad' };
  if (end.running) return { text: 'running…', tone: 'running' };
  if (end.exitCode !== undefined && end.exitCode !== null)
    return { text: `exit ${end.exitCode}`, tone: end.exitCode === 0 ? 'ok' : 'bad' };
  return null;
}

/** Whether the command ended before it finished (its output, if any, is partial). */
export const endedEarly = (end: CommandEnd) => Boolean(end.stopped || end.timedOut || end.serverCut);

/**
 * How a command without an exit code was cut: the payload's `cut` (server crash), or the note the
 * tool sent the agent ("[timed out after 30 s; …]", "[stopped by the annotator]"). The payload
 * says only timed_out and exit_code; the note carries the limit.
 */
export function cutCommand(step: Step): Pick<CommandEnd, 'timeoutSeconds' | 'stopped' | 'serverCut'> {
  const p = step.payload;
  if (p.type !== 'bash_command' || p.refused || p.exit_code !== null) return {};
  if (p.cut) return { serverCut: p.cut };
  const note = step.tool_result ?? '';
  const limit = /\[timed out after (\d+(?:\.\d+)?) s/.exec(note);
  if (p.timed_out) return limit ? { timeoutSeconds: Number(limit[1]) } : {};
  return note.includes('[stopped by the annotator]') ? { stopped: true } : {};
}

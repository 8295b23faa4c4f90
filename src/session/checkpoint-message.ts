/**
 * @module session/checkpoint-message
 * The checkpoint commit message of SPEC §5:
 *   [potato-checkpoint] Step 7: Edit src/parser.py
 *
 *   - Modified lines 45-52
 *   - Agent reasoning: Fix the regex pattern to handle escaped quotes
 */
import type { LineRange, StepPayload } from '../steps/types.js';

const REASONING_MAX = 200;

export function initialStateMessage(prefix: string): string {
  return `${prefix} Step 0: Initial state`;
}

export function checkpointMessage(
  prefix: string,
  stepIdx: number,
  payload: StepPayload,
  reasoning: string | null,
  changedPaths: string[] = [],
): string {
  const lines = [`${prefix} Step ${stepIdx}: ${action(payload)}`];
  if (payload.type === 'file_edit' || payload.type === 'file_write') {
    if (payload.created) lines.push('- Created file');
    else if (payload.modified_lines.length) lines.push(`- Modified lines ${ranges(payload.modified_lines)}`);
  } else if (changedPaths.length) {
    const shown = changedPaths.slice(0, 10).join(', ');
    lines.push(`- Changed files: ${shown}${changedPaths.length > 10 ? ` (+${changedPaths.length - 10} more)` : ''}`);
  }
  const why = reasoning ? oneLine(reasoning) : '';
  if (why) lines.push(`- Agent reasoning: ${why}`);
  // A blank line after the subject, as git expects, so `git log --oneline` shows one line per step.
  const [subject, ...body] = lines;
  return body.length ? `${subject}\n\n${body.join('\n')}` : subject!;
}

/** The short action label shared by commit messages and the rollback dropdown. */
export function action(payload: StepPayload): string {
  switch (payload.type) {
    case 'file_edit':
      return `Edit ${payload.path}`;
    case 'file_write':
      return `${payload.created ? 'Create' : 'Write'} ${payload.path}`;
    case 'bash_command':
      return `Run ${oneLine(payload.command, 60)}`;
    case 'file_read':
      return `Read ${payload.path}`;
    case 'directory_list':
      return `List ${payload.path || '.'}`;
    case 'file_search':
      return `Search ${oneLine(payload.pattern, 40)}`;
    case 'thinking':
      return 'Think';
    case 'message':
      return 'Message';
    case 'error':
      return `Error (${payload.kind})`;
  }
}

function ranges(rs: LineRange[]): string {
  return rs.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ');
}

function oneLine(s: string, max = REASONING_MAX): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

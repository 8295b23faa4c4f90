/**
 * @module backends/claude-agent-sdk/map
 * Maps the Claude Agent SDK's tool calls and structured tool results to our step payloads:
 * Read → file_read, Edit → file_edit and Write → file_write with a unified diff, Bash →
 * bash_command, Glob/Grep → file_search. Other tools become a message step that says what ran.
 */
import path from 'node:path';
import type { SearchMatch, StepPayload } from '../../steps/types.js';
import { modifiedLines, unifiedDiff } from '../../tools/edit-diff.js';

type Input = Record<string, unknown>;
type Output = Record<string, unknown> | undefined;

function rel(cwd: string, file: unknown): string {
  const p = String(file ?? '');
  const r = path.isAbsolute(p) ? path.relative(cwd, p) : p;
  return r === '' ? '.' : r;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/**
 * @param before the file's content captured in PreToolUse (null when it did not exist), used
 *   when the SDK's result does not carry the original.
 * @param after the file's content read in PostToolUse.
 */
export function toPayload(
  name: string,
  input: Input,
  output: Output,
  resultText: string,
  isError: boolean,
  cwd: string,
  files: { before: string | null; after: string | null },
): StepPayload {
  if (isError && name !== 'Bash') return { type: 'error', kind: 'tool_error', message: `${name}: ${resultText}` };
  switch (name) {
    case 'Read': {
      const file = output?.file as Input | undefined;
      return {
        type: 'file_read',
        path: rel(cwd, input.file_path),
        content: str(file?.content) || resultText,
        start_line: typeof file?.startLine === 'number' ? file.startLine : Number(input.offset ?? 1) || 1,
        truncated:
          typeof file?.totalLines === 'number' && typeof file?.numLines === 'number' && file.numLines < file.totalLines,
      };
    }
    case 'Edit':
    case 'Write': {
      const relPath = rel(cwd, input.file_path);
      const original = output && 'originalFile' in output ? (output.originalFile as string | null) : files.before;
      const after = files.after ?? (name === 'Write' ? str(input.content) : '');
      return {
        type: name === 'Edit' ? 'file_edit' : 'file_write',
        path: relPath,
        diff: unifiedDiff(relPath, original, after),
        modified_lines: modifiedLines(original ?? '', after),
        created: original === null,
      };
    }
    case 'Bash': {
      const stdout = str(output?.stdout);
      const stderr = str(output?.stderr);
      // A failed command has no structured result, only "Exit code N" and its output as text.
      const text =
        output && typeof output === 'object' && !isError
          ? [stdout, stderr].filter(Boolean).join('\n')
          : resultText.replace(/^Exit code \d+\n/, '');
      // The SDK reports failure, not the status; a failing command's text ends with its exit code.
      const code = /exit code (\d+)/i.exec(resultText)?.[1];
      return {
        type: 'bash_command',
        command: str(input.command),
        output: text,
        exit_code: isError ? (code ? Number(code) : 1) : 0,
        timed_out: typeof output?.timedOutAfterMs === 'number',
        truncated: false,
      };
    }
    case 'Glob': {
      const names = (output?.filenames as string[] | undefined) ?? [];
      return {
        type: 'file_search',
        pattern: str(input.pattern),
        path: rel(cwd, input.path ?? cwd),
        matches: names.map((f) => ({ path: rel(cwd, f), line: 0, text: '' })),
        truncated: Boolean(output?.truncated),
      };
    }
    case 'Grep': {
      const matches: SearchMatch[] = [];
      const content = str(output?.content);
      if (content) {
        for (const line of content.split('\n')) {
          const m = /^(.+?):(\d+):(.*)$/.exec(line);
          if (m) matches.push({ path: rel(cwd, m[1]), line: Number(m[2]), text: m[3]! });
        }
      } else {
        for (const f of (output?.filenames as string[] | undefined) ?? [])
          matches.push({ path: rel(cwd, f), line: 0, text: '' });
      }
      return {
        type: 'file_search',
        pattern: str(input.pattern),
        path: rel(cwd, input.path ?? cwd),
        matches,
        truncated: false,
      };
    }
    default:
      return { type: 'message', content: `${name}(${JSON.stringify(input)}) → ${resultText.slice(0, 2000)}` };
  }
}

/** The text the model saw as a tool result (a string or text blocks). */
export function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((b) => (b && typeof b === 'object' && 'text' in b ? String((b as { text: unknown }).text) : ''))
      .join('');
  }
  return '';
}

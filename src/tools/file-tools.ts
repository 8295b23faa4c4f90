/**
 * @module tools/file-tools
 * file_read and file_edit (which also writes whole files) on a sandbox.
 */
import { realpathSync } from 'node:fs';
import { relative, sep } from 'node:path';
import type { Sandbox } from '../sandbox/types.js';
import { SandboxError } from '../sandbox/types.js';
import { formatRanges, modifiedLines, unifiedDiff } from './edit-diff.js';
import type { ToolInput } from './specs.js';
import { ToolFailure, type ToolResult } from './tool-result.js';

/**
 * The workspace's `.git` is the server's pointer to the checkpoint repository (kept outside the
 * workspace): refused by name and through any symlink that leads to it.
 */
export function refuseCheckpointInternals(sandbox: Sandbox, rel: string): void {
  let real = rel;
  try {
    real = relative(realpathSync(sandbox.workspace), realpathSync(sandbox.resolve(rel)))
      .split(sep)
      .join('/');
  } catch {
    // Missing: judged by its name.
  }
  if (rel.split('/')[0] === '.git' || real.split('/')[0] === '.git') {
    throw new ToolFailure(
      `${rel} is the workspace's .git, which points at the checkpoint repository Potato Live keeps for rollback: file tools cannot read or write it (run git commands such as \`git log\` or \`git diff\` to look at history).`,
    );
  }
}

export async function fileRead(
  sandbox: Sandbox,
  rel: string,
  input: ToolInput<'file_read'>,
  maxBytes: number,
): Promise<ToolResult> {
  refuseCheckpointInternals(sandbox, rel);
  const text = await sandbox.readFile(rel);
  if (text.includes('\0')) throw new ToolFailure(`${rel} is a binary file; file_read only reads text`);
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  const start = input.start_line ?? 1;
  const end = Math.min(input.end_line ?? lines.length, lines.length);
  if (input.end_line !== undefined && input.end_line < start) {
    throw new ToolFailure(`end_line (${input.end_line}) is before start_line (${start})`);
  }
  if (start > Math.max(lines.length, 1)) {
    throw new ToolFailure(`${rel} has ${lines.length} lines; start_line ${start} is past the end`);
  }
  const picked: string[] = [];
  let bytes = 0;
  let truncated = false;
  for (let i = start; i <= end; i++) {
    const line = lines[i - 1]!;
    bytes += Buffer.byteLength(line) + 1;
    if (bytes > maxBytes && picked.length > 0) {
      truncated = true;
      break;
    }
    picked.push(line);
  }
  const lastShown = start + picked.length - 1;
  const width = String(Math.max(lastShown, 1)).length;
  let result = picked.map((l, k) => `${String(start + k).padStart(width)}\t${l}`).join('\n');
  if (lines.length === 0) result = `(${rel} is empty)`;
  if (truncated) {
    result += `\n[output cut at ${maxBytes} bytes: lines ${start}-${lastShown} of ${lines.length} shown; read on with start_line=${lastShown + 1}]`;
  } else if (end < lines.length) {
    result += `\n[lines ${start}-${end} of ${lines.length}]`;
  }
  return {
    payload: { type: 'file_read', path: rel, content: picked.join('\n'), start_line: start, truncated },
    result,
    isError: false,
    changed: [],
  };
}

function countOccurrences(haystack: string, needle: string): number {
  let n = 0;
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + needle.length)) n++;
  return n;
}

export async function fileEdit(sandbox: Sandbox, rel: string, input: ToolInput<'file_edit'>): Promise<ToolResult> {
  refuseCheckpointInternals(sandbox, rel);
  let before: string | null;
  try {
    before = await sandbox.readFile(rel);
  } catch (err) {
    if (!(err instanceof SandboxError && err.code === 'not_found')) throw err;
    before = null;
  }

  let after: string;
  if (input.old_text === undefined) {
    after = input.new_text;
  } else {
    if (before === null) {
      throw new ToolFailure(`${rel} does not exist. To create it, call file_edit without old_text.`);
    }
    let oldText = input.old_text;
    let newText = input.new_text;
    let count = countOccurrences(before, oldText);
    // Models write \n; a Windows-style file has \r\n. Match it the way the file is written.
    if (count === 0 && before.includes('\r\n') && !oldText.includes('\r\n')) {
      const crlf = oldText.replace(/\n/g, '\r\n');
      const n = countOccurrences(before, crlf);
      if (n > 0) {
        oldText = crlf;
        newText = newText.replace(/\r?\n/g, '\r\n');
        count = n;
      }
    }
    if (count === 0) {
      throw new ToolFailure(
        `old_text was not found in ${rel}. It must match the file exactly, including whitespace and indentation; read the file again and copy the text.`,
      );
    }
    if (count > 1) {
      throw new ToolFailure(
        `old_text matches ${count} places in ${rel}; it must match exactly one. Include more surrounding lines to make it unique.`,
      );
    }
    const at = before.indexOf(oldText);
    after = before.slice(0, at) + newText + before.slice(at + oldText.length);
  }

  const created = before === null;
  const type = created ? 'file_write' : 'file_edit';
  if (!created && after === before) {
    return {
      payload: { type, path: rel, diff: '', modified_lines: [], created },
      result: `${rel} already had this content; nothing changed.`,
      isError: false,
      changed: [],
    };
  }
  await sandbox.writeFile(rel, after);
  const ranges = modifiedLines(before ?? '', after);
  const where = ranges.length > 0 ? ` (lines ${formatRanges(ranges)})` : '';
  const result = created
    ? `Created ${rel}${where}.`
    : input.old_text === undefined
      ? `Rewrote ${rel}${where}.`
      : `Edited ${rel}: replaced 1 occurrence${where}.`;
  return {
    payload: { type, path: rel, diff: unifiedDiff(rel, before, after), modified_lines: ranges, created },
    result,
    isError: false,
    changed: [rel],
  };
}

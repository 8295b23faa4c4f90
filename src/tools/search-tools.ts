/**
 * @module tools/search-tools
 * directory_list and file_search, written against the Sandbox interface so they work the same
 * on every sandbox.
 */
import picomatch from 'picomatch';
import type { Sandbox } from '../sandbox/types.js';
import { SandboxError } from '../sandbox/types.js';
import type { SearchMatch } from '../steps/types.js';
import type { ToolInput } from './specs.js';
import { ToolFailure, type ToolResult } from './tool-result.js';

const MAX_LIST_ENTRIES = 1000;
const MAX_MATCHES = 200;
const MAX_LINE_CHARS = 300;
const MAX_SEARCH_FILE_BYTES = 2 * 1024 * 1024;
const SEARCH_DEPTH = 64;

export async function directoryList(sandbox: Sandbox, rel: string, depth: number): Promise<ToolResult> {
  const all = await sandbox.list(rel, depth);
  const truncated = all.length > MAX_LIST_ENTRIES;
  const entries = all.slice(0, MAX_LIST_ENTRIES).map((e) => (e.type === 'symlink' ? `${e.path}@` : e.path));
  let result = entries.length > 0 ? entries.join('\n') : `(${rel} is empty)`;
  if (truncated)
    result += `\n[${all.length - MAX_LIST_ENTRIES} more entries not shown; list a subdirectory or use less depth]`;
  return { payload: { type: 'directory_list', path: rel, entries, truncated }, result, isError: false, changed: [] };
}

export async function fileSearch(sandbox: Sandbox, rel: string, input: ToolInput<'file_search'>): Promise<ToolResult> {
  let re: RegExp;
  try {
    re = new RegExp(input.pattern);
  } catch (err) {
    throw new ToolFailure(`pattern is not a valid regular expression: ${(err as Error).message}`);
  }
  const isMatch = input.glob ? picomatch(input.glob, { dot: true, matchBase: !input.glob.includes('/') }) : null;

  let files: string[];
  try {
    files = (await sandbox.list(rel, SEARCH_DEPTH)).filter((e) => e.type === 'file').map((e) => e.path);
  } catch (err) {
    // A file path is searched on its own.
    if (!(err instanceof SandboxError && err.code === 'io')) throw err;
    files = [rel];
  }
  if (isMatch) files = files.filter((f) => isMatch(f));

  const matches: SearchMatch[] = [];
  let truncated = false;
  outer: for (const file of files) {
    let text: string;
    try {
      text = await sandbox.readFile(file);
    } catch {
      continue; // unreadable (permissions, vanished): not a match
    }
    if (text.length > MAX_SEARCH_FILE_BYTES || text.slice(0, 8192).includes('\0')) continue;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (!re.test(line)) continue;
      if (matches.length >= MAX_MATCHES) {
        truncated = true;
        break outer;
      }
      const shown = line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line;
      matches.push({ path: file, line: i + 1, text: shown });
    }
  }
  let result =
    matches.length > 0
      ? matches.map((m) => `${m.path}:${m.line}: ${m.text}`).join('\n')
      : `No matches for /${input.pattern}/ in ${rel}${input.glob ? ` (files matching ${input.glob})` : ''}.`;
  if (truncated) result += `\n[stopped at ${MAX_MATCHES} matches; narrow the pattern, the path or the glob]`;
  return {
    payload: { type: 'file_search', pattern: input.pattern, path: rel, matches, truncated },
    result,
    isError: false,
    changed: [],
  };
}

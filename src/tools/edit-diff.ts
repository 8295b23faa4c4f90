/**
 * @module tools/edit-diff
 * The record of a file change: a unified diff (git-style a/ b/ paths, 3 lines of context) and the line ranges of the
 * new file that changed, which the checkpoint message quotes ("Modified lines 45-52").
 */
import { createTwoFilesPatch, FILE_HEADERS_ONLY, structuredPatch } from 'diff';
import type { LineRange } from '../steps/types.js';

export function unifiedDiff(relPath: string, before: string | null, after: string): string {
  return createTwoFilesPatch(
    before === null ? '/dev/null' : `a/${relPath}`,
    `b/${relPath}`,
    before ?? '',
    after,
    undefined,
    undefined,
    { headerOptions: FILE_HEADERS_ONLY, context: 3 },
  );
}

function lineCount(text: string): number {
  if (text === '') return 0;
  const n = text.split('\n').length;
  return text.endsWith('\n') ? n - 1 : n;
}

/**
 * Changed ranges in the new file, merged when they touch. A pure deletion is reported at the line
 * that now stands where the removed lines were.
 */
export function modifiedLines(before: string, after: string): LineRange[] {
  const total = lineCount(after);
  if (total === 0) return [];
  const { hunks } = structuredPatch('a', 'b', before, after, undefined, undefined, { context: 0 });
  const ranges: LineRange[] = [];
  for (const h of hunks) {
    let range: LineRange;
    if (h.newLines > 0) range = [h.newStart, h.newStart + h.newLines - 1];
    else {
      const at = Math.min(Math.max(h.newStart, 1), total);
      range = [at, at];
    }
    const last = ranges[ranges.length - 1];
    if (last && range[0] <= last[1] + 1) last[1] = Math.max(last[1], range[1]);
    else ranges.push(range);
  }
  return ranges;
}

/** "45-52, 60" */
export function formatRanges(ranges: LineRange[]): string {
  return ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ');
}

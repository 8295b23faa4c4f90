/**
 * @module web/lib/markers
 * A rollback or branch intervention in words. The engine records it as JSON (`reason`,
 * `from_step`, `to_step`, `branch`); the trace shows a sentence whose step numbers are links.
 */

/** A piece of a marker sentence: text, or a step number the reader can jump to. */
export type MarkerPart = string | { step: number };

interface MoveRecord {
  reason: string | null;
  from_step: number | null;
  to_step: number;
  branch: string | null;
}

function parseMove(content: string | null): MoveRecord | null {
  if (!content) return null;
  try {
    const v = JSON.parse(content) as Record<string, unknown>;
    if (typeof v !== 'object' || v === null || typeof v.to_step !== 'number') return null;
    return {
      reason: typeof v.reason === 'string' && v.reason ? v.reason : null,
      from_step: typeof v.from_step === 'number' ? v.from_step : null,
      to_step: v.to_step,
      branch: typeof v.branch === 'string' ? v.branch : null,
    };
  } catch {
    // Text that is not a marker's JSON is shown as it is, not parsed.
    return null;
  }
}

/**
 * "Rolled back from step 10 to step 6 on branch-A." / "Branched at step 6 into branch-B,
 * leaving step 10 on the old branch." — with the reason after, when one was given.
 * Null when the content is not a move record (then the raw text is shown as it was).
 */
export function moveSentence(
  type: 'rollback' | 'branch',
  content: string | null,
  /** The move went back before step 0 (the intervention sits at no step). */
  atStart: boolean,
): MarkerPart[] | null {
  const m = parseMove(content);
  if (!m) return null;
  const at: MarkerPart[] = atStart ? ['the start'] : [{ step: m.to_step }];
  const parts: MarkerPart[] =
    type === 'branch'
      ? ['Branched at ', ...at, m.branch ? ` into ${m.branch}` : '']
      : ['Rolled back ', ...(m.from_step !== null ? ['from ', { step: m.from_step }, ' '] : []), 'to ', ...at];
  if (type === 'branch' && m.from_step !== null) parts.push(', leaving ', { step: m.from_step }, ' on the old branch');
  if (type === 'rollback' && m.branch) parts.push(` on ${m.branch}`);
  parts.push('.');
  if (m.reason) parts.push(` Reason: “${m.reason}”`);
  return parts.filter((p) => p !== '');
}

/**
 * @module export/index
 * Runs the exporters: every format by name, as a stream of JSONL lines over a store (one session
 * in memory at a time). Every string in a line is cleaned (redact.ts) before it is encoded.
 * Keeping `output/` equal to the store is sync.ts.
 */
import { EXPORT_FORMATS, type ExportFormat } from '../config/schema.js';
import type { SessionRecord, Store } from '../store/types.js';
import { branchPreferences } from './formats/branch-preferences.js';
import { codeReview } from './formats/code-review.js';
import { dpo, dpoStep } from './formats/dpo.js';
import { prmFromBranches } from './formats/prm-from-branches.js';
import { prmStepwise } from './formats/prm-stepwise.js';
import { trajectories } from './formats/trajectories.js';
import { prepareFinalDiffs } from './provenance.js';
import { loadSession } from './session-data.js';
import { ExportError, type Exporter, type ExportOptions } from './types.js';

export { ExportError, type ExportOptions } from './types.js';

export const EXPORTERS: Record<ExportFormat, Exporter> = {
  trajectories,
  branch_preferences: branchPreferences,
  prm_from_branches: prmFromBranches,
  code_review: codeReview,
  dpo,
  dpo_step: dpoStep,
  prm_stepwise: prmStepwise,
};

/** Formats that read `flattenBranches`. */
export const FLATTENABLE: readonly ExportFormat[] = ['trajectories'];

export function parseFormat(name: string): ExportFormat {
  if ((EXPORT_FORMATS as readonly string[]).includes(name)) return name as ExportFormat;
  throw new ExportError(`unknown export format "${name}": use one of ${EXPORT_FORMATS.join(', ')}`);
}

/** Every item of an async iterable, in order (Array.fromAsync, which Node 20 lacks). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** The JSONL lines (without newline) of one session in one format. */
export async function* sessionLines(
  store: Store,
  sessionId: string,
  format: ExportFormat,
  opts: ExportOptions = {},
  session?: SessionRecord | null,
): AsyncGenerator<string> {
  const data = await loadSession(store, sessionId, session);
  if (!data) throw new ExportError(`no session ${sessionId} in the store`);
  await prepareFinalDiffs(data);
  yield* EXPORTERS[format](data, opts);
}

/** The lines of every session in the store, oldest session first, one session loaded at a time. */
export async function* exportLines(
  store: Store,
  format: ExportFormat,
  opts: ExportOptions = {},
): AsyncGenerator<string> {
  for (const s of await store.listSessions()) yield* sessionLines(store, s.id, format, opts, s);
}

/** One session's lines in each of several formats, the session read from the store once. */
export async function sessionLinesByFormat(
  store: Store,
  sessionId: string,
  formats: readonly ExportFormat[],
  opts: ExportOptions = {},
  session?: SessionRecord | null,
): Promise<Map<ExportFormat, string[]>> {
  const data = await loadSession(store, sessionId, session);
  if (!data) throw new ExportError(`no session ${sessionId} in the store`);
  await prepareFinalDiffs(data);
  return new Map(formats.map((f) => [f, [...EXPORTERS[f](data, opts)]]));
}

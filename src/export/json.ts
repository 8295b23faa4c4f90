/**
 * @module export/json
 * Builds export lines from pieces already serialised. A step appears on several branch paths
 * (and so in several lines): its JSON is made once per session and spliced into every line
 * that holds it. The text is exactly what JSON.stringify would give for the same object.
 * RawJson pieces are cleaned (redact.ts) when they are made; other values when they are encoded.
 */
import { cleanValue, type StringCleaner } from './redact.js';

/** A value that is already JSON text. */
export class RawJson {
  constructor(readonly json: string) {}
}

/** A JSON array of values already serialised. */
export const rawArray = (items: readonly string[]): RawJson => new RawJson(`[${items.join(',')}]`);

/**
 * JSON of a record whose values may be RawJson: keys in insertion order, undefined values left
 * out, as JSON.stringify does. Only the top level is walked; nested values go to JSON.stringify.
 */
export function recordJson(rec: Record<string, unknown>, clean?: StringCleaner): string {
  let out = '';
  for (const key in rec) {
    const v = rec[key];
    if (v === undefined) continue;
    const json = v instanceof RawJson ? v.json : JSON.stringify(clean ? cleanValue(v, clean) : v);
    out += `${out ? ',' : '{'}${JSON.stringify(key)}:${json}`;
  }
  return out ? `${out}}` : '{}';
}

/** Put fields at the front of a JSON object's text (`{…}` with at least one key). */
export function prefixJson(rec: Record<string, unknown>, objectJson: string): string {
  const head = recordJson(rec);
  return head === '{}' ? objectJson : `${head.slice(0, -1)},${objectJson.slice(1)}`;
}

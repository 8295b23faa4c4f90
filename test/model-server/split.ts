/**
 * @module test/model-server/split
 * Cuts text into delta pieces so that every client sees a real multi-chunk stream.
 */

export function pieces(text: string, size = 8): string[] {
  if (text === '') return [];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

let counter = 0;
/** Unique, readable ids in the provider's style (toolu_…, call_…, msg_…). */
export function makeId(prefix: string): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter.toString(36).padStart(4, '0')}`;
}

export function argumentsText(call: { input?: Record<string, unknown>; raw_arguments?: string }): string {
  return call.raw_arguments ?? JSON.stringify(call.input ?? {});
}

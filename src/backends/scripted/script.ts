/**
 * @module backends/scripted/script
 * The script format of the scripted agent: model turns in order, plus alternative
 * continuations chosen by the annotator's latest instruction. Validated with zod so a typo in
 * a script names the key, like a config error.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { TOOL_NAMES } from '../../config/schema.js';

const toolCall = z
  .partialRecord(z.enum(TOOL_NAMES), z.record(z.string(), z.unknown()))
  .refine((o) => Object.keys(o).length === 1, 'one tool per entry, e.g. {file_read: {path: x}}');

const turn = z.strictObject({
  thinking: z.string().optional(),
  text: z.string().optional(),
  tool_calls: z.array(toolCall).default([]),
  /** Make this turn's tool call arguments unparsable, to exercise bad-tool-call handling. */
  malformed: z.boolean().default(false),
});

export const scriptSchema = z.strictObject({
  description: z.string().optional(),
  turns: z.array(turn).min(1),
  /** When the latest instruction on the path matches `when` (a case-insensitive regex), play `turns` from there. */
  on_instruction: z.array(z.strictObject({ when: z.string().min(1), turns: z.array(turn).min(1) })).default([]),
});

export type Script = z.output<typeof scriptSchema>;
export type ScriptTurn = z.output<typeof turn>;

export function loadScript(path: string): Script {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the agent script ${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = scriptSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
      .slice(0, 5)
      .join('; ');
    throw new Error(`the agent script ${path} is not valid: ${first}`);
  }
  return parsed.data;
}

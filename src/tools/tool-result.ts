/**
 * @module tools/tool-result
 * What a tool implementation returns, and the error it throws for a failure the model should
 * hear about (missing file, ambiguous edit…). executeTool turns either into a ToolOutcome.
 */
import type { ToolOutcome } from './types.js';

export type ToolResult = ToolOutcome;

/** A tool failure explained to the model; becomes an `error` step of kind tool_error. */
export class ToolFailure extends Error {
  override name = 'ToolFailure';
}

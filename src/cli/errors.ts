/**
 * @module cli/errors
 * Typed user errors for the command line. main.ts maps them, and ConfigError, to exit code 2
 * with the message alone; anything else is a bug or an outside failure and exits 1.
 */
import { ConfigError } from '../config/errors.js';

/** The command was called wrongly (a bad option value, a missing file argument…). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Errors that are the user's to fix: message only, exit code 2. */
export function isUserError(err: unknown): err is UsageError | ConfigError {
  return err instanceof UsageError || err instanceof ConfigError;
}

export { ConfigError };

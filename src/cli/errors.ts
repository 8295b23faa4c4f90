/**
 * @module cli/errors
 * Typed user errors for the command line and the one map from an error code to an exit code:
 * 2 when the user must fix the command or the config (the message alone is printed), 1 for a
 * failure at run time (a backend, Docker, git, the store) or anything that is not a PotatoError.
 */
import { type ErrorCode, errorCode, PotatoError } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The command was called wrongly (a bad option value, a missing file argument…). */
export class UsageError extends PotatoError<'usage'> {
  override readonly name = 'UsageError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'usage', options);
  }
}

/** The one map from an error code to the exit code of `potato`. */
export const EXIT_CODE: Record<ErrorCode, typeof EXIT_FAILURE | typeof EXIT_USAGE> = {
  bad_request: EXIT_USAGE,
  validation: EXIT_USAGE,
  not_found: EXIT_USAGE,
  too_large: EXIT_USAGE,
  unsupported_media_type: EXIT_USAGE,
  usage: EXIT_USAGE,
  config: EXIT_USAGE,
  outside_workspace: EXIT_USAGE,
  reason_required: EXIT_USAGE,
  command_unparsable: EXIT_USAGE,
  unauthorized: EXIT_FAILURE,
  forbidden: EXIT_FAILURE,
  disabled: EXIT_FAILURE,
  invalid_state: EXIT_FAILURE,
  branch_limit: EXIT_FAILURE,
  conflict: EXIT_FAILURE,
  too_many_attempts: EXIT_FAILURE,
  unreachable: EXIT_FAILURE,
  model_missing: EXIT_FAILURE,
  auth: EXIT_FAILURE,
  rate_limited: EXIT_FAILURE,
  server: EXIT_FAILURE,
  bad_response: EXIT_FAILURE,
  unavailable: EXIT_FAILURE,
  io: EXIT_FAILURE,
  git_failed: EXIT_FAILURE,
  checkpoint_failed: EXIT_FAILURE,
  store_failed: EXIT_FAILURE,
  session_failed: EXIT_FAILURE,
  internal: EXIT_FAILURE,
};

/** The exit code for an error that ended a command (commander's own errors are handled by main). */
export function exitCodeFor(err: unknown): typeof EXIT_FAILURE | typeof EXIT_USAGE {
  return EXIT_CODE[errorCode(err)];
}

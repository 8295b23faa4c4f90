/**
 * @module server/errors
 * Errors a request can end in, as types, the one map from an error code to an HTTP status, and
 * the one function that turns any error into a status and a JSON body `{error, code}`. Routes
 * throw; they never pick a status themselves.
 */
import { ZodError } from 'zod';
import { type ErrorCode, errorCode, PotatoError } from '../errors.js';
import { ValidationError } from '../session/annotations.js';

export type ApiErrorCode = ErrorCode;

/** An error a route throws on its own account; the status comes from its code. */
export class ApiError extends PotatoError {
  override readonly name: string = 'ApiError';
}

export class UnauthorizedError extends ApiError {
  constructor(message = 'not logged in: POST /api/login first') {
    super(message, 'unauthorized');
  }
}

/** A request from a page that is not this site (see server/boundary.ts). */
export class ForbiddenError extends ApiError {
  constructor(message: string) {
    super(message, 'forbidden');
  }
}

/** The JSON API reads only `application/json`; `got` is the Content-Type that came. */
export class UnsupportedMediaTypeError extends ApiError {
  constructor(got: string) {
    super(`send the body as JSON with Content-Type: application/json (got ${got})`, 'unsupported_media_type');
  }
}

/** Too many failed logins for one name from one address: wait before trying again. */
export class TooManyAttemptsError extends ApiError {
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed logins: try again in ${retryAfterSeconds} s`, 'too_many_attempts');
  }
}

/** Also used for another annotator's session: its existence is not revealed. */
export class NotFoundError extends ApiError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'not_found', options);
  }
}

export class BadRequestError extends ApiError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'bad_request', options);
  }
}

/** An annotation answer that does not fit its scheme; the message names the scheme. */
export { ValidationError };

type Status = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500 | 502 | 503;

/** The one map from an error code to an HTTP status. 5xx answers hide the message (see errorAnswer). */
export const HTTP_STATUS: Record<ErrorCode, Status> = {
  bad_request: 400,
  validation: 400,
  config: 400,
  usage: 400,
  outside_workspace: 400,
  reason_required: 400,
  command_unparsable: 400,
  unauthorized: 401,
  forbidden: 403,
  disabled: 403,
  not_found: 404,
  invalid_state: 409,
  branch_limit: 409,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  too_many_attempts: 429,
  // The model backend failed, not this server: a gateway error.
  unreachable: 502,
  model_missing: 502,
  auth: 502,
  server: 502,
  bad_response: 502,
  rate_limited: 503,
  unavailable: 503,
  io: 500,
  git_failed: 500,
  checkpoint_failed: 500,
  store_failed: 500,
  session_failed: 500,
  internal: 500,
};

export interface ErrorAnswer {
  status: Status;
  body: { error: string; code: ApiErrorCode; scheme?: string };
  /** True when the cause is ours, not the user's: the real message goes to the log only. */
  internal: boolean;
}

/** What a 5xx answer says: its message and cause may hold paths, commands or a backend's reply. */
const INTERNAL_BODY = { error: 'internal error: see the server log', code: 'internal' } as const;

/** The single mapping from an error's type to what the client is told. */
export function errorAnswer(err: unknown): ErrorAnswer {
  if (err instanceof PotatoError) {
    const code = errorCode(err);
    const status = HTTP_STATUS[code];
    if (status >= 500) return { status, body: { ...INTERNAL_BODY }, internal: true };
    const body: ErrorAnswer['body'] = { error: err.message, code };
    if (err instanceof ValidationError && err.scheme) body.scheme = err.scheme;
    return { status, body, internal: false };
  }
  if (err instanceof ZodError) {
    const first = err.issues[0];
    const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
    return {
      status: 400,
      body: { error: `bad request body: ${where}${first?.message ?? 'invalid'}`, code: 'bad_request' },
      internal: false,
    };
  }
  return { status: 500, body: { ...INTERNAL_BODY }, internal: true };
}

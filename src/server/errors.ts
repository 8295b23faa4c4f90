/**
 * @module server/errors
 * Errors a request can end in, as types, and the one function that turns any error into an HTTP
 * status and a JSON body `{error, code}`. Routes throw; they never pick a status themselves.
 */
import { ZodError } from 'zod';
import { ConfigError } from '../config/errors.js';
import { ControlError, type ControlErrorCode } from '../session/types.js';

export type ApiErrorCode =
  | ControlErrorCode
  | 'unauthorized'
  | 'forbidden'
  | 'validation'
  | 'too_large'
  | 'unsupported_media_type'
  | 'too_many_attempts'
  | 'internal';

/** An error whose message is meant for the user; the status comes from its code. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly code: ApiErrorCode,
  ) {
    super(message);
  }
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
  constructor(message: string) {
    super(message, 'not_found');
  }
}

export class BadRequestError extends ApiError {
  constructor(message: string) {
    super(message, 'bad_request');
  }
}

/** An annotation answer that does not fit its scheme; the message names the scheme. */
export class ValidationError extends ApiError {
  constructor(
    message: string,
    readonly scheme?: string,
  ) {
    super(message, 'validation');
  }
}

type Status = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500;

const STATUS: Record<ApiErrorCode, Status> = {
  unauthorized: 401,
  forbidden: 403,
  disabled: 403,
  invalid_state: 409,
  branch_limit: 409,
  reason_required: 400,
  bad_request: 400,
  validation: 400,
  not_found: 404,
  too_large: 413,
  unsupported_media_type: 415,
  too_many_attempts: 429,
  internal: 500,
};

export interface ErrorAnswer {
  status: Status;
  body: { error: string; code: ApiErrorCode; scheme?: string };
  /** True when the cause is ours, not the user's: the real message goes to the log only. */
  internal: boolean;
}

/** The single mapping from an error's type to what the client is told. */
export function errorAnswer(err: unknown): ErrorAnswer {
  if (err instanceof ValidationError) {
    const body: ErrorAnswer['body'] = { error: err.message, code: err.code };
    if (err.scheme) body.scheme = err.scheme;
    return { status: STATUS[err.code], body, internal: false };
  }
  if (err instanceof ApiError || err instanceof ControlError) {
    return { status: STATUS[err.code], body: { error: err.message, code: err.code }, internal: false };
  }
  if (err instanceof ConfigError) {
    return { status: 400, body: { error: err.message, code: 'validation' }, internal: false };
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
  return { status: 500, body: { error: 'internal error: see the server log', code: 'internal' }, internal: true };
}

/**
 * @module errors
 * The one base of every error the product throws on purpose: `PotatoError` carries a `code`
 * from the single list below and, when it wraps another failure, that failure as the standard
 * `cause`. The server maps the code to an HTTP status (server/errors.ts), the CLI to an exit
 * code (cli/errors.ts); both maps are `Record<ErrorCode, …>`, so a new code does not compile
 * until it has both. Messages say what to do, since users read them. No Node imports: the web
 * bundle reaches this file through the config schema.
 */
/** Every error code, grouped by who can fix it. The HTTP and exit-code maps key on this list. */
export const ERROR_CODES = [
  // The request or command was wrong: the caller fixes it.
  'bad_request',
  'validation',
  'not_found',
  'too_large',
  'unsupported_media_type',
  'usage',
  'config',
  'outside_workspace',
  'reason_required',
  // Refused by policy or by state: asking again later or differently may work.
  'unauthorized',
  'forbidden',
  'disabled',
  'invalid_state',
  'branch_limit',
  'conflict',
  'too_many_attempts',
  // The model backend: its host, key, model or answers.
  'unreachable',
  'model_missing',
  'auth',
  'rate_limited',
  'server',
  'bad_response',
  // Our own parts or the machine failed: the server log has the cause.
  'unavailable',
  'io',
  'git_failed',
  'checkpoint_failed',
  'store_failed',
  'command_unparsable',
  'session_failed',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error with a code a program can branch on, a message a person can act on, and its cause. */
export class PotatoError<C extends ErrorCode = ErrorCode> extends Error {
  override name = 'PotatoError';
  readonly code: C;
  constructor(message: string, code: C, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** The code of any error: a PotatoError's own, `internal` for everything else. */
export function errorCode(err: unknown): ErrorCode {
  return err instanceof PotatoError ? err.code : 'internal';
}

/** `err`, then its cause, that one's cause…, at most 8 (a cause chain can be circular). */
export function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (
    let cur: unknown = err;
    cur !== undefined && chain.length < 8;
    cur = cur instanceof Error ? cur.cause : undefined
  ) {
    chain.push(cur);
  }
  return chain;
}

/**
 * An error for a log line: its stack, then each `cause` below it. Logs only: a cause may hold
 * paths, commands or a backend's answer.
 */
export function describeError(err: unknown): string {
  return causeChain(err)
    .map((e) => (e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e)))
    .join('\ncaused by: ');
}

/** Where reportIgnored writes; tests and, later, the structured logger replace it. */
export type IgnoredSink = (line: string) => void;

// console.error is stderr in Node; the structured logger takes over through setIgnoredSink.
let ignoredSink: IgnoredSink = (line) => console.error(line);

/** Point reportIgnored elsewhere (the server's logger, a test's array); returns the previous sink. */
export function setIgnoredSink(sink: IgnoredSink): IgnoredSink {
  const previous = ignoredSink;
  ignoredSink = sink;
  return previous;
}

/**
 * A failure the caller goes on without (cleanup on shutdown, a best-effort side task) but that
 * someone should be able to see: one line naming what was being done, with the cause chain.
 */
export function reportIgnored(err: unknown, context: string): void {
  ignoredSink(`potato: ignored while ${context}: ${describeError(err)}`);
}

/** For `.catch(ignored('closing the sandbox'))`: the same as reportIgnored, as a handler. */
export function ignored(context: string): (err: unknown) => void {
  return (err) => reportIgnored(err, context);
}

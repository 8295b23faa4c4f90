/**
 * @module backends/retry
 * Retries a model request on 429 and 5xx with exponential backoff (or the server's
 * Retry-After), and a stream that fails midway with an error the provider marks as transient
 * (Anthropic's overloaded_error, OpenAI's server_error), telling the annotator through a status
 * event instead of failing. A retried stream first yields an `error` part, so what it streamed
 * is kept as a failed attempt and not duplicated.
 */
import type { ModelEvent } from './types.js';

export interface RetryPolicy {
  /** Retries after the first attempt (anthropic.max_retries; 4 by default). */
  maxRetries: number;
  /** First backoff; doubled on each retry. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 4, baseDelayMs: 1000, maxDelayMs: 30_000 };

/**
 * What the provider said about a failed request: its HTTP status and Retry-After seconds, or,
 * for an error inside a stream (no status), its error type and whether it is transient.
 */
export interface FailureInfo {
  status?: number;
  retryAfterSeconds?: number;
  /** The provider's error type in a stream's error event (overloaded_error, server_error…). */
  streamError?: { type: string; message: string; retryable: boolean };
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function describe(info: FailureInfo): string {
  if (info.streamError) return `${info.streamError.type} mid-stream`;
  const status = info.status ?? 0;
  if (status === 429) return `rate limited (${status})`;
  if (status === 529) return `overloaded (${status})`;
  return `server error (${status})`;
}

export function formatDelay(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms)} ms`;
}

export function backoffDelay(attempt: number, policy: RetryPolicy, retryAfterSeconds?: number): number {
  if (retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0) {
    return Math.min(retryAfterSeconds * 1000, policy.maxDelayMs);
  }
  return Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function retryable(info: FailureInfo): boolean {
  if (info.streamError) return info.streamError.retryable;
  return info.status !== undefined && isRetryableStatus(info.status);
}

/**
 * Runs whole attempts of a turn (open the request, stream it) until one completes. A failure
 * the provider marks as transient is retried with backoff whether it came before the stream or
 * inside it; an attempt that had already streamed parts is closed with an `error` part first.
 */
export async function* streamWithRetry(
  attempt: () => AsyncIterable<ModelEvent>,
  failureOf: (error: unknown) => FailureInfo | null,
  policy: RetryPolicy,
  signal: AbortSignal,
): AsyncGenerator<ModelEvent> {
  for (let n = 0; ; n++) {
    let streamed = false;
    try {
      for await (const ev of attempt()) {
        if (ev.type !== 'status') streamed = true;
        yield ev;
      }
      return;
    } catch (error) {
      const info = failureOf(error);
      if (!info || !retryable(info) || n >= policy.maxRetries || signal.aborted) throw error;
      const delay = backoffDelay(n, policy, info.retryAfterSeconds);
      const what = describe(info);
      if (streamed) yield { type: 'error', message: info.streamError ? `${what}: ${info.streamError.message}` : what };
      yield { type: 'status', message: `${what}, retrying in ${formatDelay(delay)}` };
      await sleep(delay, signal);
    }
  }
}

/** Reads Retry-After (seconds or an HTTP date) from a fetch Headers object. */
export function retryAfterFrom(headers: Headers | undefined | null): number | undefined {
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

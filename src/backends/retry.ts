/**
 * @module backends/retry
 * Retries the opening of a model request on 429 and 5xx with exponential backoff (or the
 * server's Retry-After), telling the annotator through a status event instead of failing.
 * Only the opening is retried: once events have streamed, a retry would duplicate them.
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

/** What the provider said about a failed request: its HTTP status and Retry-After seconds. */
export interface FailureInfo {
  status: number;
  retryAfterSeconds?: number;
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function describe(status: number): string {
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

/**
 * Calls `open` until it succeeds, the failure is not retryable, or the retries run out; yields a
 * status event before each wait. Use as `const stream = yield* openWithRetry(...)`.
 */
export async function* openWithRetry<T>(
  open: () => Promise<T>,
  failureOf: (error: unknown) => FailureInfo | null,
  policy: RetryPolicy,
  signal: AbortSignal,
): AsyncGenerator<ModelEvent, T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      const info = failureOf(error);
      if (!info || !isRetryableStatus(info.status) || attempt >= policy.maxRetries || signal.aborted) throw error;
      const delay = backoffDelay(attempt, policy, info.retryAfterSeconds);
      yield { type: 'status', message: `${describe(info.status)}, retrying in ${formatDelay(delay)}` };
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

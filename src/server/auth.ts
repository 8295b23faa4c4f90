/**
 * @module server/auth
 * Login against the configured annotators and the server-side session map. The browser holds
 * only a random id in an httpOnly, SameSite=Strict cookie; who it belongs to lives here, so a
 * logout or a restart ends it.
 */
import { randomBytes } from 'node:crypto';
import { parse as parseCookies, serialize } from 'hono/utils/cookie';
import { hashPassword, verifyPasswordAsync } from '../config/passwords.js';
import type { Annotator } from '../config/types.js';
import { TooManyAttemptsError } from './errors.js';

export const COOKIE_NAME = 'potato_sid';

/** A login lasts this long without use; every request renews it. */
export const IDLE_MS = 12 * 60 * 60 * 1000;

/** Failed logins for one name from one address before each further try has to wait. */
const FREE_FAILURES = 5;
/** The wait doubles with each failure past the free ones, up to this. */
const MAX_LOCK_MS = 15 * 60 * 1000;
/** A name and address with no failure for this long start afresh. */
const FAILURE_MEMORY_MS = 60 * 60 * 1000;

interface Failures {
  /** Attempts that failed or are still being checked: charged before the hash, so parallel tries count. */
  count: number;
  last: number;
  lockedUntil: number;
}

interface LoginSession {
  username: string;
  lastUsed: number;
}

/** Why a login ended, for whoever holds something open for it (the live sockets). */
export type LoginEnd = 'logged out' | 'login expired';

export interface AuthOptions {
  /** Milliseconds since the epoch; injectable so tests move time instead of sleeping. */
  now?: () => number;
}

/** Failure records kept before old ones are swept (a flood of made-up names must not grow memory). */
const MAX_FAILURE_RECORDS = 10_000;

export class Auth {
  private readonly sessions = new Map<string, LoginSession>();
  private dummyHash: string | undefined;
  private readonly failures = new Map<string, Failures>();
  private readonly endListeners = new Set<(sid: string, why: LoginEnd) => void>();
  private readonly now: () => number;

  constructor(
    private readonly annotators: readonly Annotator[],
    opts: AuthOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * The new session id, or undefined for a wrong name or password (which of the two is not said).
   * Throws TooManyAttemptsError while `username` from `address` is locked out after failures.
   *
   * The check and the charge of an attempt happen in one synchronous turn before the hash is
   * awaited: a burst of parallel guesses is counted one by one, and once the count passes the
   * free failures every further attempt, the right password included, waits out the lock.
   */
  async login(username: string, password: string, address = ''): Promise<string | undefined> {
    const key = `${username}\0${address}`;
    const now = this.now();
    let f = this.failures.get(key);
    if (f && now - f.last > FAILURE_MEMORY_MS) {
      this.failures.delete(key);
      f = undefined;
    }
    if (f && f.lockedUntil > now) throw new TooManyAttemptsError(Math.ceil((f.lockedUntil - now) / 1000));
    if (!f) {
      if (this.failures.size >= MAX_FAILURE_RECORDS) this.forgetOldFailures(now);
      f = { count: 0, last: now, lockedUntil: 0 };
      this.failures.set(key, f);
    }
    // Charged as a failure now; refunded below if the password is right.
    f.count++;
    f.last = now;
    if (f.count > FREE_FAILURES) f.lockedUntil = now + Math.min(MAX_LOCK_MS, 1000 * 2 ** (f.count - FREE_FAILURES));

    const annotator = this.annotators.find((a) => a.username === username);
    // An unknown name costs the same scrypt as a known one, so timing does not reveal names.
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    const ok =
      (await verifyPasswordAsync(password, annotator?.password_hash ?? this.dummyHash)) && annotator !== undefined;
    if (!ok) return undefined;
    this.failures.delete(key);
    const sid = randomBytes(32).toString('base64url');
    this.sessions.set(sid, { username, lastUsed: this.now() });
    return sid;
  }

  private forgetOldFailures(now: number): void {
    for (const [key, f] of this.failures) {
      if (now - f.last > FAILURE_MEMORY_MS && f.lockedUntil <= now) this.failures.delete(key);
    }
  }

  /** Call `listener` whenever a login ends (logout or expiry). Returns the unsubscribe. */
  onLoginEnd(listener: (sid: string, why: LoginEnd) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  private end(sid: string, why: LoginEnd): void {
    if (!this.sessions.delete(sid)) return;
    for (const l of this.endListeners) l(sid, why);
  }

  logout(sid: string | undefined): void {
    if (sid) this.end(sid, 'logged out');
  }

  /** The annotator a session id belongs to, or undefined when it is unknown or expired. */
  userOf(sid: string | undefined): string | undefined {
    if (!sid) return undefined;
    const s = this.sessions.get(sid);
    if (!s) return undefined;
    const now = this.now();
    if (now - s.lastUsed > IDLE_MS) {
      this.end(sid, 'login expired');
      return undefined;
    }
    s.lastUsed = now;
    return s.username;
  }

  /** End every login idle for longer than the limit (run periodically, so open sockets close too). */
  sweep(): void {
    const now = this.now();
    for (const [sid, s] of this.sessions) if (now - s.lastUsed > IDLE_MS) this.end(sid, 'login expired');
  }

  /** The session id in a raw `Cookie:` header (the WebSocket upgrade has no hono context). */
  static sidOfCookieHeader(header: string | undefined): string | undefined {
    if (!header) return undefined;
    return parseCookies(header, COOKIE_NAME)[COOKIE_NAME];
  }
}

export function sessionCookie(sid: string): string {
  return serialize(COOKIE_NAME, sid, { httpOnly: true, sameSite: 'Strict', path: '/' });
}

export function clearedCookie(): string {
  return serialize(COOKIE_NAME, '', { httpOnly: true, sameSite: 'Strict', path: '/', maxAge: 0 });
}

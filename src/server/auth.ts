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
const IDLE_MS = 12 * 60 * 60 * 1000;

/** Failed logins for one name from one address before each further try has to wait. */
const FREE_FAILURES = 5;
/** The wait doubles with each failure past the free ones, up to this. */
const MAX_LOCK_MS = 15 * 60 * 1000;
/** A name and address with no failure for this long start afresh. */
const FAILURE_MEMORY_MS = 60 * 60 * 1000;

interface Failures {
  count: number;
  last: number;
  lockedUntil: number;
}

interface LoginSession {
  username: string;
  lastUsed: number;
}

export class Auth {
  private readonly sessions = new Map<string, LoginSession>();
  private dummyHash: string | undefined;
  private readonly failures = new Map<string, Failures>();

  constructor(private readonly annotators: readonly Annotator[]) {}

  /**
   * The new session id, or undefined for a wrong name or password (which of the two is not said).
   * Throws TooManyAttemptsError while `username` from `address` is locked out after failures.
   */
  async login(username: string, password: string, address = ''): Promise<string | undefined> {
    const key = `${username}\0${address}`;
    const now = Date.now();
    let f = this.failures.get(key);
    if (f && now - f.last > FAILURE_MEMORY_MS) {
      this.failures.delete(key);
      f = undefined;
    }
    if (f && f.lockedUntil > now) throw new TooManyAttemptsError(Math.ceil((f.lockedUntil - now) / 1000));
    const annotator = this.annotators.find((a) => a.username === username);
    // An unknown name costs the same scrypt as a known one, so timing does not reveal names.
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    const ok =
      (await verifyPasswordAsync(password, annotator?.password_hash ?? this.dummyHash)) && annotator !== undefined;
    if (!ok) {
      const count = (f?.count ?? 0) + 1;
      const wait = count > FREE_FAILURES ? Math.min(MAX_LOCK_MS, 1000 * 2 ** (count - FREE_FAILURES)) : 0;
      this.failures.set(key, { count, last: now, lockedUntil: now + wait });
      return undefined;
    }
    this.failures.delete(key);
    const sid = randomBytes(32).toString('base64url');
    this.sessions.set(sid, { username, lastUsed: Date.now() });
    return sid;
  }

  logout(sid: string | undefined): void {
    if (sid) this.sessions.delete(sid);
  }

  /** The annotator a session id belongs to, or undefined when it is unknown or expired. */
  userOf(sid: string | undefined): string | undefined {
    if (!sid) return undefined;
    const s = this.sessions.get(sid);
    if (!s) return undefined;
    const now = Date.now();
    if (now - s.lastUsed > IDLE_MS) {
      this.sessions.delete(sid);
      return undefined;
    }
    s.lastUsed = now;
    return s.username;
  }

  /** For a raw `Cookie:` header (the WebSocket upgrade has no hono context). */
  userOfCookieHeader(header: string | undefined): string | undefined {
    if (!header) return undefined;
    return this.userOf(parseCookies(header, COOKIE_NAME)[COOKIE_NAME]);
  }
}

export function sessionCookie(sid: string): string {
  return serialize(COOKIE_NAME, sid, { httpOnly: true, sameSite: 'Strict', path: '/' });
}

export function clearedCookie(): string {
  return serialize(COOKIE_NAME, '', { httpOnly: true, sameSite: 'Strict', path: '/', maxAge: 0 });
}

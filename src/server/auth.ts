/**
 * @module server/auth
 * Login against the configured annotators, the logins kept in the store. The browser holds only
 * a random id in an httpOnly, SameSite=Strict cookie; the store holds its SHA-256 and whose it
 * is, so every replica on the same database accepts the cookie, a restart logs nobody out, and
 * a logout anywhere ends it everywhere. Failed-login counts stay in this process's memory: a
 * lockout is per replica.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parse as parseCookies, serialize } from 'hono/utils/cookie';
import { hashPassword, verifyPasswordAsync } from '../config/passwords.js';
import type { Annotator } from '../config/types.js';
import type { Store } from '../store/types.js';
import { TooManyAttemptsError } from './errors.js';

export const COOKIE_NAME = 'potato_sid';

/** A login lasts this long without use; every request renews it. */
export const IDLE_MS = 12 * 60 * 60 * 1000;

/**
 * A use of a login is written to the store only when the last one recorded is older than this:
 * a page load makes dozens of requests, and the idle limit is hours.
 */
const TOUCH_MS = 60 * 1000;

/** What the store keeps of a login id: its SHA-256, never the id itself. */
export function loginHash(sid: string): string {
  return createHash('sha256').update(sid).digest('hex');
}

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

/** Why a login ended, for whoever holds something open for it (the live sockets). */
export type LoginEnd = 'logged out' | 'login expired';

export interface AuthOptions {
  /** Milliseconds since the epoch; injectable so tests move time instead of sleeping. */
  now?: () => number;
}

/** Failure records kept before old ones are swept (a flood of made-up names must not grow memory). */
const MAX_FAILURE_RECORDS = 10_000;

export class Auth {
  private dummyHash: string | undefined;
  private readonly failures = new Map<string, Failures>();
  private readonly endListeners = new Set<(sid: string, why: LoginEnd) => void>();
  private readonly now: () => number;

  constructor(
    private readonly annotators: readonly Annotator[],
    private readonly store: Store,
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
    const at = this.now();
    await this.store.createLogin({
      id_hash: loginHash(sid),
      username,
      created_at: at,
      last_seen_at: at,
      expires_at: at + IDLE_MS,
    });
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

  private async end(sid: string, why: LoginEnd): Promise<void> {
    await this.store.deleteLogin(loginHash(sid));
    this.ended(sid, why);
  }

  private ended(sid: string, why: LoginEnd): void {
    for (const l of this.endListeners) l(sid, why);
  }

  async logout(sid: string | undefined): Promise<void> {
    if (sid) await this.end(sid, 'logged out');
  }

  /** The annotator a session id belongs to, or undefined when it is unknown or expired. */
  async userOf(sid: string | undefined): Promise<string | undefined> {
    if (!sid) return undefined;
    const hash = loginHash(sid);
    const login = await this.store.getLogin(hash);
    if (!login) return undefined;
    const now = this.now();
    if (login.expires_at <= now) {
      await this.end(sid, 'login expired');
      return undefined;
    }
    // An annotator removed from the config since (and the server restarted) is logged out.
    if (!this.annotators.some((a) => a.username === login.username)) {
      await this.end(sid, 'logged out');
      return undefined;
    }
    if (now - login.last_seen_at >= TOUCH_MS) await this.store.touchLogin(hash, now, now + IDLE_MS);
    return login.username;
  }

  /**
   * End every login idle for longer than the limit (run periodically, so open sockets close too),
   * and tell the listeners about those of `open` (the logins this process holds sockets for) that
   * ended, here or on another replica (a logout there).
   */
  async sweep(open: Iterable<string> = []): Promise<void> {
    const expired = new Set(await this.store.deleteExpiredLogins(this.now()));
    for (const sid of [...open]) {
      const hash = loginHash(sid);
      if (expired.has(hash)) this.ended(sid, 'login expired');
      else if (!(await this.store.getLogin(hash))) this.ended(sid, 'logged out');
    }
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

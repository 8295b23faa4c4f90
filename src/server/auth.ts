/**
 * @module server/auth
 * Login against the configured annotators, the logins kept in the store. The browser holds only
 * a random id in an httpOnly, SameSite=Strict cookie; the store holds its SHA-256 and whose it
 * is, so every replica on the same database accepts the cookie, a restart logs nobody out, and
 * a logout anywhere ends it everywhere. Failed logins are counted in the store too, per name and
 * address: every replica on the database charges the same count (atomically, before the password
 * is checked), so N replicas give an attacker no more tries than one, and a restart forgets none.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parse as parseCookies, serialize } from 'hono/utils/cookie';
import { hashPassword, verifyPasswordAsync } from '../config/passwords.js';
import type { Annotator } from '../config/types.js';
import type { LoginFailures, Store } from '../store/types.js';
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
/** A name and address with no failure for this long start afresh (and their record is swept). */
const FAILURE_MEMORY_MS = 60 * 60 * 1000;

/**
 * The lockout policy: what a new attempt does to the stored failures of its name and address, or
 * null when it must wait (a lock is on). Every attempt is charged as a failure before the password
 * is checked, so parallel tries count one by one; a right password then clears the record.
 */
function chargeAttempt(stored: LoginFailures | null, now: number): Omit<LoginFailures, 'username' | 'address'> | null {
  const current = stored && now - stored.last_at <= FAILURE_MEMORY_MS ? stored : null;
  if (current && current.locked_until > now) return null;
  const count = (current?.count ?? 0) + 1;
  const locked_until = count > FREE_FAILURES ? now + Math.min(MAX_LOCK_MS, 1000 * 2 ** (count - FREE_FAILURES)) : 0;
  return { count, last_at: now, locked_until };
}

/** Why a login ended, for whoever holds something open for it (the live sockets). */
export type LoginEnd = 'logged out' | 'login expired';

export interface AuthOptions {
  /** Milliseconds since the epoch; injectable so tests move time instead of sleeping. */
  now?: () => number;
}

export class Auth {
  private dummyHash: string | undefined;
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
   * The check and the charge of an attempt are one atomic store operation before the hash is
   * computed: a burst of parallel guesses, on this replica or spread over several, is counted one
   * by one, and once the count passes the free failures every further attempt, the right password
   * included, waits out the lock.
   */
  async login(username: string, password: string, address = ''): Promise<string | undefined> {
    const now = this.now();
    // Charged as a failure now; cleared below if the password is right.
    const attempt = await this.store.chargeLoginAttempt(username, address, (stored) => chargeAttempt(stored, now));
    if (!attempt.charged) {
      const until = attempt.failures?.locked_until ?? now;
      throw new TooManyAttemptsError(Math.max(1, Math.ceil((until - now) / 1000)));
    }

    const annotator = this.annotators.find((a) => a.username === username);
    // An unknown name costs the same scrypt as a known one, so timing does not reveal names.
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    const ok =
      (await verifyPasswordAsync(password, annotator?.password_hash ?? this.dummyHash)) && annotator !== undefined;
    if (!ok) return undefined;
    await this.store.clearLoginFailures(username, address);
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
   * ended, here or on another replica (a logout there). Failed-login records past their memory go
   * too: a flood of made-up names does not grow the store for longer than that.
   */
  async sweep(open: Iterable<string> = []): Promise<void> {
    const now = this.now();
    await this.store.forgetLoginFailures(now - FAILURE_MEMORY_MS);
    const expired = new Set(await this.store.deleteExpiredLogins(now));
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

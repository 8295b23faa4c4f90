/**
 * @module config/passwords
 * Annotator passwords as scrypt hashes. A hash is a self-describing string
 * `scrypt$N$r$p$salt$hash` (salt and hash in base64), so the cost can be raised later and old
 * hashes still verify. The plain text is hashed when the config loads and kept nowhere.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/** Node's default cost: about 16 MiB and a few tens of milliseconds per hash. */
const DEFAULT_PARAMS = { N: 16384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Refuse to verify hashes whose cost would need more memory than this (a forged hash must not exhaust memory). */
const MAX_MEMORY = 256 * 1024 * 1024;

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function memoryFor(N: number, r: number, p: number): number {
  // scrypt needs 128·N·r bytes for its main buffer plus 128·r·p for the blocks; leave headroom.
  return 128 * N * r + 128 * r * p + 1024 * 1024;
}

/** Hash a password with a fresh random salt. */
export function hashPassword(plain: string): string {
  const { N, r, p } = DEFAULT_PARAMS;
  const salt = randomBytes(SALT_BYTES);
  const hash = scryptSync(plain.normalize('NFC'), salt, KEY_BYTES, { N, r, p, maxmem: memoryFor(N, r, p) });
  return ['scrypt', N, r, p, salt.toString('base64'), hash.toString('base64')].join('$');
}

function parseHash(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map((x) => Number(x)) as [number, number, number];
  const valid = [N, r, p].every((x) => Number.isSafeInteger(x) && x > 0);
  // N must be a power of two greater than 1 for scrypt.
  if (!valid || N < 2 || (N & (N - 1)) !== 0 || memoryFor(N, r, p) > MAX_MEMORY) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length === 0 || hash.length === 0) return undefined;
  return { N, r, p, salt, hash };
}

/** True when `stored` looks like a hash this module can verify. */
export function isPasswordHash(stored: string): boolean {
  return parseHash(stored) !== undefined;
}

/**
 * Check a password against a stored hash in constant time (for the comparison; scrypt's cost
 * does not depend on the password). A malformed hash never matches.
 */
export function verifyPassword(plain: string, stored: string): boolean {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const { N, r, p, salt, hash } = parsed;
  const candidate = scryptSync(plain.normalize('NFC'), salt, hash.length, { N, r, p, maxmem: memoryFor(N, r, p) });
  return timingSafeEqual(candidate, hash);
}

/** verifyPassword off the event loop (scrypt runs in libuv's thread pool): for the server. */
export function verifyPasswordAsync(plain: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return Promise.resolve(false);
  const { N, r, p, salt, hash } = parsed;
  return new Promise((resolve, reject) => {
    scrypt(plain.normalize('NFC'), salt, hash.length, { N, r, p, maxmem: memoryFor(N, r, p) }, (err, candidate) => {
      if (err) reject(err);
      else resolve(timingSafeEqual(candidate, hash));
    });
  });
}

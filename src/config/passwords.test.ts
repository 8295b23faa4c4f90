/**
 * @module config/passwords.test
 * Password hashes: self-describing, salted, verified only by the right password.
 */
import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashPassword, isPasswordHash, verifyPassword } from './passwords.js';

describe('hashPassword / verifyPassword', () => {
  it('produces scrypt$N$r$p$salt$hash that verifies the password and nothing else', () => {
    const hash = hashPassword('observer_pw_1');
    const [scheme, N, r, p, salt, key] = hash.split('$');
    expect(scheme).toBe('scrypt');
    expect([N, r, p]).toEqual(['16384', '8', '1']);
    expect(Buffer.from(salt!, 'base64')).toHaveLength(16);
    expect(Buffer.from(key!, 'base64')).toHaveLength(32);
    expect(hash).not.toContain('observer_pw_1');
    expect(verifyPassword('observer_pw_1', hash)).toBe(true);
    expect(verifyPassword('observer_pw_2', hash)).toBe(false);
    expect(verifyPassword('', hash)).toBe(false);
  });

  it('salts every hash: the same password hashes differently each time', () => {
    const a = hashPassword('same');
    const b = hashPassword('same');
    expect(a).not.toBe(b);
    expect(verifyPassword('same', a) && verifyPassword('same', b)).toBe(true);
  });

  it('treats composed and decomposed Unicode as the same password', () => {
    const hash = hashPassword('caf\u00e9');
    expect(verifyPassword('cafe\u0301', hash)).toBe(true);
  });

  it('honours the parameters written in the hash', () => {
    // A hash made with other costs still verifies: the string carries its own parameters.
    const hash = hashPassword('pw');
    const [, , , , salt] = hash.split('$');
    const cheap = scryptSync('pw', Buffer.from(salt!, 'base64'), 32, { N: 1024, r: 4, p: 2 });
    const other = `scrypt$1024$4$2$${salt}$${cheap.toString('base64')}`;
    expect(verifyPassword('pw', other)).toBe(true);
    expect(verifyPassword('px', other)).toBe(false);
  });

  it('never matches a malformed or hostile hash', () => {
    const good = hashPassword('pw');
    const parts = good.split('$');
    for (const bad of [
      '',
      'pw',
      'bcrypt$10$abc',
      parts.slice(0, 5).join('$'),
      ['scrypt', '1000', ...parts.slice(2)].join('$'), // N not a power of two
      ['scrypt', String(2 ** 30), ...parts.slice(2)].join('$'), // would need gigabytes
      ['scrypt', ...parts.slice(1, 5), ''].join('$'),
    ]) {
      expect(isPasswordHash(bad)).toBe(false);
      expect(verifyPassword('pw', bad)).toBe(false);
    }
    expect(isPasswordHash(good)).toBe(true);
  });
});

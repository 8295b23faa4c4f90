/**
 * @module config/secrets.test
 * Secrets come from the environment, and the printable config never holds one.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, MissingSecretError } from './errors.js';
import { loadConfig } from './load.js';
import { maskedConfig, readSecret } from './secrets.js';

const fixtures = path.resolve(import.meta.dirname, '../../test/fixtures/configs');

describe('readSecret', () => {
  it('returns the value of the named variable', () => {
    expect(
      readSecret('ANTHROPIC_API_KEY', 'live_coding_agent.anthropic.api_key_env', { ANTHROPIC_API_KEY: 'sk-1' }),
    ).toBe('sk-1');
  });

  it('says which variable is missing and which key to change, for unset and empty values', () => {
    for (const env of [{}, { ANTHROPIC_API_KEY: '' }]) {
      let error: unknown;
      try {
        readSecret('ANTHROPIC_API_KEY', 'live_coding_agent.anthropic.api_key_env', env);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(MissingSecretError);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toBe(
        'ANTHROPIC_API_KEY is not set: export it or change live_coding_agent.anthropic.api_key_env',
      );
    }
  });
});

describe('maskedConfig', () => {
  it('shows env var names with set / not set, hashes as <hashed>, and no secret value', () => {
    const cfg = loadConfig(path.join(fixtures, 'anthropic.yaml'));
    const secret = 'sk-ant-very-secret-value';
    const withKey = maskedConfig(cfg, { ANTHROPIC_API_KEY: secret });
    const text = stringify(withKey);
    expect((withKey.live_coding_agent as { anthropic: { api_key_env: string } }).anthropic.api_key_env).toBe(
      'ANTHROPIC_API_KEY (set)',
    );
    expect(withKey.annotators).toEqual([{ username: 'observer1', password_hash: '<hashed>', role: 'annotator' }]);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('observer_pw_1');
    expect(text).not.toContain(cfg.annotators[0]!.password_hash);

    const without = maskedConfig(cfg, {});
    expect((without.live_coding_agent as { anthropic: { api_key_env: string } }).anthropic.api_key_env).toBe(
      'ANTHROPIC_API_KEY (not set)',
    );
    // The loaded config itself is untouched.
    expect(cfg.live_coding_agent.anthropic!.api_key_env).toBe('ANTHROPIC_API_KEY');
  });

  it('shows the database URL variable as set or not, never its value', () => {
    const cfg = loadConfig(path.join(fixtures, 'minimal.yaml'));
    const withDb = { ...cfg, output: { ...cfg.output, database_url_env: 'POTATO_DATABASE_URL' } };
    const secret = 'postgresql://potato:hunter2@db.internal/potato';
    const masked = maskedConfig(withDb, { POTATO_DATABASE_URL: secret });
    expect((masked.output as { database_url_env: string }).database_url_env).toBe('POTATO_DATABASE_URL (set)');
    expect(stringify(masked)).not.toContain('hunter2');
  });

  it('masks credentials written into a URL', () => {
    const cfg = loadConfig(path.join(fixtures, 'minimal.yaml'));
    const withUrl = {
      ...cfg,
      live_coding_agent: {
        ...cfg.live_coding_agent,
        openai: {
          base_url: 'http://user:hunter2@127.0.0.1:8080/v1',
          model: 'm',
          temperature: 0,
          max_tokens: 1,
          max_tokens_param: 'max_completion_tokens' as const,
          send_reasoning_as: 'none' as const,
          tools: [],
        },
      },
    };
    const text = stringify(maskedConfig(withUrl, {}));
    expect(text).toContain('http://***:***@127.0.0.1:8080/v1');
    expect(text).not.toContain('hunter2');
  });
});

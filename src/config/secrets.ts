/**
 * @module config/secrets
 * The config names environment variables, never holds secrets. `readSecret` fetches one when a
 * backend needs it; `maskedConfig` gives the resolved config in a form safe to print or log.
 */
import { MissingSecretError } from './errors.js';
import type { PotatoConfig } from './types.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The value of the environment variable `envName`.
 * @param configKey the config key that names the variable (`live_coding_agent.anthropic.api_key_env`),
 *   so the error can say what to change.
 */
export function readSecret(envName: string, configKey: string, env: Env = process.env): string {
  const value = env[envName];
  // An empty value is as good as unset: no provider accepts an empty key.
  if (value === undefined || value === '') throw new MissingSecretError(envName, configKey);
  return value;
}

/** Keys whose value names an environment variable. */
const ENV_NAME_KEYS = new Set(['api_key_env', 'database_url_env']);

/**
 * The resolved config with password hashes shown as `<hashed>`, environment-variable names as
 * `NAME (set)` / `NAME (not set)`, and credentials inside URLs masked. Never contains a secret value.
 */
export function maskedConfig(cfg: PotatoConfig, env: Env = process.env): Record<string, unknown> {
  return maskValue(cfg, '', env) as Record<string, unknown>;
}

function maskValue(value: unknown, key: string, env: Env): unknown {
  if (Array.isArray(value)) return value.map((v) => maskValue(v, '', env));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskValue(v, k, env)]));
  }
  if (typeof value !== 'string') return value;
  if (ENV_NAME_KEYS.has(key)) return `${value} (${env[value] ? 'set' : 'not set'})`;
  if (key === 'password_hash' || key === 'password') return '<hashed>';
  return maskUrlCredentials(value);
}

function maskUrlCredentials(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value)) return value;
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    if (url.username) url.username = '***';
    return url.toString();
  } catch {
    // Not a URL: there is no user or password in it to hide.
    return value;
  }
}

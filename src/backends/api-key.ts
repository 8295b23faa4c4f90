/**
 * @module backends/api-key
 * Reads a provider key from the environment variable the config names, and keeps it out of
 * every message: errors say which variable to set, never what it holds.
 */
import { BackendError } from './types.js';

export function readApiKey(env: NodeJS.ProcessEnv, envName: string, what: string): string {
  const key = env[envName]?.trim();
  if (!key) {
    throw new BackendError(
      `${what} needs an API key: the environment variable ${envName} is not set. ` +
        `Export it before starting (export ${envName}=...), or name another variable in api_key_env.`,
      'config',
    );
  }
  return key;
}

/** Removes a secret from text that may echo it back (a proxy's error page, a stack trace). */
export function redact(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  return text.split(secret).join('[redacted]');
}

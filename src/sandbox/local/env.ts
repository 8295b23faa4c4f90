/**
 * @module sandbox/local/env
 * The environment a local sandbox command sees: the server's own, minus anything that looks
 * like a secret. The agent can print its environment, and what it prints is stored, shown to
 * annotators and exported, so a key must never be there to print.
 */

/**
 * A variable is dropped when its name (case-insensitive):
 * - starts with ANTHROPIC_, OPENAI_, CLAUDE_, AWS_, AZURE_, GOOGLE_, GCP_, HF_, HUGGING, POTATO_;
 * - contains KEY, TOKEN, SECRET, PASSWORD, PASSWD, CREDENTIAL, AUTH, SESSION, COOKIE or PRIVATE;
 * - ends with _DSN or _URL with credentials in it (user:pass@);
 * - is one of the names given in `extraSecretNames` (the config's api_key_env).
 */
const SECRET_PREFIX = /^(ANTHROPIC_|OPENAI_|CLAUDE_|AWS_|AZURE_|GOOGLE_|GCP_|HF_|HUGGING|POTATO_)/i;
const SECRET_PART = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|SESSION|COOKIE|PRIVATE)/i;
const URL_WITH_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]+:[^/@\s]*@/i;

export function isSecretName(name: string): boolean {
  return SECRET_PREFIX.test(name) || SECRET_PART.test(name);
}

/** Variables every command gets, so tools never wait for a pager or a password prompt. */
const FIXED: Record<string, string> = {
  PAGER: 'cat',
  GIT_PAGER: 'cat',
  GIT_TERMINAL_PROMPT: '0',
  TERM: 'dumb',
};

export function sandboxEnv(
  source: NodeJS.ProcessEnv = process.env,
  extraSecretNames: readonly string[] = [],
): Record<string, string> {
  const extra = new Set(extraSecretNames.map((n) => n.toUpperCase()));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (isSecretName(name) || extra.has(name.toUpperCase())) continue;
    if (URL_WITH_CREDENTIALS.test(value)) continue;
    env[name] = value;
  }
  return { ...env, ...FIXED };
}

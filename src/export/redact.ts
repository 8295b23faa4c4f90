/**
 * @module export/redact
 * Last line of defence for secrets in exports: the controller keeps API keys out of the store,
 * but a command's output (`env`, a config file the agent read) can still carry a credential.
 * Well-known key shapes are replaced in every exported line.
 */

// Anthropic/OpenAI (sk-…), AWS access key ids, GitHub, Slack and Hugging Face tokens, Bearer headers.
// No lookbehind and a literal prefix on every branch, so V8 scans for the first characters fast.
const SECRET =
  /\b(?:sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|hf_[A-Za-z0-9]{30,})|(Bearer )[A-Za-z0-9._~+/-]{20,}=*/g;

export const REDACTED = '[REDACTED]';

/** The text with every credential-shaped token replaced; JSON stays valid (only [A-Za-z0-9._~+/=-] runs are replaced). */
export function redactSecrets(text: string): string {
  return text.replace(SECRET, (_m, bearer: string | undefined) => (bearer ? `${bearer}${REDACTED}` : REDACTED));
}

/**
 * @module export/redact
 * Cleans every string of an exported line before it is encoded: credential-shaped tokens become
 * `[REDACTED]` and the session's absolute workspace path becomes relative (`.`). Working on the
 * values, not on the JSON text, means no escape (`\n`, `\t`, `\\`, `\"`, `\u…`) in front of a
 * key can hide it from the pattern. The controller keeps API keys out of the store; this is the
 * last line of defence for what a command printed or a file the agent read.
 */

// Anthropic/OpenAI (sk-…), AWS access key ids, GitHub, Slack and Hugging Face tokens, Bearer headers.
// No lookbehind and a literal prefix on every branch, so V8 scans for the first characters fast.
const SECRET =
  /\b(?:sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|hf_[A-Za-z0-9]{30,})|(Bearer )[A-Za-z0-9._~+/-]{20,}=*/g;
// Cheap pre-check: most strings hold none of the prefixes, and then the replace is skipped.
const MAYBE = /sk-|AKIA|gh[pousr]_|github_pat_|xox[abprs]-|hf_|Bearer /;

export const REDACTED = '[REDACTED]';

/** The text with every credential-shaped token replaced. */
export function redactSecrets(text: string): string {
  if (!MAYBE.test(text)) return text;
  return text.replace(SECRET, (_m, bearer: string | undefined) => (bearer ? `${bearer}${REDACTED}` : REDACTED));
}

/** Cleans one string: workspace paths made relative, then secrets redacted. */
export type StringCleaner = (text: string) => string;

/**
 * The cleaner for one session: each absolute path of its workspace (as recorded, and resolved
 * through symlinks when it still exists) is rewritten to `.`, so `/srv/out/workspaces/s1/src/a.py`
 * becomes `./src/a.py`, and secrets are redacted.
 */
export function sessionCleaner(workspaces: readonly string[]): StringCleaner {
  const roots = [...new Set(workspaces.filter((w) => w.length > 1).map((w) => w.replace(/\/+$/, '')))].sort(
    (a, b) => b.length - a.length,
  );
  if (roots.length === 0) return redactSecrets;
  // Only the whole folder name: `/w/s1` must not turn `/w/s12/x` into `.2/x`.
  const pattern = new RegExp(
    `(?:${roots.map((r) => r.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?![\\w.-])`,
    'g',
  );
  return (text) => {
    const out = roots.some((root) => text.includes(root)) ? text.replace(pattern, '.') : text;
    return redactSecrets(out);
  };
}

/** The JSON value with every string (keys too) cleaned; parts with nothing to clean are shared, not copied. */
export function cleanValue<T>(value: T, clean: StringCleaner): T {
  return cleanAny(value, clean) as T;
}

function cleanAny(value: unknown, clean: StringCleaner): unknown {
  if (typeof value === 'string') return clean(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      const c = cleanAny(v, clean);
      if (c !== v && !out) out = value.slice(0, i);
      if (out) out.push(c);
    }
    return out ?? value;
  }
  let out: Record<string, unknown> | null = null;
  const entries = Object.entries(value);
  for (let i = 0; i < entries.length; i++) {
    const [k, v] = entries[i]!;
    const ck = clean(k);
    const cv = cleanAny(v, clean);
    if ((ck !== k || cv !== v) && !out) out = Object.fromEntries(entries.slice(0, i));
    if (out) out[ck] = cv;
  }
  return out ?? value;
}

/**
 * @module backends/claude-agent-sdk/sdk
 * The Claude Agent SDK is an optional peer dependency (its bundled Claude Code binary is most
 * of a full install), so it is imported only when a claude_agent_sdk backend is built. A
 * missing package becomes an error that says how to install it.
 */
import { BackendError } from '../types.js';

export const SDK_PACKAGE = '@anthropic-ai/claude-agent-sdk';

export type ClaudeAgentSdk = typeof import('@anthropic-ai/claude-agent-sdk');

export const SDK_MISSING =
  `the claude_agent_sdk backend needs the optional package ${SDK_PACKAGE}, which is not installed: ` +
  `run \`npm install ${SDK_PACKAGE}\` in the Potato Live folder`;

/** Imports the SDK; rejects with a BackendError (code `config`) naming the install command when it is absent. */
export async function loadClaudeAgentSdk(): Promise<ClaudeAgentSdk> {
  try {
    return await import('@anthropic-ai/claude-agent-sdk');
  } catch (err) {
    if (isMissing(err)) throw new BackendError(SDK_MISSING, 'config');
    throw err;
  }
}

/** Node's answer when the package itself (not something inside it) cannot be found. */
function isMissing(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(`'${SDK_PACKAGE}'`);
}

/**
 * @module cli/validate
 * `potato validate CONFIG`: load the config and print it resolved (defaults applied, paths
 * absolute) as YAML with secrets masked; a bad config throws ConfigError, which main.ts reports.
 * A backend whose package is an optional peer dependency must also find it installed. Keys that
 * have no effect with the chosen backend or sandbox are warnings on stderr.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { ConfigError } from '../config/errors.js';
import { loadConfigWithWarnings } from '../config/load.js';
import { maskedConfig } from '../config/secrets.js';
import type { PotatoConfig } from '../config/types.js';
import { renderWarnings } from '../config/warnings.js';

/** Said for every local config: it is valid, and it is still not a boundary. */
export const LOCAL_SANDBOX_NOTE = [
  'note: sandbox.type local is not a security boundary; use docker for any model you do not trust.',
  '  As root, commands run as sandbox.local_user and cannot read the server environment (API keys), the store or /etc/shadow,',
  '  but they can still use the network, run anything an allowed interpreter runs, read world-readable files,',
  "  reach other live sessions' workspaces, and use CPU, memory and disk without limit. Not as root, they run as the server's user.",
  '  See docs/command-policy.md.',
  '',
].join('\n');

/** Added for claude_agent_sdk with the local sandbox: who Claude Code itself runs as, and where the key is. */
export const SDK_LOCAL_NOTE = [
  'note: with backend claude_agent_sdk and sandbox.type local, Claude Code and its tools run on the host with its network.',
  '  As root, they run as sandbox.local_user and hold only a placeholder key (the server adds the real one);',
  "  not as root, they run as the server's own user with the API key in their environment. See docs/backends.md.",
  '',
].join('\n');

export function register(program: Command): void {
  program
    .command('validate')
    .argument('<config>', 'YAML config file')
    .description('check a config file and print it resolved, with secrets masked')
    .action(async (configPath: string, _options: unknown, command: Command) => {
      const { config, warnings } = loadConfigWithWarnings(configPath);
      await requireBackendPackage(config, configPath);
      const out = command.configureOutput();
      out.writeOut?.(stringify(maskedConfig(config), { lineWidth: 0 }));
      if (warnings.length > 0) out.writeErr?.(renderWarnings(warnings, config.config_path));
      if (config.live_coding_agent.sandbox.type === 'local') {
        out.writeErr?.(LOCAL_SANDBOX_NOTE);
        if (config.live_coding_agent.backend === 'claude_agent_sdk') out.writeErr?.(SDK_LOCAL_NOTE);
      }
    });
}

/** The Claude Agent SDK is optional (most of a full install): a config that uses it needs it installed. */
async function requireBackendPackage(cfg: PotatoConfig, configPath: string): Promise<void> {
  if (cfg.live_coding_agent.backend !== 'claude_agent_sdk') return;
  // Loaded only here, so validating any other config stays as quick as before.
  const { loadClaudeAgentSdk, SDK_MISSING } = await import('../backends/claude-agent-sdk/sdk.js');
  const installed = await loadClaudeAgentSdk().then(
    () => true,
    (err: unknown) => {
      if (err instanceof Error && err.message === SDK_MISSING) return false;
      throw err;
    },
  );
  if (!installed) {
    throw new ConfigError(
      [{ text: `live_coding_agent.backend: ${SDK_MISSING}`, path: 'live_coding_agent.backend' }],
      configPath,
    );
  }
}

/**
 * @module config/warnings
 * Keys the config file sets that change nothing with the chosen backend and sandbox: not errors
 * (SPEC §8 keeps every backend's section in one file and switches `backend:`), but a user who
 * sets `sandbox.network: true` with the local sandbox, or `max_output_bytes` for Claude Code,
 * should hear that it is ignored. `potato validate` and `potato start` print them.
 */
import { formatPath } from './errors.js';
import { BACKENDS, type RawConfig } from './schema.js';

export interface ConfigWarning {
  /** The sentence shown, starting with the key's dotted path. */
  text: string;
  keys: readonly (string | number)[];
  /** 1-based line in the config file, when known. */
  line?: number;
}

/** Sandbox keys only the Docker sandbox reads (src/sandbox/docker/container.ts). */
const DOCKER_ONLY = ['image', 'network', 'cpus', 'memory_mb', 'pids_limit', 'mount_volumes'] as const;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * @param data the YAML as written (only keys present in the file are judged, not defaults)
 * @param cfg the same config, validated
 */
export function configWarnings(data: unknown, cfg: RawConfig): ConfigWarning[] {
  const agentData = isRecord(data) && isRecord(data.live_coding_agent) ? data.live_coding_agent : {};
  const sandboxData = isRecord(agentData.sandbox) ? agentData.sandbox : {};
  const agent = cfg.live_coding_agent;
  const warnings: ConfigWarning[] = [];
  const warn = (keys: (string | number)[], why: string) =>
    warnings.push({ keys, text: `${formatPath(keys)} has no effect: ${why}` });

  for (const name of BACKENDS) {
    if (name !== agent.backend && name in agentData) {
      warn(
        ['live_coding_agent', name],
        `backend is "${agent.backend}", so only live_coding_agent.${agent.backend} is read`,
      );
    }
  }
  if (agent.sandbox.type === 'local') {
    for (const key of DOCKER_ONLY) {
      if (key in sandboxData) warn(['live_coding_agent', 'sandbox', key], 'it applies to sandbox.type docker only');
    }
  }
  if (agent.backend === 'claude_agent_sdk' && 'max_output_bytes' in sandboxData) {
    warn(
      ['live_coding_agent', 'sandbox', 'max_output_bytes'],
      "Claude Code's Bash and Read keep their own output limits with backend claude_agent_sdk",
    );
  }
  const anthropicData = isRecord(agentData.anthropic) ? agentData.anthropic : {};
  if (
    agent.backend === 'anthropic' &&
    'thinking_budget_tokens' in anthropicData &&
    (agent.anthropic?.thinking_budget_tokens ?? 0) > 0 &&
    !agent.streaming.show_thinking
  ) {
    warn(
      ['live_coding_agent', 'anthropic', 'thinking_budget_tokens'],
      'extended thinking is requested only when streaming.show_thinking is true',
    );
  }
  return warnings;
}

/** `warning: config FILE line N: TEXT`, one per line. */
export function renderWarnings(warnings: readonly ConfigWarning[], file: string): string {
  return warnings
    .map((w) => `warning: config ${file}${w.line !== undefined ? ` line ${w.line}` : ''}: ${w.text}\n`)
    .join('');
}

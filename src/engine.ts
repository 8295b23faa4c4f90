/**
 * @module engine
 * The one place that maps config names to implementations: which backend, session driver,
 * sandbox, checkpoint store and tools a session gets. Tests swap single parts (e.g. to record the
 * model requests) and keep the rest real.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createAnthropicBackend } from './backends/anthropic/index.js';
import { claudeCodeHostPaths, claudeCodeMounts } from './backends/claude-agent-sdk/container.js';
import { type ClaudeAgentSdkBackend, createClaudeAgentSdkBackend } from './backends/claude-agent-sdk/index.js';
import { ClaudeAgentSdkDriver } from './backends/claude-agent-sdk/session-driver.js';
import { createOllamaBackend } from './backends/ollama/index.js';
import { createOpenAIBackend } from './backends/openai/index.js';
import { createScriptedBackend } from './backends/scripted/index.js';
import type { AgentBackend, ToolSpec } from './backends/types.js';
import { BackendError } from './backends/types.js';
import { checkpointGitDir, GitCheckpointReader, GitCheckpointStore } from './checkpoints/git/index.js';
import type { CheckpointReader, CheckpointStore } from './checkpoints/types.js';
import type { Clock } from './clock.js';
import type { PotatoConfig } from './config/types.js';
import { errField, type Logger } from './log/logger.js';
import { createSandbox as createDockerSandbox, removeOrphans } from './sandbox/docker/index.js';
import { GroupLedger, processGroupsDir } from './sandbox/local/group-ledger.js';
import { LocalSandbox } from './sandbox/local/local-sandbox.js';
import { protectOutput, sandboxUser } from './sandbox/local/user.js';
import type { Sandbox } from './sandbox/types.js';
import type { DriverFactory } from './session/driver.js';
import type { EventHub } from './session/hub.js';
import { type ExecuteTool, ModelTurnDriver } from './session/model-turns.js';
import type { SessionRecord, Store } from './store/types.js';
import { executeTool } from './tools/execute.js';
import { toolSpecs } from './tools/specs.js';

export interface EngineParts {
  createBackend(config: PotatoConfig): AgentBackend;
  /** The self-driven Claude Agent SDK runner (backend: claude_agent_sdk); its session driver runs it. */
  createSdkBackend(config: PotatoConfig): ClaudeAgentSdkBackend;
  createSandbox(config: PotatoConfig, sessionId: string, workspace: string): Sandbox;
  /**
   * Once, before any session starts: end what the sandboxes of a stopped server left behind
   * (commands of the local sandbox, Docker containers), so nothing writes into a workspace again.
   */
  cleanupSandboxes(config: PotatoConfig, logger: Logger): Promise<void>;
  createCheckpoints(config: PotatoConfig, workspace: string): CheckpointStore;
  /** The checkpoints of a session's workspace, read-only, whether or not the session runs. */
  readCheckpoints(config: PotatoConfig, workspace: string): CheckpointReader;
  executeTool: ExecuteTool;
  toolSpecs(config: PotatoConfig): ToolSpec[];
  systemPrompt(config: PotatoConfig): string;
}

const DEFAULT_SYSTEM_PROMPT = [
  'You are a coding agent working in a software repository; the current directory is its root.',
  'Use the tools to read files, edit them, list directories, search, and run commands.',
  'Work in small steps and say briefly why before each action. Run the tests to check your work.',
  'A human may pause you, send you instructions, or roll your work back: follow their instructions.',
  'When the task is done, reply with a short summary and no tool call.',
].join('\n');

/** `clock` paces the scripted agent; tests pass one they can hold (test/clock.ts). */
export function defaultEngineParts(opts: { clock?: Clock } = {}): EngineParts {
  return {
    createBackend(config) {
      const agent = config.live_coding_agent;
      switch (agent.backend) {
        case 'scripted':
          return createScriptedBackend(section(agent.scripted, 'scripted'), opts.clock);
        case 'anthropic':
          return createAnthropicBackend(section(agent.anthropic, 'anthropic'), {
            showThinking: agent.streaming.show_thinking,
          });
        case 'ollama':
          return createOllamaBackend(section(agent.ollama, 'ollama'), { showThinking: agent.streaming.show_thinking });
        case 'openai':
          return createOpenAIBackend(section(agent.openai, 'openai'));
        case 'claude_agent_sdk':
          throw new BackendError(
            'the claude_agent_sdk backend runs its own loop and is started by the session manager',
            'config',
          );
      }
    },
    createSdkBackend(config) {
      return createClaudeAgentSdkBackend(section(config.live_coding_agent.claude_agent_sdk, 'claude_agent_sdk'));
    },
    createSandbox(config, sessionId, workspace) {
      const sb = config.live_coding_agent.sandbox;
      const secretEnvNames = secretNames(config);
      if (sb.type === 'docker') {
        // Claude Code runs in the container: it needs the CLI, the API socket and its config folder.
        // The checkpoint repository is mounted read-only at its own path: `git log` works inside,
        // the agent cannot write its config, hooks or refs. Made here first: a missing host path
        // would be created by the engine, as root.
        const checkpointMount = () => {
          if (!config.live_coding_agent.checkpoints.enabled) return [];
          const gitDir = checkpointGitDir(config, workspace);
          mkdirSync(gitDir, { recursive: true });
          return [{ host: gitDir, container: gitDir, readOnly: true }];
        };
        const mounts = () => [
          ...(config.live_coding_agent.backend === 'claude_agent_sdk'
            ? claudeCodeMounts(claudeCodeHostPaths(config.output.path, sessionId))
            : []),
          ...checkpointMount(),
        ];
        return createDockerSandbox(sb, sessionId, { workspace, mounts });
      }
      // As root, the agent runs as a user of its own, and what the server keeps in output.path is private to it.
      const user = sandboxUser(sb.local_user);
      if (user) {
        const workspaces = dirname(workspace);
        mkdirSync(workspaces, { recursive: true });
        // Claude Code's config folders (claude_agent_sdk) are the sandbox user's, like workspaces.
        const claudeCode = dirname(claudeCodeHostPaths(config.output.path, sessionId).configDir);
        protectOutput(config.output.path, [workspaces, claudeCode], user);
      }
      const groupLedger = new GroupLedger(processGroupsDir(config.output.path));
      return new LocalSandbox({ workspace, maxOutputBytes: sb.max_output_bytes, secretEnvNames, user, groupLedger });
    },
    async cleanupSandboxes(config, logger) {
      // Commands a dead server left running would go on writing into their workspaces.
      const killed = new GroupLedger(processGroupsDir(config.output.path)).killLeft();
      if (killed.length > 0)
        logger.warn({ pids: killed }, `killed ${killed.length} process(es) left by a stopped server`);
      if (config.live_coding_agent.sandbox.type !== 'docker') return;
      try {
        const removed = await removeOrphans();
        if (removed.length > 0) logger.info(`removed ${removed.length} container(s) left by a stopped server`);
      } catch (err) {
        // Sessions will say what is wrong with Docker when they start; the server itself can run.
        logger.warn({ err: errField(err) }, 'could not clean up old containers');
      }
    },
    createCheckpoints(config, workspace) {
      return new GitCheckpointStore({ workspace, gitDir: checkpointGitDir(config, workspace) });
    },
    readCheckpoints(config, workspace) {
      return new GitCheckpointReader(checkpointGitDir(config, workspace));
    },
    executeTool,
    toolSpecs(config) {
      const section = backendSection(config);
      return toolSpecs(section && 'tools' in section ? section.tools : undefined);
    },
    // The backends append the section's own system_prompt after this one.
    systemPrompt: () => DEFAULT_SYSTEM_PROMPT,
  };
}

/** What a session driver works with, whichever backend drives it. */
export interface DriverParts {
  config: PotatoConfig;
  store: Store;
  hub: EventHub;
  sandbox: Sandbox;
  checkpoints: CheckpointStore | null;
  session: SessionRecord;
}

/**
 * The session driver for the configured backend: the Claude Agent SDK runs its own loop (a
 * driver of its own, with approvals); every other backend gives model turns that the session
 * runs itself. The backend is made here, through `parts`, so tests can swap it.
 */
export function createSessionDriver(parts: EngineParts, deps: DriverParts): DriverFactory {
  const { config } = deps;
  if (runsOwnLoop(config)) {
    const backend = parts.createSdkBackend(config);
    return (ctx) => new ClaudeAgentSdkDriver({ ...deps, backend }, ctx);
  }
  const backend = parts.createBackend(config);
  return (ctx) =>
    new ModelTurnDriver(
      {
        ...deps,
        backend,
        executeTool: parts.executeTool,
        tools: parts.toolSpecs(config),
        system: parts.systemPrompt(config),
      },
      ctx,
    );
}

/**
 * What a session stores about its model beyond the backend section: for backends whose loop we
 * run, the system prompt and the tools the model was given (exports carry both); nothing for a
 * backend that runs its own loop (its prompt and tools are its own).
 */
export function modelSettings(
  parts: EngineParts,
  config: PotatoConfig,
): { system_prompt: string; tools: ToolSpec[] } | null {
  if (runsOwnLoop(config)) return null;
  return { system_prompt: parts.systemPrompt(config), tools: parts.toolSpecs(config) };
}

function runsOwnLoop(config: PotatoConfig): boolean {
  return config.live_coding_agent.backend === 'claude_agent_sdk';
}

/** The selected backend's config section (the loader fills in its defaults). */
function backendSection(config: PotatoConfig) {
  const agent = config.live_coding_agent;
  switch (agent.backend) {
    case 'ollama':
      return agent.ollama;
    case 'anthropic':
      return agent.anthropic;
    case 'openai':
      return agent.openai;
    case 'claude_agent_sdk':
      return agent.claude_agent_sdk;
    case 'scripted':
      return agent.scripted;
  }
}

function section<T>(value: T | undefined, name: string): T {
  if (!value) throw new BackendError(`live_coding_agent.${name} is missing`, 'config');
  return value;
}

/** Env var names the config says hold secrets: kept out of the agent's environment too. */
function secretNames(config: PotatoConfig): string[] {
  const agent = config.live_coding_agent;
  return [agent.anthropic?.api_key_env, agent.claude_agent_sdk?.api_key_env, agent.openai?.api_key_env].filter(
    (n): n is string => typeof n === 'string',
  );
}

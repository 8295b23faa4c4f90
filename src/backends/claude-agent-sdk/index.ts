/**
 * @module backends/claude-agent-sdk
 * The Claude Agent SDK backend is self-driven: the SDK owns the loop and the tools (Read, Edit,
 * Write, Bash, Glob, Grep), so instead of `turn()` it offers `run()`, which maps SDK messages to
 * steps as they happen. The controller keeps its powers through the SDK's own handles: a
 * PreToolUse hook awaits the pause gate and enforces restricted_commands before Bash runs,
 * instructions go in as streaming input, stop is interrupt(), and a rollback resumes the SDK
 * session at the step's message (resume + resumeSessionAt, forkSession for a new branch).
 * Confined (ConfinedClaudeCode: in the Docker sandbox's container, or as the local sandbox's user
 * when the server is root) Claude Code's tools act as the agent's commands do, and its API calls
 * go out through a forwarder in the server that holds the key.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  CanUseTool,
  HookCallback,
  Options,
  SDKMessage,
  SDKUserMessage,
  SpawnedProcess,
  SpawnOptions,
} from '@anthropic-ai/claude-agent-sdk';
import type { RawConfig } from '../../config/schema.js';
import type { SandboxProcess, SpawnRequest } from '../../sandbox/types.js';
import { addUsage, type StepPayload, type TokenUsage, type ToolCall } from '../../steps/types.js';
import { checkCommand, refusalMessage } from '../../tools/policy.js';
import type { CommandPolicy } from '../../tools/types.js';
import { readApiKey } from '../api-key.js';
import { BackendError } from '../types.js';
import { type AnthropicUsage, fromAnthropicUsage } from '../usage.js';
import { startApiForwarder } from './api-forwarder.js';
import { resultText, toPayload } from './map.js';
import { loadClaudeAgentSdk } from './sdk.js';

export type ClaudeAgentSdkSection = NonNullable<RawConfig['live_coding_agent']['claude_agent_sdk']>;

/** A step as the SDK produced it; the controller stores it like any other step. */
export interface SdkStep {
  payload: StepPayload;
  /** The assistant message id: steps of one model turn share it. */
  turn_id: string;
  tool_call: ToolCall | null;
  tool_result: string | null;
  tool_is_error: boolean;
  usage: TokenUsage | null;
  /**
   * The SDK transcript entry this step ends at: give it back as `resume.at` to roll the
   * agent's memory back to just after this step.
   */
  sdk_uuid: string;
  /** The SDK session whose transcript holds `sdk_uuid` (a forked session has its own id). */
  sdk_session_id: string;
}

/** An annotator's answer to a tool call in ask mode: allow (possibly with edited input) or deny with a reason. */
export type PermissionAnswer = { allow: true; input?: Record<string, unknown> } | { allow: false; reason: string };

export interface ClaudeAgentHooks {
  onStep(step: SdkStep): void | Promise<void>;
  /**
   * Awaited before each tool runs: the controller's pause gate ("pause after the current step").
   * Resolve with `{deny}` to refuse the call (e.g. the session is stopping): the model is told why.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a hook that only waits resolves with nothing
  beforeTool?(call: ToolCall): Promise<{ deny: string } | undefined | void>;
  /** permission_mode ask: the annotator's decision (edited input allowed); resolve with a reason to deny. */
  askPermission?(call: ToolCall): Promise<PermissionAnswer>;
  /** Streamed thinking and text while a turn is produced (for the live view). */
  onStatus?(message: string): void;
  /** A new model turn's answer arrived (before its steps): its request held every user message sent before it went out. */
  onTurn?(turnId: string): void | Promise<void>;
}

/**
 * Claude Code run confined by the sandbox instead of as the server: inside the session's
 * container (sandbox.type docker, see container.ts), or as the local sandbox's own user (local,
 * server running as root). Either way it holds a placeholder key and reaches the API only
 * through the forwarder's socket.
 */
export interface ConfinedClaudeCode {
  /** Starts a program confined like the agent's commands (Sandbox.spawn). */
  spawn(req: SpawnRequest): SandboxProcess;
  /** Host path of the socket the forwarder listens on. */
  apiSocket: string;
  /** The socket is handed to this group (the local sandbox's user); unset: left private. */
  socketGroup?: number;
  /** The socket's path as Claude Code sees it. */
  socket: string;
  /** Claude Code's config folder (its transcripts, read again by `resume`) as it sees it. */
  configDir: string;
  /** The SDK's CLI path (SpawnOptions.command) as Claude Code's side sees it. */
  program(command: string): string;
  /** Claude Code runs as root there (it then needs IS_SANDBOX=1). */
  root: boolean;
}

export interface ClaudeAgentRunRequest {
  task: string;
  /** The workspace the SDK's tools work in, as Claude Code sees it (/workspace in a container). */
  cwd: string;
  /**
   * Reads a file an Edit or Write names (a path as Claude Code sees it) for the step's diff;
   * null when it is missing or outside the workspace. Give the sandbox's confined read: a
   * symlink the agent made must not make the server read a file of the host into a step.
   */
  readFile?(file: string): Promise<string | null>;
  /** Run Claude Code confined (in the container, or as the sandbox's user) instead of as the server. */
  confined?: ConfinedClaudeCode;
  /** The command policy for Bash (default: only claude_agent_sdk.restricted_commands). */
  policy?: CommandPolicy;
  /** sandbox.command_timeout: the longest a Bash call may run. */
  commandTimeoutMs?: number;
  hooks: ClaudeAgentHooks;
  /** Continue an earlier SDK session after a rollback: at = SdkStep.sdk_uuid; fork for a new branch. */
  resume?: { session_id: string; at?: string; fork: boolean };
  /** The first user message on resume (e.g. the rollback instruction); the task otherwise. */
  prompt?: string;
}

export interface ClaudeAgentRunResult {
  session_id: string;
  /** success, error_max_turns, error_during_execution, interrupted… */
  outcome: string;
  usage: TokenUsage;
}

export interface ClaudeAgentRun {
  /** Delivered as the next user message of the running session. */
  instruct(text: string): void;
  /** Interrupts the agent; `done` then settles. */
  stop(): Promise<void>;
  readonly done: Promise<ClaudeAgentRunResult>;
}

export interface ClaudeAgentSdkBackend {
  readonly name: 'claude_agent_sdk';
  check(): Promise<void>;
  run(req: ClaudeAgentRunRequest): ClaudeAgentRun;
}

export interface ClaudeAgentSdkOptions {
  env?: NodeJS.ProcessEnv;
  /** Extra environment for the SDK's process when it runs on the host (tests set HOME). */
  processEnv?: Record<string, string>;
  /** stderr of the SDK's process, for diagnosis. */
  stderr?: (text: string) => void;
}

const READ_ONLY = new Set(['Read', 'Glob', 'Grep']);

/** What confined Claude Code holds instead of the key; the forwarder swaps in the real one. */
const KEY_PLACEHOLDER = 'potato-forwarder-adds-the-key';

/** A queue the SDK reads its user messages from; it stays open while the agent may be instructed. */
class InputQueue implements AsyncIterable<SDKUserMessage> {
  private items: SDKUserMessage[] = [];
  private waiting: ((r: IteratorResult<SDKUserMessage>) => void) | null = null;
  private closed = false;

  push(text: string): void {
    if (this.closed) return;
    const msg: SDKUserMessage = { type: 'user', message: { role: 'user', content: text }, parent_tool_use_id: null };
    if (this.waiting) {
      this.waiting({ value: msg, done: false });
      this.waiting = null;
    } else this.items.push(msg);
  }

  get pending(): number {
    return this.items.length;
  }

  close(): void {
    this.closed = true;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = null;
  }

  [Symbol.asyncIterator](): AsyncIterator<SDKUserMessage> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item) return Promise.resolve({ value: item, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiting = resolve;
        });
      },
    };
  }
}

async function readMaybe(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    // No such file (or unreadable): the caller treats the file as absent.
    return null;
  }
}

export function createClaudeAgentSdkBackend(
  section: ClaudeAgentSdkSection,
  opts: ClaudeAgentSdkOptions = {},
): ClaudeAgentSdkBackend {
  const env = opts.env ?? process.env;
  const allowed = new Set<string>(section.allowed_tools);
  // Imported here, not at the top, so installs without the optional package run every other backend.
  const loaded = loadClaudeAgentSdk();
  // Not unhandled: check() (the preflight) and every run() await it and report the failure.
  loaded.catch(() => {});

  return {
    name: 'claude_agent_sdk',
    async check() {
      await loaded;
      readApiKey(env, section.api_key_env, 'The claude_agent_sdk backend');
    },
    run(req) {
      const key = readApiKey(env, section.api_key_env, 'The claude_agent_sdk backend');
      const input = new InputQueue();
      input.push(req.prompt ?? req.task);
      const calls = new Map<string, { call: ToolCall; turn: string }>();
      // Filled in PreToolUse, which may run before the tool_use message reaches us.
      const befores = new Map<string, string | null>();
      const refusals = new Map<string, string>();
      // Input the annotator edited before approving: the step records the call as it ran.
      const edited = new Map<string, Record<string, unknown>>();
      const decided = new Map<string, Record<string, unknown>>();
      // auto: every allowed tool runs; ask: the annotator decides each call; restricted: only
      // read-only tools run on their own, anything that changes the workspace must be approved.
      const mustAsk = (tool: string) =>
        section.permission_mode === 'ask' || (section.permission_mode === 'restricted' && !READ_ONLY.has(tool));
      let sessionId = req.resume?.session_id ?? '';
      const cwd = req.confined ? req.cwd : path.resolve(req.cwd);
      const policy = req.policy ?? { restricted: section.restricted_commands };
      const readBefore = (file: unknown) => {
        const p = path.posix.resolve(cwd, String(file ?? ''));
        // Unreadable or absent before the edit: the diff shows it as a new file.
        return req.readFile ? req.readFile(p).catch(() => null) : readMaybe(p);
      };

      const preToolUse: HookCallback = async (hookInput) => {
        if (hookInput.hook_event_name !== 'PreToolUse') return {};
        const call: ToolCall = {
          id: hookInput.tool_use_id,
          name: hookInput.tool_name,
          input: (hookInput.tool_input ?? {}) as Record<string, unknown>,
        };
        const gate = await req.hooks.beforeTool?.(call);
        // `recorded` is what the step's `refused` says; the model gets `reason`.
        const deny = (reason: string, recorded = reason) => {
          refusals.set(call.id, recorded);
          return {
            hookSpecificOutput: {
              hookEventName: 'PreToolUse' as const,
              permissionDecision: 'deny' as const,
              permissionDecisionReason: reason,
            },
          };
        };
        if (gate) return deny(gate.deny);
        if (!allowed.has(call.name)) return deny(`${call.name} is not in claude_agent_sdk.allowed_tools`);
        if (call.name === 'Bash') {
          // The same policy and words as the raw backends' bash_command (tools/bash-tool.ts).
          const verdict = checkCommand(String(call.input.command ?? ''), policy);
          if (!verdict.ok) return deny(refusalMessage(verdict.reason), verdict.reason);
        }
        if (call.name === 'Edit' || call.name === 'Write') befores.set(call.id, await readBefore(call.input.file_path));
        // The annotator decides here rather than in canUseTool: the CLI lets reads inside its cwd
        // through without asking, and "ask" means every call.
        if (mustAsk(call.name)) {
          if (!req.hooks.askPermission) return deny(`${call.name} needs the annotator's approval`);
          const answer = await req.hooks.askPermission(call);
          if (!answer.allow) return deny(answer.reason);
          const input = answer.input ?? call.input;
          decided.set(call.id, input);
          if (answer.input) {
            edited.set(call.id, answer.input);
            if (call.name === 'Edit' || call.name === 'Write') befores.set(call.id, await readBefore(input.file_path));
          }
          return {
            hookSpecificOutput: {
              hookEventName: 'PreToolUse' as const,
              permissionDecision: 'allow' as const,
              ...(answer.input ? { updatedInput: answer.input } : {}),
            },
          };
        }
        return {};
      };

      const canUseTool: CanUseTool = async (toolName, toolInput, { toolUseID }) => {
        if (!allowed.has(toolName)) return { behavior: 'deny', message: `${toolName} is not in allowed_tools` };
        // Asked and approved in PreToolUse already.
        const approved = decided.get(toolUseID);
        if (approved) return { behavior: 'allow', updatedInput: approved };
        if (mustAsk(toolName)) return { behavior: 'deny', message: `${toolName} needs the annotator's approval` };
        return { behavior: 'allow', updatedInput: toolInput };
      };

      const bashTimeout: Record<string, string> = req.commandTimeoutMs
        ? { BASH_DEFAULT_TIMEOUT_MS: String(req.commandTimeoutMs), BASH_MAX_TIMEOUT_MS: String(req.commandTimeoutMs) }
        : {};
      const common = { CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', ...bashTimeout };
      const confined = req.confined;
      // Confined, the key stays with the server: the forwarder on the socket adds it.
      const forwarder = confined
        ? startApiForwarder({
            socketPath: confined.apiSocket,
            upstream: section.base_url ?? 'https://api.anthropic.com',
            apiKey: key,
            ...(confined.socketGroup !== undefined ? { group: confined.socketGroup } : {}),
          })
        : null;
      const cliEnv: Record<string, string> = confined
        ? {
            ...common,
            ANTHROPIC_UNIX_SOCKET: confined.socket,
            // Sent over the socket; the forwarder decides where it really goes.
            ANTHROPIC_BASE_URL: 'http://localhost',
            ANTHROPIC_API_KEY: KEY_PLACEHOLDER,
            CLAUDE_CONFIG_DIR: confined.configDir,
            ...(confined.root ? { IS_SANDBOX: '1' } : {}),
          }
        : {
            ...common,
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            HOME: process.env.HOME ?? '/tmp',
            ANTHROPIC_API_KEY: key,
            ...(section.base_url ? { ANTHROPIC_BASE_URL: section.base_url } : {}),
            ...(process.getuid?.() === 0 ? { IS_SANDBOX: '1' } : {}),
            ...opts.processEnv,
          };

      const options: Options = {
        cwd,
        model: section.model,
        maxTurns: section.max_turns,
        tools: [...section.allowed_tools],
        allowedTools: section.permission_mode === 'auto' ? [...section.allowed_tools] : [],
        canUseTool,
        permissionMode: 'default',
        hooks: { PreToolUse: [{ hooks: [preToolUse] }] },
        // No user or project settings: the config is the whole truth.
        settingSources: [],
        ...(section.system_prompt
          ? { systemPrompt: { type: 'preset', preset: 'claude_code', append: section.system_prompt } }
          : {}),
        ...(req.resume
          ? {
              resume: req.resume.session_id,
              forkSession: req.resume.fork,
              ...(req.resume.at ? { resumeSessionAt: req.resume.at } : {}),
            }
          : {}),
        env: cliEnv,
        stderr: opts.stderr,
        ...(confined && forwarder
          ? {
              spawnClaudeCodeProcess: (spawn: SpawnOptions): SpawnedProcess =>
                confined.spawn({
                  argv: [confined.program(spawn.command), ...spawn.args],
                  env: confinedEnv(spawn.env, cliEnv, key),
                  cwd: spawn.cwd ?? cwd,
                  ready: forwarder,
                }),
            }
          : {}),
      } as Options;

      const q = loaded.then((sdk) => sdk.query({ prompt: input, options }));
      let stopped = false;

      const done = (async (): Promise<ClaudeAgentRunResult> => {
        let usage: TokenUsage = { input_tokens: 0, output_tokens: 0 };
        let outcome = 'interrupted';
        /** The model turn of the last assistant message: one per content block, the same id. */
        let lastTurn: string | null = null;
        const closeForwarder = () => forwarder?.then((f) => f.close()).catch(() => undefined);
        // A missing package rejects here with its own message, not as an SDK failure.
        const messages = await q.catch(async (error: unknown) => {
          await closeForwarder();
          throw error;
        });
        try {
          for await (const message of messages as AsyncIterable<SDKMessage>) {
            if ('session_id' in message && message.session_id) sessionId = message.session_id;
            if (message.type === 'assistant') {
              const turn = message.message.id;
              if (turn !== lastTurn) await req.hooks.onTurn?.(turn);
              lastTurn = turn;
              const u = message.message.usage;
              for (const block of message.message.content) {
                if (block.type === 'thinking') {
                  await req.hooks.onStep(
                    step(
                      { type: 'thinking', content: block.thinking, signature: block.signature },
                      turn,
                      message.uuid,
                      sessionId,
                      u,
                    ),
                  );
                } else if (block.type === 'text') {
                  if (block.text.trim())
                    await req.hooks.onStep(
                      step({ type: 'message', content: block.text }, turn, message.uuid, sessionId, u),
                    );
                } else if (block.type === 'tool_use') {
                  calls.set(block.id, {
                    call: { id: block.id, name: block.name, input: block.input as Record<string, unknown> },
                    turn,
                  });
                }
              }
            } else if (message.type === 'user' && Array.isArray(message.message.content)) {
              for (const block of message.message.content) {
                if (typeof block !== 'object' || block.type !== 'tool_result') continue;
                const asked = calls.get(block.tool_use_id);
                if (!asked) continue;
                calls.delete(block.tool_use_id);
                const editedInput = edited.get(block.tool_use_id);
                const known = editedInput ? { ...asked, call: { ...asked.call, input: editedInput } } : asked;
                const text = resultText(block.content);
                const isError = block.is_error === true;
                const output = (message.tool_use_result ?? undefined) as Record<string, unknown> | undefined;
                const file = known.call.input.file_path;
                const after =
                  (known.call.name === 'Edit' || known.call.name === 'Write') && !isError
                    ? await readBefore(file)
                    : null;
                let payload = toPayload(known.call.name, known.call.input, output, text, isError, cwd, {
                  before: befores.get(block.tool_use_id) ?? null,
                  after,
                });
                const refused = refusals.get(block.tool_use_id);
                if (refused && known.call.name === 'Bash') {
                  payload = {
                    type: 'bash_command',
                    command: String(known.call.input.command ?? ''),
                    output: '',
                    exit_code: null,
                    timed_out: false,
                    truncated: false,
                    refused,
                  };
                }
                await req.hooks.onStep({
                  payload,
                  turn_id: known.turn,
                  tool_call: known.call,
                  tool_result: text,
                  tool_is_error: isError,
                  usage: null,
                  sdk_uuid: message.uuid ?? '',
                  sdk_session_id: sessionId,
                });
              }
            } else if (message.type === 'result') {
              outcome = message.subtype;
              usage = addUsage(usage, fromAnthropicUsage(message.usage));
              // Nothing more to say: let the session end unless an instruction is waiting.
              if (input.pending === 0 || stopped) input.close();
            }
          }
        } catch (error) {
          if (!stopped) throw new BackendError(`the Claude Agent SDK failed: ${(error as Error).message}`, 'server');
        } finally {
          input.close();
          await closeForwarder();
        }
        return { session_id: sessionId, outcome: stopped ? 'interrupted' : outcome, usage };
      })();

      return {
        instruct: (text) => input.push(text),
        async stop() {
          stopped = true;
          input.close();
          // The query may have finished already: the session stops either way.
          await q.then((running) => running.interrupt()).catch(() => undefined);
        },
        done,
      };
    },
  };
}

function step(
  payload: StepPayload,
  turn: string,
  uuid: string,
  sessionId: string,
  usage: AnthropicUsage | undefined,
): SdkStep {
  return {
    payload,
    turn_id: turn,
    tool_call: null,
    tool_result: null,
    tool_is_error: false,
    usage: usage ? fromAnthropicUsage(usage) : null,
    sdk_uuid: uuid,
    sdk_session_id: sessionId,
  };
}

/**
 * The environment confined Claude Code gets: ours, plus the SDK's own CLAUDE_* markers.
 * Nothing else of the server's environment goes in: no credential-like name (an OAuth token in
 * the server's environment), and never the key's value.
 */
function confinedEnv(
  fromSdk: Record<string, string | undefined>,
  ours: Record<string, string>,
  key: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(fromSdk)) {
    if (value === undefined || value.includes(key)) continue;
    if (/KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|PRIVATE/i.test(name)) continue;
    if (/^CLAUDE_(CODE|AGENT_SDK)_|^CLAUDECODE$/.test(name)) env[name] = value;
  }
  return { ...env, ...ours };
}

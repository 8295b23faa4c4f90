/**
 * @module config/schema
 * Every key of the source's YAML config (SPEC §3), with the source's defaults. Objects are
 * strict: an unknown key is an error (with a did-you-mean, see config/errors.ts).
 */
import { z } from 'zod';
import { describeFound } from './errors.js';

export const TOOL_NAMES = ['file_read', 'file_edit', 'bash_command', 'directory_list', 'file_search'] as const;
export const SDK_TOOL_NAMES = ['Read', 'Edit', 'Write', 'Bash', 'Glob', 'Grep'] as const;
export const BACKENDS = ['ollama', 'anthropic', 'claude_agent_sdk', 'openai', 'scripted'] as const;
export const EXPORT_FORMATS = [
  'trajectories',
  'branch_preferences',
  'prm_from_branches',
  'code_review',
  'dpo',
  'dpo_step',
  'prm_stepwise',
] as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const ORIGIN_HINT = 'an origin such as https://potato.example.com (scheme, host and optional port; no path)';
/** What a browser sends in `Origin`: scheme://host[:port], nothing after it. */
const ORIGIN_FORM = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$/;
const origin = z
  .string()
  .regex(ORIGIN_FORM, { message: ORIGIN_HINT, abort: true })
  .refine((s) => URL.canParse(s), { error: (iss) => `expected ${ORIGIN_HINT}, got ${describeFound(iss.input)}` })
  // Browsers send the host in lower case and leave out a default port: compare in that form.
  .transform((s) => new URL(s).origin);

export const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');

const ollama = z.strictObject({
  model: z.string().min(1).default('qwen2.5-coder:32b'),
  host: z.url().default('http://localhost:11434'),
  temperature: z.number().min(0).max(2).default(0.2),
  max_tokens: z.int().positive().default(4096),
  num_ctx: z.int().positive().default(32768),
  system_prompt: z.string().optional(),
});

const anthropic = z.strictObject({
  model: z.string().min(1).default('claude-sonnet-4-20250514'),
  api_key_env: envVarName.default('ANTHROPIC_API_KEY'),
  /** Beyond the source: point the client at a proxy or a test server. */
  base_url: z.url().optional(),
  max_tokens: z.int().positive().default(8192),
  temperature: z.number().min(0).max(1).default(0.1),
  tools: z.array(z.enum(TOOL_NAMES)).default([...TOOL_NAMES]),
  system_prompt: z.string().optional(),
  /** Extended thinking budget in tokens (used when streaming.show_thinking is on); 0 turns it off. */
  thinking_budget_tokens: z.int().min(0).default(0),
  max_retries: z.int().min(0).default(4),
});

const claudeAgentSdk = z.strictObject({
  api_key_env: envVarName.default('ANTHROPIC_API_KEY'),
  base_url: z.url().optional(),
  model: z.string().min(1).default('claude-sonnet-4-20250514'),
  max_turns: z.int().positive().default(50),
  permission_mode: z.enum(['auto', 'ask', 'restricted']).default('auto'),
  allowed_tools: z.array(z.enum(SDK_TOOL_NAMES)).default([...SDK_TOOL_NAMES]),
  restricted_commands: z.array(z.string().min(1)).default([]),
  system_prompt: z.string().optional(),
});

/** Beyond the source: any OpenAI-compatible chat-completions server (vLLM, llama.cpp, LM Studio…). */
const openai = z.strictObject({
  base_url: z.url().default('http://localhost:8080/v1'),
  model: z.string().min(1),
  api_key_env: envVarName.optional(),
  /** Sent only when set: OpenAI's reasoning models accept only their default temperature. */
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.int().positive().default(4096),
  /**
   * The request field that carries max_tokens: OpenAI's current models take only
   * `max_completion_tokens`; some compatible servers only `max_tokens`; `none` sends neither.
   */
  max_tokens_param: z.enum(['max_completion_tokens', 'max_tokens', 'none']).default('max_completion_tokens'),
  /**
   * The assistant-message field that sends the model's reasoning back (DeepSeek's thinking mode
   * requires `reasoning_content` after tool calls; OpenRouter reads `reasoning`); `none` sends none.
   */
  send_reasoning_as: z.enum(['none', 'reasoning_content', 'reasoning']).default('none'),
  tools: z.array(z.enum(TOOL_NAMES)).default([...TOOL_NAMES]),
  system_prompt: z.string().optional(),
});

/** Beyond the source: an offline agent that plays a script of model turns from a file. */
const scripted = z.strictObject({
  script: z.string().min(1),
  /** Delay before each scripted model turn, to make a demo watchable. */
  turn_delay_ms: z.int().min(0).default(0),
  tools: z.array(z.enum(TOOL_NAMES)).default([...TOOL_NAMES]),
});

const sandbox = z.strictObject({
  type: z.enum(['docker', 'local']).default('local'),
  image: z.string().min(1).default('python:3.11-slim'),
  workspace: z.string().min(1).default('./workspace/'),
  /** Max seconds per agent session. */
  timeout: z.number().positive().default(600),
  /** Max seconds per command (beyond the source; a command never outlives the session). */
  command_timeout: z.number().positive().default(120),
  allowed_commands: z.array(z.string().min(1)).optional(),
  restricted_commands: z.array(z.string().min(1)).default([]),
  mount_volumes: z.array(z.string().regex(/^[^:]+:\/[^:]*(:(ro|rw))?$/, 'HOST:CONTAINER[:ro|rw]')).default([]),
  /**
   * Local only, when the server runs as root: the user and group ("UID:GID") the agent's
   * commands and file tools run as. Needs no account on the machine; never root.
   */
  local_user: z
    .string()
    .regex(/^[1-9]\d{0,9}:[1-9]\d{0,9}$/, 'UID:GID, two numbers other than 0 (e.g. "61000:61000")')
    .default('61000:61000'),
  /** Docker only: network off unless turned on. */
  network: z.boolean().default(false),
  cpus: z.number().positive().default(2),
  memory_mb: z.int().positive().default(2048),
  pids_limit: z.int().positive().default(512),
  /** Cap on the output kept per command and per file read, in bytes. */
  max_output_bytes: z
    .int()
    .positive()
    .default(64 * 1024),
});

const streaming = z.strictObject({
  update_interval_ms: z.int().min(10).max(5000).default(100),
  buffer_output: z.boolean().default(true),
  show_thinking: z.boolean().default(true),
  show_tool_inputs: z.boolean().default(true),
});

const checkpoints = z.strictObject({
  enabled: z.boolean().default(true),
  strategy: z.literal('git').default('git'),
  auto_commit_on_file_change: z.boolean().default(true),
  commit_message_prefix: z.string().default('[potato-checkpoint]'),
  max_checkpoints: z.int().positive().default(1000),
});

const controls = z.strictObject({
  pause_enabled: z.boolean().default(true),
  instruction_enabled: z.boolean().default(true),
  stop_enabled: z.boolean().default(true),
  rollback_enabled: z.boolean().default(true),
  branch_enabled: z.boolean().default(true),
  pause_keyboard_shortcut: z.string().min(1).default('Space'),
  instruction_keyboard_shortcut: z.string().min(1).default('i'),
  /** Labelling at speed: keys to move between steps and to label the selected one (docs/ui.md). */
  label_keyboard_shortcuts: z
    .strictObject({
      next_step: z.string().min(1).default('j'),
      previous_step: z.string().min(1).default('k'),
      correct: z.string().min(1).default('1'),
      incorrect: z.string().min(1).default('2'),
      unsure: z.string().min(1).default('3'),
      first_error: z.string().min(1).default('f'),
      help: z.string().min(1).default('?'),
    })
    .prefault({}),
});

const branching = z.strictObject({
  enabled: z.boolean().default(true),
  max_branches_per_session: z.int().positive().default(10),
  auto_name_branches: z.boolean().default(true),
  require_reason_on_rollback: z.boolean().default(true),
  compare_branches_view: z.boolean().default(true),
});

/** A lease must outlive this many heartbeats, so one slow or failed renewal does not lose it. */
export const HEARTBEATS_PER_LEASE = 3;

/**
 * Beyond the source: how long a server process's lease on a session it runs lasts without a
 * heartbeat, and how often it renews it (session/lease.ts). The TTL bounds failover: a session
 * whose server died is marked interrupted within 1.5 × ttl_ms (docs/deploy.md).
 */
const sessionLease = z
  .strictObject({
    ttl_ms: z.int().min(1000).max(3_600_000).default(30_000),
    heartbeat_ms: z.int().min(100).max(1_200_000).default(5_000),
  })
  .superRefine(
    (lease, ctx) => {
      const most = Math.floor(lease.ttl_ms / HEARTBEATS_PER_LEASE);
      if (lease.heartbeat_ms <= most) return;
      ctx.addIssue({
        code: 'custom',
        path: ['heartbeat_ms'],
        input: lease.heartbeat_ms,
        message: `expected at most ${most} (a third of session_lease.ttl_ms, ${lease.ttl_ms}), got ${describeFound(lease.heartbeat_ms)}: the heartbeat must be well under the TTL, or one slow renewal hands a live session to another replica`,
      });
    },
    // Only between two values that are each right: a wrong one is reported on its own.
    { when: (payload) => payload.issues.length === 0 },
  );

export const liveCodingAgentSchema = z.strictObject({
  enabled: z.boolean().default(true),
  backend: z.enum(BACKENDS),
  ollama: ollama.optional(),
  anthropic: anthropic.optional(),
  claude_agent_sdk: claudeAgentSdk.optional(),
  openai: openai.optional(),
  scripted: scripted.optional(),
  sandbox: sandbox.prefault({}),
  streaming: streaming.prefault({}),
  checkpoints: checkpoints.prefault({}),
  controls: controls.prefault({}),
  branching: branching.prefault({}),
});

const option = z.strictObject({ value: z.string(), text: z.string().optional() });
const schemeBase = {
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a name of letters, digits and _'),
  label: z.string().optional(),
  description: z.string().optional(),
  required: z.boolean().default(false),
};
export const annotationSchemeSchema = z.discriminatedUnion('annotation_type', [
  z.strictObject({ annotation_type: z.literal('radio'), ...schemeBase, options: z.array(option).min(1) }),
  z.strictObject({ annotation_type: z.literal('select'), ...schemeBase, options: z.array(option).min(1) }),
  z.strictObject({
    annotation_type: z.literal('multiselect'),
    ...schemeBase,
    options: z.array(option).min(1),
  }),
  z.strictObject({ annotation_type: z.literal('checkbox'), ...schemeBase, options: z.array(option).min(1) }),
  z.strictObject({
    annotation_type: z.literal('likert'),
    ...schemeBase,
    size: z.int().min(2).max(11).default(5),
    min_label: z.string().optional(),
    max_label: z.string().optional(),
  }),
  z.strictObject({
    annotation_type: z.literal('number'),
    ...schemeBase,
    min: z.number().optional(),
    max: z.number().optional(),
  }),
  z.strictObject({
    annotation_type: z.literal('text_input'),
    ...schemeBase,
    placeholder: z.string().optional(),
    multiline: z.boolean().default(true),
  }),
]);

export const configSchema = z.strictObject({
  project_name: z.string().min(1).default('Potato Live'),
  port: z.int().min(1).max(65535).default(8000),
  /** Beyond the source: the address to listen on. */
  host: z.string().default('127.0.0.1'),
  /**
   * Beyond the source: origins besides the server's own address whose pages may drive the API
   * (the public origin of a reverse proxy in front of the server).
   */
  allowed_origins: z.array(origin).default([]),
  /** Beyond the source: how much the server logs (the env var POTATO_LOG_LEVEL overrides it). */
  log_level: z.enum(LOG_LEVELS).default('info'),
  live_coding_agent: liveCodingAgentSchema,
  session_lease: sessionLease.prefault({}),
  annotation_schemes: z.array(annotationSchemeSchema).default([]),
  output: z
    .strictObject({
      path: z.string().min(1).default('./output/'),
      /**
       * Beyond the source: the environment variable holding a PostgreSQL URL
       * (postgresql://user:password@host/db). Set, the store is that database; absent, SQLite at
       * `<path>/potato.db`. The URL itself never goes in the file (docs/deploy.md).
       */
      database_url_env: envVarName.optional(),
      format: z.literal('jsonl').default('jsonl'),
      export_formats: z.array(z.enum(EXPORT_FORMATS)).default([]),
      /** Beyond the source: choices the TRL variants and the preference rule leave open (docs/exports.md). */
      export_options: z
        .strictObject({
          annotator_calls: z.enum(['mark', 'exclude']).default('mark'),
          rollback_instruction: z.enum(['prompt', 'exclude']).default('prompt'),
          prm_window: z.int().min(1).max(1000).default(8),
          prm_sparse_labels: z.boolean().default(false),
          outcome_order: z.array(z.string().min(1)).default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  annotators: z
    .array(
      z.strictObject({
        username: z.string().min(1),
        password: z.string().min(1),
        /** A lead sees every annotator's sessions and downloads exports from the browser. */
        role: z.enum(['annotator', 'lead']).default('annotator'),
      }),
    )
    .min(1, 'at least one annotator'),
});

export type RawConfig = z.output<typeof configSchema>;
export type AnnotationScheme = z.output<typeof annotationSchemeSchema>;
export type LiveCodingAgentConfig = z.output<typeof liveCodingAgentSchema>;
export type SandboxConfig = LiveCodingAgentConfig['sandbox'];
export type BackendName = (typeof BACKENDS)[number];
export type ToolName = (typeof TOOL_NAMES)[number];
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

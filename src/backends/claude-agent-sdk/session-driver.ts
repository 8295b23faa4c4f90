/**
 * @module backends/claude-agent-sdk/session-driver
 * The session driver for the Claude Agent SDK, which runs its own loop and tools. The session's
 * lifecycle (src/session/lifecycle.ts) stays the same as for every backend; this driver keeps
 * its observable behaviour through the SDK's handles: each SDK message becomes a step (with the
 * SDK message uuid in its payload, so a rollback can resume there), a changing step is
 * checkpointed in git, the pause gate holds in the PreToolUse hook, an instruction goes in as
 * streaming input, stop and sandbox.timeout interrupt, and after a rollback (the workspace reset
 * with our checkpoints) the SDK session resumes at the target step's message (forked for a new
 * branch). In permission_mode ask (and restricted, for tools that change the workspace) each
 * tool call waits for the annotator's approve / edit / deny: the `approvals` of its capability.
 * With the Docker sandbox, Claude Code runs inside the session's container; with the local one
 * and the server running as root, as the sandbox's own user; with any sandbox its Bash calls go
 * through the sandbox's command policy.
 */
import { rmdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { CheckpointStore } from '../../checkpoints/types.js';
import type { PotatoConfig } from '../../config/types.js';
import { ignored } from '../../errors.js';
import { CONTAINER_WORKSPACE } from '../../sandbox/docker/container.js';
import { LocalSandbox } from '../../sandbox/local/local-sandbox.js';
import type { Sandbox } from '../../sandbox/types.js';
import type {
  ApprovalDecision,
  Approvals,
  PassOutcome,
  PendingApproval,
  SessionContext,
  SessionDriver,
} from '../../session/driver.js';
import type { AgentActivity } from '../../session/events.js';
import type { CheckedRollback, SessionRecorder } from '../../session/recorder.js';
import { ControlError, type RollbackRequest } from '../../session/types.js';
import type { Step, StepPayload, ToolCall } from '../../steps/types.js';
import type { Intervention, SessionRecord } from '../../store/types.js';
import { API_SOCKET, CLAUDE_CODE_DIR, CONFIG_DIR, claudeCodeHostPaths, prepareClaudeCodeForUser } from './container.js';
import type {
  ClaudeAgentRun,
  ClaudeAgentRunRequest,
  ClaudeAgentSdkBackend,
  ConfinedClaudeCode,
  PermissionAnswer,
  SdkStep,
} from './index.js';

export interface SdkDriverDeps {
  config: PotatoConfig;
  backend: ClaudeAgentSdkBackend;
  /** Where Claude Code works: a docker sandbox runs it in the container, a local one on the host (as its user when we are root). */
  sandbox: Sandbox;
  /** Null when checkpoints.enabled is false (rollback is then refused). */
  checkpoints: CheckpointStore | null;
  session: SessionRecord;
}

/** Where a step sits in the SDK's transcript: stored inside the step's payload. */
export interface SdkRef {
  sdk_uuid: string;
  sdk_session_id: string;
}

const ACTIVITY: Record<string, AgentActivity> = {
  Read: 'reading_file',
  Edit: 'editing_file',
  Write: 'editing_file',
  Bash: 'running_command',
  Glob: 'searching',
  Grep: 'searching',
};

/** The SDK position recorded with a step, if any (steps the controller itself wrote have none). */
export function sdkRefOf(step: Step): SdkRef | null {
  const p = step.payload as Partial<SdkRef>;
  return p.sdk_uuid && p.sdk_session_id ? { sdk_uuid: p.sdk_uuid, sdk_session_id: p.sdk_session_id } : null;
}

/** One line that tells the annotator what the agent wants to do. */
export function describeCall(call: ToolCall, cwd: string): string {
  const i = call.input;
  const file = typeof i.file_path === 'string' ? i.file_path.replace(`${cwd}/`, '') : '';
  switch (call.name) {
    case 'Bash':
      return `Bash wants to run: ${String(i.command ?? '')}`;
    case 'Edit':
      return `Edit wants to change ${file}`;
    case 'Write':
      return `Write wants to write ${file}`;
    case 'Read':
      return `Read wants to read ${file}`;
    default:
      return `${call.name} wants to run with ${JSON.stringify(i).slice(0, 200)}`;
  }
}

type Launch = Pick<ClaudeAgentRunRequest, 'resume' | 'prompt'>;

interface Waiting {
  call: ToolCall;
  description: string;
  since: number;
  resolve: (answer: PermissionAnswer) => void;
}

export class ClaudeAgentSdkDriver implements SessionDriver {
  readonly capability: { kind: 'own-loop'; approvals: Approvals };
  readonly pausePoint = 'before the next tool call';
  private readonly rec: SessionRecorder;
  private run: ClaudeAgentRun | null = null;
  /** How the next run starts: fresh, or resuming the SDK transcript at a step. */
  private launch: Launch = {};
  private readonly waiting = new Map<string, Waiting>();
  /** Instructions given while no SDK run is alive: they open the next one. */
  private queued: Intervention[] = [];
  /** Instructions sent while a model request was out with none of its answer back: that turn is not the one that got them. */
  private sentMidRequest = new Set<Intervention>();
  /** A model request is out and none of its answer has come (a run's start, or after a tool result). */
  private awaitingTurn = false;
  /** The last thing the agent said in each model turn: the checkpoint's "Agent reasoning". */
  private readonly reasoning = new Map<string, string>();
  /** Git work (pre-command snapshot, commits) one at a time, in the order the SDK reported it. */
  private gitChain: Promise<unknown> = Promise.resolve();
  /** Set when Claude Code runs confined: in the session's container, or as the local sandbox's user. */
  private readonly confined: ConfinedClaudeCode | null;
  /** Set when that is the local sandbox's user: its folders are prepared before each run. */
  private readonly localUser: LocalSandbox['user'] = null;
  /** The workspace as Claude Code sees it. */
  private readonly cwd: string;

  constructor(
    private readonly deps: SdkDriverDeps,
    private readonly ctx: SessionContext,
  ) {
    this.rec = ctx.rec;
    this.capability = {
      kind: 'own-loop',
      approvals: {
        pending: () => this.pendingApprovals(),
        approve: (callId, decision, annotator) => this.approve(callId, decision, annotator),
      },
    };
    const sandbox = deps.sandbox;
    const paths = claudeCodeHostPaths(deps.config.output.path, deps.session.id);
    const spawn = sandbox.spawn?.bind(sandbox);
    if (spawn && sandbox.type === 'docker') {
      this.confined = {
        spawn,
        apiSocket: paths.apiSocket,
        socket: API_SOCKET,
        configDir: CONFIG_DIR,
        program: (command) => `${CLAUDE_CODE_DIR}/${basename(command)}`,
        root: process.getuid?.() === 0,
      };
    } else if (spawn && sandbox instanceof LocalSandbox && sandbox.user) {
      this.localUser = sandbox.user;
      this.confined = {
        spawn,
        apiSocket: paths.apiSocket,
        socketGroup: sandbox.user.gid,
        socket: paths.apiSocket,
        configDir: paths.configDir,
        program: (command) => command,
        root: false,
      };
    } else this.confined = null;
    this.cwd = this.confined && sandbox.type === 'docker' ? CONTAINER_WORKSPACE : deps.session.workspace;
  }

  /**
   * Preflight: the API key is there and, in a container, the image can run Claude Code (a
   * native glibc program); the manager fails the session with this message otherwise.
   */
  async check(): Promise<void> {
    await this.deps.backend.check();
    if (!this.confined || this.deps.sandbox.type !== 'docker') return;
    const probe = await this.deps.sandbox.exec(`${CLAUDE_CODE_DIR}/claude --version`, { timeoutMs: 60_000 });
    if (probe.exitCode !== 0) {
      throw new Error(
        `the claude_agent_sdk backend runs Claude Code inside the session's container, and the image ${this.rec.cfg.sandbox.image} cannot run it (${CLAUDE_CODE_DIR}/claude --version: ${probe.output.trim().slice(0, 300) || `exit ${probe.exitCode}`}). Use an image with glibc (Debian, Ubuntu, python:3.x-slim, node:20-slim…), or sandbox.type local.`,
      );
    }
  }

  /** A live run takes the instruction now; otherwise it opens the next run. */
  deliver(iv: Intervention): void {
    // Placed when the agent receives it: a new SDK model turn (onTurn), or the prompt of the next run.
    if (this.run && !this.ctx.rollingBack()) {
      this.run.instruct(iv.content ?? '');
      // A request already sent, whose answer has not begun, cannot hold it: the turn after it does.
      if (this.awaitingTurn && this.rec.activityNow === 'thinking') this.sentMidRequest.add(iv);
    } else this.queued.push(iv);
  }

  begin(): void {
    this.launch = this.firstLaunch();
  }

  /** One SDK run, until it ends, is interrupted, or an instruction waits to continue it. */
  async pass(): Promise<PassOutcome> {
    const result = await this.runOnce(this.launch);
    await this.rec.addUsage(result.usage);
    if (this.ctx.stopping() || this.ctx.rollingBack()) return 'more';
    if (this.queued.length > 0) {
      // An instruction arrived as the SDK was finishing: continue the conversation with it.
      this.launch = this.continueAt(this.rec.head, false, null);
      return 'more';
    }
    if (result.outcome === 'success') return { status: 'finished', reason: 'the agent finished its work' };
    return { status: 'failed', reason: `the Claude Agent SDK ended with ${result.outcome}`, error: 'backend' };
  }

  interrupt(cause: { type: 'stop'; reason: string } | { type: 'rollback' }): void {
    this.denyWaiting(cause.type === 'stop' ? 'the session is being stopped' : 'the annotator rolled the session back');
    void this.run?.stop();
  }

  vetRollback(req: RollbackRequest): void {
    if (req.editedToolCall) {
      throw new ControlError(
        'the claude_agent_sdk backend runs its own tools and cannot replay an edited tool call: send the change as an instruction, or edit the call when it is asked for approval (permission_mode: ask)',
        'bad_request',
      );
    }
  }

  async settle(): Promise<void> {
    await this.settleGit();
    // Instructions sent to the run being stopped were for the path being left; queued ones open the next run.
    await this.rec.deliverInstructions((iv) => !this.queued.includes(iv));
  }

  private async settleGit(): Promise<void> {
    // Each git step's failure went to the caller that queued it; here only its end matters.
    await this.gitChain.catch(() => {});
  }

  async afterRollback({ target, keep, req }: CheckedRollback): Promise<void> {
    this.launch = this.continueAt(target, keep, req.instruction?.trim() || null);
  }

  afterReset(): void {
    this.launch = this.continueAt(this.rec.head, false, null);
  }

  /** Everything an SDK run does is the backend's: its failures are recorded as backend errors. */
  failureKind(): 'backend' {
    return 'backend';
  }

  async ended(): Promise<void> {
    this.run = null;
    this.denyWaiting('the session ended');
    // The API socket's folder (the socket itself went with the run); a rollback makes it again.
    // Absent (no run started) or not empty (a run still closing) is fine: the folder is harmless.
    if (this.confined) await rmdir(dirname(this.confined.apiSocket)).catch(() => {});
    await this.settleGit();
  }

  /** ask mode: the annotator's answer to a waiting tool call. */
  private async approve(callId: string, decision: ApprovalDecision, annotator: string): Promise<void> {
    const w = this.waiting.get(callId);
    if (!w) throw new ControlError(`no tool call ${callId} is waiting for approval in this session`, 'not_found');
    if (decision.input !== undefined && (typeof decision.input !== 'object' || Array.isArray(decision.input))) {
      throw new ControlError('the edited input must be a JSON object of the tool input fields', 'bad_request');
    }
    this.waiting.delete(callId);
    const message = decision.message?.trim() || undefined;
    const recorded = this.rec.intervene(
      'approval',
      JSON.stringify({
        call_id: callId,
        tool: w.call.name,
        allow: decision.allow,
        ...(decision.input ? { input: decision.input } : {}),
        ...(message ? { message } : {}),
      }),
      annotator,
    );
    // The marker is queued before the call goes on, so it lands before the call's step.
    if (decision.allow) {
      w.resolve(decision.input ? { allow: true, input: decision.input } : { allow: true });
      await Promise.all([recorded, this.rec.emitStatus(ACTIVITY[w.call.name] ?? 'running_command')]);
      return;
    }
    w.resolve({ allow: false, reason: message ?? `the annotator denied this ${w.call.name} call` });
    await Promise.all([recorded, this.rec.emitStatus('thinking')]);
  }

  /** Tool calls waiting for the annotator, oldest first. */
  private pendingApprovals(): PendingApproval[] {
    return [...this.waiting.values()].map((w) => ({
      call_id: w.call.id,
      tool: w.call.name,
      input: w.call.input,
      description: w.description,
      since: w.since,
    }));
  }

  // ── runs ────────────────────────────────────────────────────────────────────────────────

  private async runOnce(launch: Launch) {
    // What is waiting goes in with this run's first request (the queued ones in its prompt).
    this.sentMidRequest.clear();
    await this.rec.deliverInstructions();
    this.awaitingTurn = true;
    const sb = this.rec.cfg.sandbox;
    const sandbox = this.deps.sandbox;
    if (this.localUser) {
      await prepareClaudeCodeForUser(claudeCodeHostPaths(this.deps.config.output.path, this.rec.id), this.localUser);
    }
    const run = this.deps.backend.run({
      task: this.deps.session.task,
      cwd: this.cwd,
      // Unreadable or absent before the edit: the diff shows it as a new file.
      readFile: (file) => sandbox.readFile(file).catch(() => null),
      ...(this.confined ? { confined: this.confined } : {}),
      policy: {
        allowed: sb.allowed_commands,
        restricted: [...sb.restricted_commands, ...(this.rec.cfg.claude_agent_sdk?.restricted_commands ?? [])],
      },
      commandTimeoutMs: Math.round(sb.command_timeout * 1000),
      ...launch,
      hooks: {
        onStep: (s) => this.onStep(s),
        beforeTool: (call) => this.beforeTool(call),
        askPermission: (call) => this.askPermission(call),
        onTurn: () => this.onTurn(),
      },
    });
    this.run = run;
    await this.rec.emitStatus('thinking');
    try {
      return await run.done;
    } finally {
      this.run = null;
    }
  }

  /** A new session starts from the task; a continued one resumes the SDK session at its head. */
  private firstLaunch(): Launch {
    if (!this.rec.head) return this.queued.length ? { prompt: this.withQueued(this.deps.session.task) } : {};
    return this.continueAt(this.rec.head, false, null);
  }

  /** Resume the SDK transcript after `target` (the nearest step on its path the SDK knows). */
  private continueAt(target: Step | null, fork: boolean, instruction: string | null): Launch {
    const path = target ? this.rec.path() : [];
    const known =
      [...path]
        .reverse()
        .map(sdkRefOf)
        .find((r) => r !== null) ?? null;
    const note =
      instruction ??
      (target ? `The workspace is as it was after step ${target.step_idx}. Continue with the task from there.` : null);
    if (!known) {
      const task = this.deps.session.task;
      return { prompt: this.withQueued(note && instruction ? `${task}\n\n${note}` : task) };
    }
    return {
      resume: { session_id: known.sdk_session_id, at: known.sdk_uuid, fork },
      prompt: this.withQueued(note ?? 'Continue with the task.'),
    };
  }

  private withQueued(prompt: string): string {
    const all = [prompt, ...this.queued.map((iv) => iv.content ?? '')];
    this.queued = [];
    return all.join('\n\n');
  }

  // ── the SDK's hooks ─────────────────────────────────────────────────────────────────────

  private async beforeTool(call: ToolCall): Promise<{ deny: string } | undefined> {
    await this.ctx.gate();
    if (this.ctx.stopping()) return { deny: 'the session is being stopped' };
    if (this.ctx.rollingBack()) return { deny: 'the annotator is rolling the session back' };
    const cp = this.deps.checkpoints;
    if (call.name === 'Bash' && cp && this.rec.cfg.checkpoints.auto_commit_on_file_change) {
      await this.git(() => cp.beforeCommand());
    }
    await this.showWorking(ACTIVITY[call.name] ?? 'running_command');
  }

  private askPermission(call: ToolCall): Promise<PermissionAnswer> {
    if (this.ctx.stopping() || this.ctx.rollingBack())
      return Promise.resolve({ allow: false, reason: 'the session is being stopped' });
    const description = describeCall(call, this.cwd);
    return new Promise((resolve) => {
      this.waiting.set(call.id, { call, description, since: Date.now(), resolve });
      void this.rec
        .emitStatus('waiting_approval', `${description} (call ${call.id}): approve, edit or deny`)
        .catch(ignored('showing a tool call that waits for approval'));
    });
  }

  /** A new model turn: its request held the instructions sent before it went out, placed at the head now. */
  private async onTurn(): Promise<void> {
    this.awaitingTurn = false;
    const inFlight = new Set(this.sentMidRequest);
    this.sentMidRequest.clear();
    await this.rec.deliverInstructions((iv) => !inFlight.has(iv));
  }

  private async onStep(s: SdkStep): Promise<void> {
    const started = Date.now();
    const p = s.payload;
    let changed: string[] | 'unknown' = [];
    if ((p.type === 'file_edit' || p.type === 'file_write') && !s.tool_is_error) changed = [p.path];
    else if (p.type === 'bash_command' && !p.refused) changed = 'unknown';
    const checkpoint = await this.git(() =>
      this.rec.checkpoint(this.deps.checkpoints, p, changed, this.reasoning.get(s.turn_id) ?? null),
    );
    if (p.type === 'thinking' || p.type === 'message') this.reasoning.set(s.turn_id, p.content);
    const ref: SdkRef = { sdk_uuid: s.sdk_uuid, sdk_session_id: s.sdk_session_id };
    const payload: StepPayload = Object.assign({}, p, ref);
    await this.rec.step({
      payload,
      author: 'agent',
      turn_id: s.turn_id,
      tool_call: s.tool_call,
      tool_result: s.tool_result,
      tool_is_error: s.tool_is_error,
      usage: s.usage,
      started_at: started,
      checkpoint,
    });
    // After a tool's result the next model request goes out.
    if (s.tool_call) this.awaitingTurn = true;
    await this.showWorking('thinking');
  }

  /**
   * The agent's activity, unless a tool call waits for the annotator: the SDK reports the message
   * that asked for it (and other work) after the permission request, and the status must go on
   * saying that something waits for them.
   */
  private async showWorking(activity: AgentActivity): Promise<void> {
    if (this.waiting.size > 0) return;
    await this.rec.emitStatus(activity);
  }

  private git<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.gitChain.then(fn, fn);
    // The chain only orders steps: `next`, returned below, carries this step's failure to its caller.
    this.gitChain = next.catch(() => {});
    return next;
  }

  private denyWaiting(reason: string): void {
    for (const w of this.waiting.values()) w.resolve({ allow: false, reason });
    this.waiting.clear();
  }
}

/**
 * @module session/controller
 * The SessionController: one session's agent loop and its controls. The loop is
 *   model turn → tool calls → sandbox → step records → checkpoint → pause gate
 * and every control (pause, instruct, stop, rollback/branch) acts at a step boundary, the same
 * for every backend that exposes raw model turns. The log is append-only: a rollback moves the
 * head (and, with branching on, starts a new branch); old steps stay in the tree.
 */
import { randomUUID } from 'node:crypto';
import type { AgentBackend, ModelEvent, ToolSpec } from '../backends/types.js';
import { BackendError } from '../backends/types.js';
import type { CheckpointStore } from '../checkpoints/types.js';
import type { PotatoConfig } from '../config/types.js';
import type { Sandbox } from '../sandbox/types.js';
import type { Step, StepPayload, TokenUsage, ToolCall } from '../steps/types.js';
import { branchPath, pathTo } from '../store/tree.js';
import type { BranchRecord, Intervention, InterventionType, SessionRecord, Store } from '../store/types.js';
import type { ToolContext, ToolOutcome } from '../tools/types.js';
import { checkpointMessage } from './checkpoint-message.js';
import { buildContext } from './context.js';
import type { AgentActivity, SessionStatus } from './events.js';
import type { EventHub } from './hub.js';
import { ControlError, type RollbackRequest, type SessionControls } from './types.js';

export type ExecuteTool = (call: ToolCall, ctx: ToolContext) => Promise<ToolOutcome>;

export interface ControllerDeps {
  config: PotatoConfig;
  store: Store;
  hub: EventHub;
  backend: AgentBackend;
  sandbox: Sandbox;
  /** Null when checkpoints.enabled is false (rollback is then refused). */
  checkpoints: CheckpointStore | null;
  executeTool: ExecuteTool;
  tools: ToolSpec[];
  system: string;
  session: SessionRecord;
  branch: BranchRecord;
  /** Called once each time the loop ends (export after every session, cleanup). */
  onEnded?: (session: SessionRecord) => Promise<void> | void;
}

const MAX_MALFORMED_TURNS = 3;
const ENDED: SessionStatus[] = ['stopped', 'finished', 'failed', 'interrupted'];

const ACTIVITY: Record<string, AgentActivity> = {
  file_read: 'reading_file',
  file_edit: 'editing_file',
  bash_command: 'running_command',
  directory_list: 'listing',
  file_search: 'searching',
};

interface PendingRollback {
  req: RollbackRequest;
  target: Step | null;
  commit: string;
  keep: boolean;
  done: { resolve: () => void; reject: (e: unknown) => void };
}

export class SessionController implements SessionControls {
  readonly id: string;
  private readonly cfg: PotatoConfig['live_coding_agent'];
  private state: SessionStatus;
  private head: Step | null;
  private branch: BranchRecord;
  private pauseRequested = false;
  private wake: (() => void) | null = null;
  private stopRequest: { type: 'stop' | 'timeout'; reason: string; annotator: string } | null = null;
  private rollbackRequest: PendingRollback | null = null;
  private editedCall: ToolCall | null = null;
  private inflight: AbortController | null = null;
  private timeout: NodeJS.Timeout | null = null;
  private checkpointCount = 0;
  private malformedTurns = 0;
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ControllerDeps) {
    this.id = deps.session.id;
    this.cfg = deps.config.live_coding_agent;
    this.state = deps.session.status;
    this.branch = deps.branch;
    this.head = deps.branch.head_step_id ? deps.store.getStep(deps.branch.head_step_id) : null;
    this.checkpointCount = deps.store.listSteps(this.id).filter((s) => s.changed_files).length;
  }

  get done(): Promise<void> {
    return this.loop;
  }

  status(): SessionStatus {
    return this.state;
  }

  /** Start (or restart after a rollback of an ended session) the agent loop. */
  start(): void {
    this.stopRequest = null;
    this.setStatus('running', 'starting');
    if (!this.timeout) {
      const ms = this.cfg.sandbox.timeout * 1000;
      this.timeout = setTimeout(() => {
        this.requestStop('timeout', `timeout after ${this.cfg.sandbox.timeout} s (sandbox.timeout)`, 'system');
      }, ms);
      this.timeout.unref();
    }
    this.loop = this.run();
  }

  // ── controls ────────────────────────────────────────────────────────────────────────────

  pause(annotator: string): void {
    this.requireEnabled('pause_enabled', 'pause');
    this.requireLive('pause');
    if (this.state === 'paused' || this.pauseRequested)
      throw new ControlError('the agent is already paused', 'invalid_state');
    this.pauseRequested = true;
    this.intervene('pause', null, annotator);
    this.emitStatus(this.activityNow, 'pausing after the current step');
  }

  resume(annotator: string): void {
    this.requireLive('resume');
    if (this.state !== 'paused' && !this.pauseRequested)
      throw new ControlError('the agent is not paused', 'invalid_state');
    this.pauseRequested = false;
    this.intervene('resume', null, annotator);
    if (this.state === 'paused') this.setStatus('running', 'starting');
    this.wakeLoop();
  }

  instruct(text: string, annotator: string): void {
    this.requireEnabled('instruction_enabled', 'send instruction');
    this.requireLive('send an instruction');
    const trimmed = text.trim();
    if (!trimmed) throw new ControlError('an instruction needs some text', 'bad_request');
    // Delivered in the next model request: the context is rebuilt from the interventions.
    this.intervene('instruction', trimmed, annotator);
  }

  async stop(annotator: string): Promise<void> {
    this.requireEnabled('stop_enabled', 'stop');
    this.requireLive('stop');
    this.requestStop('stop', 'stopped by the annotator', annotator);
    await this.loop;
  }

  async rollback(req: RollbackRequest): Promise<void> {
    const keep = req.branch ?? (this.cfg.branching.enabled && this.cfg.controls.branch_enabled);
    this.requireEnabled(keep ? 'branch_enabled' : 'rollback_enabled', keep ? 'branch' : 'rollback');
    if (keep && !this.cfg.branching.enabled) {
      throw new ControlError('branching is turned off (live_coding_agent.branching.enabled: false)', 'disabled');
    }
    if (!this.deps.checkpoints) {
      throw new ControlError('rollback needs checkpoints (live_coding_agent.checkpoints.enabled is false)', 'disabled');
    }
    if (this.rollbackRequest) throw new ControlError('a rollback is already in progress', 'invalid_state');
    const reason = req.reason?.trim() || undefined;
    if (this.cfg.branching.require_reason_on_rollback && !reason) {
      throw new ControlError(
        'a reason is required to roll back (branching.require_reason_on_rollback)',
        'reason_required',
      );
    }
    const target = req.toStepId ? this.deps.store.getStep(req.toStepId) : null;
    if (req.toStepId && (!target || target.session_id !== this.id)) {
      throw new ControlError(`no step ${req.toStepId} in this session`, 'not_found');
    }
    const commit = target ? target.checkpoint : this.deps.session.base_commit;
    if (!commit) {
      throw new ControlError(
        `step ${target?.step_idx} has no checkpoint (live_coding_agent.checkpoints.max_checkpoints was reached before it)`,
        'invalid_state',
      );
    }
    if (keep) {
      const count = this.deps.store.listBranches(this.id).length;
      const max = this.cfg.branching.max_branches_per_session;
      if (count >= max) {
        throw new ControlError(
          `this session already has ${count} branches, the most allowed (branching.max_branches_per_session: ${max})`,
          'branch_limit',
        );
      }
    }
    if (req.editedToolCall && !this.deps.tools.some((t) => t.name === req.editedToolCall?.name)) {
      throw new ControlError(`unknown tool "${req.editedToolCall.name}" in the edited tool call`, 'bad_request');
    }
    const applied = new Promise<void>((resolve, reject) => {
      this.rollbackRequest = { req: { ...req, reason }, target, commit, keep, done: { resolve, reject } };
    });
    if (ENDED.includes(this.state)) {
      this.start();
    } else {
      this.pauseRequested = false;
      this.inflight?.abort();
      this.wakeLoop();
    }
    await applied;
  }

  // ── the loop ────────────────────────────────────────────────────────────────────────────

  private async run(): Promise<void> {
    try {
      for (;;) {
        await this.gate();
        if (this.stopRequest) break;
        if (this.rollbackRequest) {
          await this.applyRollback();
          continue;
        }
        if (this.editedCall) {
          const call = this.editedCall;
          this.editedCall = null;
          await this.runTool(call, 'annotator', `annotator_${randomUUID()}`, null, null);
          continue;
        }
        const turn = await this.modelTurn();
        if (!turn) continue; // interrupted by stop or rollback
        if (turn.malformedOnly) {
          // The errors go back to the model; a model that keeps failing ends the session.
          if (++this.malformedTurns >= MAX_MALFORMED_TURNS) {
            throw new BackendError(
              `the model made ${MAX_MALFORMED_TURNS} malformed tool calls in a row`,
              'bad_response',
            );
          }
          continue;
        }
        this.malformedTurns = 0;
        if (turn.calls.length === 0) {
          this.end('finished', 'the agent finished its work');
          break;
        }
        for (const call of turn.calls) {
          await this.gate();
          if (this.stopRequest || this.rollbackRequest) break;
          await this.runTool(call, 'agent', turn.turnId, turn.reasoning, turn.usageFor === call.id ? turn.usage : null);
        }
      }
      if (this.stopRequest) {
        const { type, reason, annotator } = this.stopRequest;
        this.intervene(type, reason, annotator);
        this.end('stopped', reason);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.recordError(err instanceof BackendError ? 'backend' : 'internal', message, null);
      this.end('failed', message);
    } finally {
      this.inflight = null;
      if (this.rollbackRequest) {
        this.rollbackRequest.done.reject(new ControlError('the session ended before the rollback', 'invalid_state'));
        this.rollbackRequest = null;
      }
      if (this.timeout) clearTimeout(this.timeout);
      this.timeout = null;
      await this.deps.onEnded?.(this.session());
    }
  }

  /** Wait while paused; the pause takes effect here, between steps. */
  private async gate(): Promise<void> {
    while (this.pauseRequested && !this.stopRequest && !this.rollbackRequest) {
      if (this.state !== 'paused') {
        this.setStatus('paused', 'idle');
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
    if (this.state === 'paused') this.setStatus('running', 'starting');
  }

  private wakeLoop(): void {
    this.wake?.();
  }

  private async modelTurn(): Promise<{
    turnId: string;
    calls: ToolCall[];
    reasoning: string | null;
    usage: TokenUsage | null;
    usageFor: string | null;
    malformedOnly: boolean;
  } | null> {
    const turnId = `turn_${randomUUID()}`;
    const abort = new AbortController();
    this.inflight = abort;
    const context = buildContext(this.deps.session.task, this.path(), this.deps.store.listInterventions(this.id));
    const blocks: { type: 'thinking' | 'message'; content: string; signature?: string; key: string; at: number }[] = [];
    const calls: ToolCall[] = [];
    const bad: { call: ToolCall; error: string }[] = [];
    let usage: TokenUsage | null = null;
    let current: (typeof blocks)[number] | null = null;
    const started = Date.now();
    this.emitStatus('thinking');
    try {
      const stream = this.deps.backend.turn({
        system: this.deps.system,
        context,
        tools: this.deps.tools,
        signal: abort.signal,
      });
      for await (const ev of stream as AsyncIterable<ModelEvent>) {
        if (abort.signal.aborted) break;
        switch (ev.type) {
          case 'thinking-start':
          case 'text-start':
            current = {
              type: ev.type === 'thinking-start' ? 'thinking' : 'message',
              content: '',
              key: `${turnId}:${blocks.length}`,
              at: Date.now(),
            };
            blocks.push(current);
            this.emitStatus(ev.type === 'thinking-start' ? 'thinking' : 'writing');
            break;
          case 'thinking-delta':
          case 'text-delta':
            if (current) {
              current.content += ev.text;
              if (current.type === 'message' || this.cfg.streaming.show_thinking) {
                this.deps.hub.partial(this.id, current.key, current.type, ev.text);
              }
            }
            break;
          case 'thinking-end':
            if (current && ev.signature) current.signature = ev.signature;
            current = null;
            break;
          case 'text-end':
            current = null;
            break;
          case 'tool-input-start':
            if (this.cfg.streaming.show_tool_inputs)
              this.deps.hub.partial(this.id, `${turnId}:${ev.id}`, 'tool_input', '', ev.name);
            this.emitStatus(ACTIVITY[ev.name] ?? 'thinking');
            break;
          case 'tool-input-delta':
            if (this.cfg.streaming.show_tool_inputs)
              this.deps.hub.partial(this.id, `${turnId}:${ev.id}`, 'tool_input', ev.delta);
            break;
          case 'tool-call':
            if (ev.error) bad.push({ call: { id: ev.id, name: ev.name, input: ev.input }, error: ev.error });
            else calls.push({ id: ev.id, name: ev.name, input: ev.input });
            break;
          case 'usage':
            usage = usage
              ? {
                  input_tokens: usage.input_tokens + ev.usage.input_tokens,
                  output_tokens: usage.output_tokens + ev.usage.output_tokens,
                }
              : ev.usage;
            break;
          case 'status':
            this.emitStatus('retrying', ev.message);
            break;
          case 'finish':
            break;
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      if (this.inflight === abort) this.inflight = null;
    }
    // What streamed before an interruption is kept: the annotator saw it.
    let reasoning: string | null = null;
    const textSteps = blocks.filter((b) => b.content.length > 0);
    textSteps.forEach((b, i) => {
      const last = i === textSteps.length - 1;
      const payload: StepPayload =
        b.type === 'thinking'
          ? { type: 'thinking', content: b.content, ...(b.signature ? { signature: b.signature } : {}) }
          : { type: 'message', content: b.content };
      this.recordStep({
        payload,
        author: 'agent',
        turn_id: turnId,
        usage: last ? usage : null,
        started_at: b.at,
        partial_key: b.key,
      });
      reasoning = b.content;
    });
    if (usage) this.addUsage(usage);
    for (const { call, error } of bad) {
      this.recordError('bad_tool_call', `the ${call.name} call could not be used: ${error}`, call, turnId);
    }
    if (abort.signal.aborted) return null;
    const usageFor = textSteps.length === 0 && calls[0] ? calls[0].id : null;
    // A turn whose only calls were malformed goes back to the model with the errors.
    void started;
    return { turnId, calls, reasoning, usage, usageFor, malformedOnly: calls.length === 0 && bad.length > 0 };
  }

  private async runTool(
    call: ToolCall,
    author: 'agent' | 'annotator',
    turnId: string,
    reasoning: string | null,
    usage: TokenUsage | null,
  ): Promise<void> {
    const key = `${turnId}:${call.id}`;
    const started = Date.now();
    const abort = new AbortController();
    this.inflight = abort;
    this.emitStatus(ACTIVITY[call.name] ?? 'running_command');
    const sandbox = this.cfg.sandbox;
    let outcome: ToolOutcome;
    try {
      outcome = await this.deps.executeTool(call, {
        sandbox: this.deps.sandbox,
        policy: { allowed: sandbox.allowed_commands, restricted: sandbox.restricted_commands },
        commandTimeoutMs: Math.round(sandbox.command_timeout * 1000),
        maxOutputBytes: sandbox.max_output_bytes,
        onOutput: (chunk) => this.deps.hub.partial(this.id, key, 'output', chunk, call.name),
        signal: abort.signal,
        beforeCommand: this.deps.checkpoints ? () => this.deps.checkpoints!.beforeCommand() : undefined,
      });
    } finally {
      if (this.inflight === abort) this.inflight = null;
    }
    const checkpoint = await this.checkpointAfter(outcome, reasoning);
    this.recordStep({
      payload: outcome.payload,
      author,
      turn_id: turnId,
      tool_call: call,
      tool_result: outcome.result,
      tool_is_error: outcome.isError,
      usage,
      started_at: started,
      partial_key: key,
      checkpoint,
    });
  }

  /** Commit after a changing step; the sha the step points at, and whether it is a new commit. */
  private async checkpointAfter(
    outcome: ToolOutcome,
    reasoning: string | null,
  ): Promise<{ sha: string | null; changed: boolean } | undefined> {
    const cp = this.deps.checkpoints;
    const cfg = this.cfg.checkpoints;
    if (!cp || !cfg.auto_commit_on_file_change) return undefined;
    if (outcome.changed !== 'unknown' && outcome.changed.length === 0) return undefined;
    if (this.checkpointCount >= cfg.max_checkpoints) {
      this.emitStatus(
        this.activityNow,
        `max_checkpoints (${cfg.max_checkpoints}) reached: later steps are not checkpointed and cannot be rolled back to`,
      );
      return { sha: null, changed: false };
    }
    const idx = this.nextIdx();
    const message = checkpointMessage(cfg.commit_message_prefix, idx, outcome.payload, reasoning);
    const sha = await cp.commit({ message, paths: outcome.changed === 'unknown' ? undefined : outcome.changed });
    if (!sha) return undefined;
    this.checkpointCount++;
    return { sha, changed: true };
  }

  private async applyRollback(): Promise<void> {
    const rb = this.rollbackRequest!;
    const { req, target, commit, keep } = rb;
    const cp = this.deps.checkpoints!;
    const store = this.deps.store;
    try {
      const from = this.head;
      if (keep) {
        const branches = store.listBranches(this.id);
        const name = branchName(branches.length, this.cfg.branching.auto_name_branches);
        await cp.createBranch(name, commit);
        const parent = this.branchHolding(target, branches);
        const branch: BranchRecord = {
          id: `br_${randomUUID()}`,
          session_id: this.id,
          name,
          fork_step_id: target?.id ?? null,
          parent_branch_id: parent.id,
          reason: req.reason ?? null,
          head_step_id: target?.id ?? null,
          git_ref: name,
          created_at: Date.now(),
        };
        store.transaction(() => {
          store.insertBranch(branch);
          store.updateSession(this.id, { current_branch_id: branch.id });
        });
        this.branch = branch;
        this.deps.hub.emit(this.id, { type: 'branch', branch });
      } else {
        await cp.reset(commit);
        store.updateBranch(this.branch.id, { head_step_id: target?.id ?? null });
        this.branch = { ...this.branch, head_step_id: target?.id ?? null };
      }
      this.head = target;
      const content = JSON.stringify({
        reason: req.reason ?? null,
        from_step: from?.step_idx ?? null,
        to_step: target?.step_idx ?? 0,
        branch: this.branch.name,
      });
      this.intervene(keep ? 'branch' : 'rollback', content, req.annotator);
      this.deps.hub.emit(this.id, { type: 'head', branch_id: this.branch.id, head_step_id: target?.id ?? null });
      if (req.instruction?.trim()) this.intervene('instruction', req.instruction.trim(), req.annotator);
      if (req.editedToolCall) {
        this.editedCall = { id: `toolu_annotator_${randomUUID().slice(0, 8)}`, ...req.editedToolCall };
        this.intervene('edit_tool_call', JSON.stringify(req.editedToolCall), req.annotator);
      }
      this.rollbackRequest = null;
      rb.done.resolve();
    } catch (err) {
      this.rollbackRequest = null;
      rb.done.reject(err);
      throw err;
    }
  }

  // ── records ─────────────────────────────────────────────────────────────────────────────

  private recordStep(s: {
    payload: StepPayload;
    author: 'agent' | 'annotator';
    turn_id: string | null;
    tool_call?: ToolCall | null;
    tool_result?: string | null;
    tool_is_error?: boolean;
    usage: TokenUsage | null;
    started_at: number;
    partial_key?: string;
    checkpoint?: { sha: string | null; changed: boolean };
  }): Step {
    const parent = this.head;
    const step: Step = {
      id: `st_${randomUUID()}`,
      session_id: this.id,
      parent_id: parent?.id ?? null,
      step_idx: this.nextIdx(),
      type: s.payload.type,
      payload: s.payload,
      author: s.author,
      turn_id: s.turn_id,
      tool_call: s.tool_call ?? null,
      tool_result: s.tool_result ?? null,
      tool_is_error: s.tool_is_error ?? false,
      checkpoint: s.checkpoint ? s.checkpoint.sha : parent ? parent.checkpoint : this.deps.session.base_commit,
      changed_files: s.checkpoint?.changed ?? false,
      usage: s.usage,
      started_at: s.started_at,
      ended_at: Date.now(),
    };
    const store = this.deps.store;
    store.transaction(() => {
      store.insertStep(step);
      store.updateBranch(this.branch.id, { head_step_id: step.id });
    });
    this.head = step;
    this.branch = { ...this.branch, head_step_id: step.id };
    if (s.partial_key) this.deps.hub.flush(this.id, s.partial_key);
    this.deps.hub.emit(
      this.id,
      s.partial_key ? { type: 'step', step, partial_key: s.partial_key } : { type: 'step', step },
    );
    return step;
  }

  private recordError(
    kind: 'bad_tool_call' | 'backend' | 'internal' | 'timeout',
    message: string,
    call: ToolCall | null,
    turnId: string | null = null,
  ): void {
    this.recordStep({
      payload: { type: 'error', kind, message },
      author: 'agent',
      turn_id: turnId,
      tool_call: call,
      tool_result: call ? `Error: ${message}. Call the tool again with valid JSON arguments.` : null,
      tool_is_error: call !== null,
      usage: null,
      started_at: Date.now(),
    });
  }

  private intervene(type: InterventionType, content: string | null, annotator: string): Intervention {
    const iv: Intervention = {
      id: `iv_${randomUUID()}`,
      session_id: this.id,
      branch_id: this.branch.id,
      type,
      after_step_id: this.head?.id ?? null,
      after_step: this.head?.step_idx ?? null,
      content,
      annotator,
      created_at: Date.now(),
    };
    this.deps.store.insertIntervention(iv);
    this.deps.hub.emit(this.id, { type: 'intervention', intervention: iv });
    return iv;
  }

  private addUsage(u: TokenUsage): void {
    const s = this.session();
    const total = {
      input_tokens: s.usage.input_tokens + u.input_tokens,
      output_tokens: s.usage.output_tokens + u.output_tokens,
    };
    this.deps.store.updateSession(this.id, { usage: total });
    this.deps.hub.emit(this.id, { type: 'usage', total });
  }

  private activityNow: AgentActivity = 'idle';

  private emitStatus(activity: AgentActivity, message?: string): void {
    this.activityNow = activity;
    this.deps.hub.emit(
      this.id,
      message
        ? { type: 'status', status: this.state, activity, message }
        : { type: 'status', status: this.state, activity },
    );
  }

  private setStatus(status: SessionStatus, activity: AgentActivity, reason?: string): void {
    this.state = status;
    const patch: Partial<SessionRecord> = { status };
    if (reason !== undefined) patch.end_reason = reason;
    const session = this.deps.store.updateSession(this.id, patch);
    this.deps.hub.emit(this.id, { type: 'session', session });
    this.emitStatus(activity, reason);
  }

  private end(status: 'stopped' | 'finished' | 'failed', reason: string): void {
    this.pauseRequested = false;
    this.setStatus(status, 'idle', reason);
  }

  private requestStop(type: 'stop' | 'timeout', reason: string, annotator: string): void {
    if (this.stopRequest || ENDED.includes(this.state)) return;
    this.stopRequest = { type, reason, annotator };
    this.inflight?.abort();
    this.wakeLoop();
  }

  private requireEnabled(flag: keyof PotatoConfig['live_coding_agent']['controls'], what: string): void {
    if (this.cfg.controls[flag] === false) {
      throw new ControlError(
        `${what} is turned off for this project (live_coding_agent.controls.${flag}: false)`,
        'disabled',
      );
    }
  }

  private requireLive(what: string): void {
    if (ENDED.includes(this.state))
      throw new ControlError(`cannot ${what}: the session has ${this.state}`, 'invalid_state');
  }

  private session(): SessionRecord {
    return this.deps.store.getSession(this.id)!;
  }

  private path(): Step[] {
    return this.head ? pathTo(this.head.id, this.deps.store.listSteps(this.id)) : [];
  }

  private nextIdx(): number {
    return this.head ? this.head.step_idx + 1 : 1;
  }

  /** The branch a rollback target belongs to: the current one when it holds it, else the oldest that does. */
  private branchHolding(target: Step | null, branches: BranchRecord[]): BranchRecord {
    if (!target) return this.branch;
    const steps = this.deps.store.listSteps(this.id);
    const holds = (b: BranchRecord) => branchPath(b, steps).some((s) => s.id === target.id);
    if (holds(this.branch)) return this.branch;
    return branches.find(holds) ?? this.branch;
  }
}

/** branch-A … branch-Z, branch-AA …; numbered when auto_name_branches is off. */
export function branchName(index: number, auto: boolean): string {
  if (!auto) return `branch-${index + 1}`;
  let n = index;
  let s = '';
  do {
    s = String.fromCharCode(65 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `branch-${s}`;
}

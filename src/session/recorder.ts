/**
 * @module session/recorder
 * What every session records the same way, whoever runs the agent loop: steps with
 * parent pointers and step_idx along the path, interventions, status and usage events through
 * the EventHub, the control refusals (disabled, ended, reason, branch limit), and moving the
 * head on a rollback (git reset, or a new named branch). Used by the lifecycle and every driver.
 */
import { randomUUID } from 'node:crypto';
import type { CheckpointStore } from '../checkpoints/types.js';
import type { PotatoConfig } from '../config/types.js';
import {
  inputTotal,
  type Step,
  type StepPayload,
  addUsage as sumUsage,
  type TokenUsage,
  type ToolCall,
} from '../steps/types.js';
import { branchName, branchPath, pathTo } from '../store/tree.js';
import type { BranchRecord, Intervention, InterventionType, SessionRecord, Store } from '../store/types.js';
import { checkpointMessage } from './checkpoint-message.js';
import type { AgentActivity, SessionEventBody, SessionStatus } from './events.js';
import type { EventHub } from './hub.js';
import { ControlError, type RollbackRequest } from './types.js';

export const ENDED: SessionStatus[] = ['stopped', 'finished', 'failed', 'interrupted'];

/** What ended a session early: the annotator, sandbox.timeout, or the server shutting down. */
export type StopType = 'stop' | 'timeout' | 'shutdown';

export interface RecorderDeps {
  config: PotatoConfig;
  store: Store;
  hub: EventHub;
  session: SessionRecord;
  branch: BranchRecord;
  /**
   * Runs after an end (stopped, finished, failed) is stored and before it is announced, so what
   * anyone sees ended is already exported (the manager writes the session's export shards here).
   */
  beforeEndShown?: (session: SessionRecord) => Promise<void>;
}

export interface StepInput {
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
}

/** A rollback that passed every check: where to go and whether to keep the old path as a branch. */
export interface CheckedRollback {
  req: RollbackRequest & { reason: string | undefined };
  target: Step | null;
  commit: string;
  keep: boolean;
}

export class SessionRecorder {
  readonly id: string;
  readonly cfg: PotatoConfig['live_coding_agent'];
  state: SessionStatus;
  head: Step | null;
  branch: BranchRecord;
  activityNow: AgentActivity = 'idle';
  /** Checkpoint commits made so far in this session, against checkpoints.max_checkpoints. */
  private checkpointCount: number;

  /** The current path, root first, kept as the head moves so a turn never re-reads the tree. */
  private pathNow: Step[];
  /** The last write of `serial`. */
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Instructions given that the agent has not received yet: given mid-turn, they reach it only in
   * the next model request, so they are placed at the head of that moment (`deliverInstructions`).
   */
  private undelivered: Intervention[] = [];
  /** The pause in effect: a step the agent still completes after it held moves the marker there. */
  private pauseMarker: Intervention | null = null;

  private constructor(
    private readonly deps: RecorderDeps,
    head: Step | null,
    path: Step[],
    checkpointCount: number,
  ) {
    this.id = deps.session.id;
    this.cfg = deps.config.live_coding_agent;
    this.state = deps.session.status;
    this.branch = deps.branch;
    this.head = head;
    this.pathNow = path;
    this.checkpointCount = checkpointCount;
  }

  /** A recorder for a session at its branch's head (read once from the store). */
  static async open(deps: RecorderDeps): Promise<SessionRecorder> {
    const steps = await deps.store.listSteps(deps.session.id);
    const head = deps.branch.head_step_id ? (steps.find((s) => s.id === deps.branch.head_step_id) ?? null) : null;
    const path = head ? pathTo(head.id, steps) : [];
    return new SessionRecorder(deps, head, path, steps.filter((s) => s.changed_files).length);
  }

  /**
   * Commit after a changing step, with the SPEC §5 message: the sha the step will point at and
   * whether it is a new commit; undefined when nothing is committed (the step keeps its parent's).
   */
  async checkpoint(
    cp: CheckpointStore | null,
    payload: StepPayload,
    changed: string[] | 'unknown',
    reasoning: string | null,
  ): Promise<{ sha: string | null; changed: boolean } | undefined> {
    const cfg = this.cfg.checkpoints;
    if (!cp || !cfg.auto_commit_on_file_change) return undefined;
    if (changed !== 'unknown' && changed.length === 0) return undefined;
    if (this.checkpointCount >= cfg.max_checkpoints) {
      await this.emitStatus(
        this.activityNow,
        `max_checkpoints (${cfg.max_checkpoints}) reached: later steps are not checkpointed and cannot be rolled back to`,
      );
      return { sha: null, changed: false };
    }
    const message = checkpointMessage(cfg.commit_message_prefix, this.nextIdx(), payload, reasoning);
    const sha = await cp.commit({ message, paths: changed === 'unknown' ? undefined : changed });
    if (!sha) return undefined;
    this.checkpointCount++;
    return { sha, changed: true };
  }

  get baseCommit(): string | null {
    return this.deps.session.base_commit;
  }

  nextIdx(): number {
    return this.head ? this.head.step_idx + 1 : 1;
  }

  /** Steps on the current path, root first. */
  path(): Step[] {
    return this.pathNow;
  }

  async session(): Promise<SessionRecord> {
    const s = await this.deps.store.getSession(this.id);
    if (!s) throw new ControlError(`session ${this.id} is gone from the store`, 'not_found');
    return s;
  }

  /**
   * Record a step after the head. Steps, interventions and head moves are written one at a time
   * in call order, so two callers that do not wait for each other (the SDK's hooks) never take
   * the same parent or step number.
   */
  step(s: StepInput): Promise<Step> {
    return this.serial(() => this.writeStep(s));
  }

  /**
   * Another process holds this session's lease now: from here on every write is refused (the
   * other process is the one recording the session), so this process's loop ends without a trace.
   */
  fence(reason: string): void {
    this.fenced = reason;
  }

  private fenced: string | null = null;

  private unfenced(): void {
    if (this.fenced !== null) throw new ControlError(this.fenced, 'invalid_state');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const guarded = () => {
      this.unfenced();
      return fn();
    };
    const next = this.queue.then(guarded, guarded);
    // The queue only orders the writes; each caller gets its own write's failure from `next`.
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async writeStep(s: StepInput): Promise<Step> {
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
    // The step's streamed text is queued ahead of it; the step's rows and its event commit together,
    // so a process killed in between leaves neither (no stored step that no viewer ever gets).
    if (s.partial_key) void this.deps.hub.flush(this.id, s.partial_key);
    const event: SessionEventBody = s.partial_key
      ? { type: 'step', step, partial_key: s.partial_key }
      : { type: 'step', step };
    await this.deps.hub.record(this.id, async (tx) => {
      await tx.insertStep(step);
      await tx.updateBranch(this.branch.id, { head_step_id: step.id });
      // Instructions waiting at the head now belong to every path through this step.
      await tx.settleInstructions(this.id, step.id);
      return { result: undefined, events: [event] };
    });
    this.head = step;
    this.pathNow = [...this.pathNow, step];
    this.branch = { ...this.branch, head_step_id: step.id };
    // The agent finished this step after the pause held (an SDK tool already under way): it stopped here.
    if (this.state === 'paused' && this.pauseMarker) this.pauseMarker = await this.writePlace(this.pauseMarker);
    return step;
  }

  error(kind: 'bad_tool_call' | 'backend' | 'internal' | 'timeout', message: string): Promise<Step> {
    return this.step({
      payload: { type: 'error', kind, message },
      author: 'agent',
      turn_id: null,
      usage: null,
      started_at: Date.now(),
    });
  }

  /** Record an intervention after the head (in order with the steps, see `step`). */
  intervene(type: InterventionType, content: string | null, annotator: string): Promise<Intervention> {
    return this.serial(() => this.writeIntervention(type, content, annotator));
  }

  private async writeIntervention(
    type: InterventionType,
    content: string | null,
    annotator: string,
  ): Promise<Intervention> {
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
      followed_by: null,
    };
    await this.deps.store.insertIntervention(iv);
    await this.deps.hub.emit(this.id, { type: 'intervention', intervention: iv });
    if (type === 'pause') this.pauseMarker = iv;
    return iv;
  }

  /**
   * The instructions given so far reach the agent now (the model request being built, or the
   * turn the SDK started): each is placed after the current head, where exports and the trace
   * show it, and waits there for the step that follows. Before a rollback, the ones the agent
   * never received stay at the head of the path being left (they were for that path).
   */
  deliverInstructions(which: (iv: Intervention) => boolean = () => true): Promise<void> {
    return this.serial(async () => {
      const now = this.undelivered.filter(which);
      this.undelivered = this.undelivered.filter((iv) => !which(iv));
      for (const iv of now) await this.writePlace(iv);
    });
  }

  /** Whether an instruction is waiting for the agent's next model request. */
  get instructionWaiting(): boolean {
    return this.undelivered.length > 0;
  }

  /** `iv` moved to after the current head (stored and published), unless it is there already. */
  private async writePlace(iv: Intervention): Promise<Intervention> {
    const at = { after_step_id: this.head?.id ?? null, after_step: this.head?.step_idx ?? null };
    if (iv.after_step_id === at.after_step_id) return iv;
    const placed = { ...iv, ...at, followed_by: null };
    await this.deps.store.placeIntervention(iv.id, at);
    await this.deps.hub.emit(this.id, { type: 'intervention', intervention: placed });
    return placed;
  }

  async addUsage(u: TokenUsage): Promise<void> {
    this.unfenced();
    if (inputTotal(u) === 0 && u.output_tokens === 0) return;
    const total = sumUsage((await this.session()).usage, u);
    await this.deps.store.updateSession(this.id, { usage: total });
    await this.deps.hub.emit(this.id, { type: 'usage', total });
  }

  async emitStatus(activity: AgentActivity, message?: string): Promise<void> {
    this.unfenced();
    this.activityNow = activity;
    await this.deps.hub.emit(
      this.id,
      message
        ? { type: 'status', status: this.state, activity, message }
        : { type: 'status', status: this.state, activity },
    );
  }

  async setStatus(status: SessionStatus, activity: AgentActivity, reason?: string): Promise<void> {
    this.unfenced();
    this.state = status;
    if (status !== 'paused') this.pauseMarker = null;
    const patch: Partial<SessionRecord> = { status };
    if (reason !== undefined) patch.end_reason = reason;
    const session = await this.deps.store.updateSession(this.id, patch);
    if (ENDED.includes(status)) await this.deps.beforeEndShown?.(session);
    await this.deps.hub.emit(this.id, { type: 'session', session });
    await this.emitStatus(activity, reason);
  }

  /**
   * Check and record an annotator's instruction, after the current step until the agent receives
   * it (`deliverInstructions`).
   */
  async instruction(text: string, annotator: string): Promise<Intervention> {
    this.requireEnabled('instruction_enabled', 'send instruction');
    this.requireLive('send an instruction');
    const trimmed = text.trim();
    if (!trimmed) throw new ControlError('an instruction needs some text', 'bad_request');
    return this.serial(async () => {
      const iv = await this.writeIntervention('instruction', trimmed, annotator);
      this.undelivered.push(iv);
      return iv;
    });
  }

  /** The backend's preflight failed: say why in the trajectory and end the session. */
  async failToStart(message: string): Promise<void> {
    await this.error('backend', message);
    await this.setStatus('failed', 'idle', message);
  }

  requireEnabled(flag: keyof PotatoConfig['live_coding_agent']['controls'], what: string): void {
    if (this.cfg.controls[flag] === false) {
      throw new ControlError(
        `${what} is turned off for this project (live_coding_agent.controls.${flag}: false)`,
        'disabled',
      );
    }
  }

  requireLive(what: string): void {
    if (ENDED.includes(this.state))
      throw new ControlError(`cannot ${what}: the session has ${this.state}`, 'invalid_state');
  }

  /** Every refusal a rollback can meet, in the order they are checked. */
  async checkRollback(req: RollbackRequest, hasCheckpoints: boolean, inProgress: boolean): Promise<CheckedRollback> {
    const keep = req.branch ?? (this.cfg.branching.enabled && this.cfg.controls.branch_enabled);
    this.requireEnabled(keep ? 'branch_enabled' : 'rollback_enabled', keep ? 'branch' : 'rollback');
    if (keep && !this.cfg.branching.enabled) {
      throw new ControlError('branching is turned off (live_coding_agent.branching.enabled: false)', 'disabled');
    }
    if (!hasCheckpoints) {
      throw new ControlError('rollback needs checkpoints (live_coding_agent.checkpoints.enabled is false)', 'disabled');
    }
    if (inProgress) throw new ControlError('a rollback is already in progress', 'invalid_state');
    const reason = req.reason?.trim() || undefined;
    if (this.cfg.branching.require_reason_on_rollback && !reason) {
      throw new ControlError(
        'a reason is required to roll back (branching.require_reason_on_rollback)',
        'reason_required',
      );
    }
    const target = req.toStepId ? await this.deps.store.getStep(req.toStepId) : null;
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
      const count = (await this.deps.store.listBranches(this.id)).length;
      const max = this.cfg.branching.max_branches_per_session;
      if (count >= max) {
        throw new ControlError(
          `this session already has ${count} branches, the most allowed (branching.max_branches_per_session: ${max})`,
          'branch_limit',
        );
      }
    }
    return { req: { ...req, reason }, target, commit, keep };
  }

  /**
   * Reset the workspace to the target's checkpoint (a new named branch when `keep`), move the
   * head there, and record the rollback or branch with its reason and the instruction, if any.
   */
  moveHead(rb: CheckedRollback, checkpoints: CheckpointStore): Promise<void> {
    return this.serial(() => this.writeMove(rb, checkpoints));
  }

  private async writeMove(rb: CheckedRollback, checkpoints: CheckpointStore): Promise<void> {
    const { req, target, commit, keep } = rb;
    const store = this.deps.store;
    const from = this.head;
    if (keep) {
      const branches = await store.listBranches(this.id);
      const name = branchName(branches.length, this.cfg.branching.auto_name_branches);
      await checkpoints.createBranch(name, commit);
      const parent = await this.branchHolding(target, branches);
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
      await store.transaction(async (tx) => {
        await tx.insertBranch(branch);
        await tx.updateSession(this.id, { current_branch_id: branch.id });
      });
      this.branch = branch;
      await this.deps.hub.emit(this.id, { type: 'branch', branch });
    } else {
      await checkpoints.reset(commit);
      await store.updateBranch(this.branch.id, { head_step_id: target?.id ?? null });
      this.branch = { ...this.branch, head_step_id: target?.id ?? null };
    }
    this.head = target;
    this.pathNow = target ? pathTo(target.id, await store.listSteps(this.id)) : [];
    const content = JSON.stringify({
      reason: req.reason ?? null,
      from_step: from?.step_idx ?? null,
      to_step: target?.step_idx ?? 0,
      branch: this.branch.name,
    });
    const move = await this.writeIntervention(keep ? 'branch' : 'rollback', content, req.annotator);
    // Instructions still waiting at the old head were for the path just left: no later path holds them.
    await store.settleInstructions(this.id, move.id);
    await this.deps.hub.emit(this.id, { type: 'head', branch_id: this.branch.id, head_step_id: target?.id ?? null });
    if (req.instruction?.trim()) await this.writeIntervention('instruction', req.instruction.trim(), req.annotator);
  }

  /** The branch a rollback target belongs to: the current one when it holds it, else the oldest that does. */
  private async branchHolding(target: Step | null, branches: BranchRecord[]): Promise<BranchRecord> {
    if (!target) return this.branch;
    const steps = await this.deps.store.listSteps(this.id);
    const holds = (b: BranchRecord) => branchPath(b, steps).some((s) => s.id === target.id);
    if (holds(this.branch)) return this.branch;
    return branches.find(holds) ?? this.branch;
  }
}

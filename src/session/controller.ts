/**
 * @module session/controller
 * The SessionController: one session's agent loop and its controls. The loop is
 *   model turn → tool calls → sandbox → step records → checkpoint → pause gate
 * and every control (pause, instruct, stop, rollback/branch) acts at a step boundary, the same
 * for every backend that exposes raw model turns. The log is append-only: a rollback moves the
 * head (and, with branching on, starts a new branch); old steps stay in the tree.
 */
import { randomUUID } from 'node:crypto';
import { type AssembledGroup, TurnAssembler } from '../backends/parts.js';
import type { AgentBackend, FinishReason, ToolSpec } from '../backends/types.js';
import { BackendError } from '../backends/types.js';
import type { CheckpointStore } from '../checkpoints/types.js';
import type { PotatoConfig } from '../config/types.js';
import { errField, type Logger, silentLogger } from '../log/logger.js';
import type { Sandbox } from '../sandbox/types.js';
import type { StepPayload, TokenUsage, ToolCall } from '../steps/types.js';
import type { BranchRecord, SessionRecord, Store } from '../store/types.js';
import type { ToolContext, ToolOutcome } from '../tools/types.js';
import { buildContext } from './context.js';
import type { AgentActivity, SessionStatus } from './events.js';
import type { EventHub } from './hub.js';
import { PauseGate } from './pause-gate.js';
import { type CheckedRollback, ENDED, type SessionRecorder, type StopType } from './recorder.js';
import { isStorageFull, probeSpace, waitForSpace } from './storage-fault.js';
import { StreamCap } from './stream-cap.js';
import { ControlError, type FirstInstruction, type RollbackRequest, type SessionControls } from './types.js';

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
  /** The session's recorder, opened at its branch's head (SessionRecorder.open). */
  recorder: SessionRecorder;
  /** Called once each time the loop ends (export after every session, cleanup). */
  onEnded?: (session: SessionRecord) => Promise<void> | void;
  /** Where faults and failures are logged (default: nowhere). */
  logger?: Logger;
}

const MAX_MALFORMED_TURNS = 3;

const ACTIVITY: Record<string, AgentActivity> = {
  file_read: 'reading_file',
  file_edit: 'editing_file',
  bash_command: 'running_command',
  directory_list: 'listing',
  file_search: 'searching',
};

interface PendingRollback {
  checked: CheckedRollback;
  done: { resolve: () => void; reject: (e: unknown) => void };
}

interface ModelTurn {
  turnId: string;
  calls: ToolCall[];
  reasoning: string | null;
  usage: TokenUsage | null;
  usageFor: string | null;
  /** Every call of the turn was malformed: the errors go back to the model. */
  malformedOnly: boolean;
  /** The turn ended the session (refusal, truncation…): how, in words. */
  outcome: { status: 'finished' | 'failed'; reason: string } | null;
}

interface Outcome {
  status: 'finished' | 'failed';
  /** Which step to mark. */
  mark: 'refusal' | 'truncated' | null;
  reason: (refusalText: string, calls: number) => string;
}

/** A finish reason that ends the session, as an outcome in words; null for tool calls and end of turn. */
function outcomeOf(finish: FinishReason | null, limit: string): Outcome | null {
  const notRun = (calls: number) =>
    calls > 0 ? `; its ${calls} tool call${calls > 1 ? 's were' : ' was'} not run` : '';
  switch (finish) {
    case 'refusal':
      return {
        status: 'finished',
        mark: 'refusal',
        reason: (text) =>
          text.trim()
            ? `the model refused to continue: "${clip(text.trim(), 300)}"`
            : 'the model refused to continue (it gave no text)',
      };
    case 'max_tokens':
      return {
        status: 'failed',
        mark: 'truncated',
        reason: (_t, calls) =>
          `the model's answer was cut at the token limit${notRun(calls)}: raise ${limit} in the config, then roll back to the last step or resume the session`,
      };
    case 'context_window':
      return {
        status: 'failed',
        mark: 'truncated',
        reason: (_t, calls) =>
          `the conversation filled the model's context window${notRun(calls)}: roll back to an earlier step, or use a model with a larger window`,
      };
    case 'content_filter':
      return {
        status: 'failed',
        mark: 'truncated',
        reason: (_t, calls) => `the provider's content filter cut the model's answer${notRun(calls)}`,
      };
    default:
      return null;
  }
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export class SessionController implements SessionControls {
  readonly id: string;
  private readonly cfg: PotatoConfig['live_coding_agent'];
  private readonly rec: SessionRecorder;
  private readonly pauseGate: PauseGate;
  private stopRequest: { type: StopType; reason: string; annotator: string } | null = null;
  private rollbackRequest: PendingRollback | null = null;
  private editedCall: ToolCall | null = null;
  private inflight: AbortController | null = null;
  private timeout: NodeJS.Timeout | null = null;
  private malformedTurns = 0;
  private loop: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly deps: ControllerDeps) {
    this.id = deps.session.id;
    this.log = deps.logger ?? silentLogger;
    this.cfg = deps.config.live_coding_agent;
    this.rec = deps.recorder;
    this.pauseGate = new PauseGate(this.rec);
  }

  get done(): Promise<void> {
    return this.loop;
  }

  status(): SessionStatus {
    return this.rec.state;
  }

  /** The backend could not start (unreachable, model missing, bad key…): recorded, session failed. */
  failToStart(message: string): Promise<void> {
    return this.rec.failToStart(message);
  }

  /**
   * Start (or restart, after a rollback of an ended session) the agent loop. The state is
   * `running` when this returns; the promise resolves when that is stored and shown, with
   * `first`'s instruction recorded before the first model request.
   */
  start(first?: FirstInstruction): Promise<void> {
    this.stopRequest = null;
    let announce!: () => void;
    const announced = new Promise<void>((resolve) => {
      announce = resolve;
    });
    if (!this.timeout) {
      const secs = this.cfg.sandbox.timeout;
      this.timeout = setTimeout(() => {
        this.requestStop('timeout', `timeout after ${secs} s (sandbox.timeout)`, 'system');
      }, secs * 1000);
      this.timeout.unref();
    }
    this.loop = this.run(first, announce);
    return Promise.race([announced, this.loop]);
  }

  /** A continued session says so in its trajectory, after the step it goes on from. */
  async noteResume(content: string, annotator: string): Promise<void> {
    await this.rec.intervene('resume', content, annotator);
  }

  // ── controls ────────────────────────────────────────────────────────────────────────────

  pause(annotator: string): Promise<void> {
    return this.pauseGate.pause(annotator, 'after the current step');
  }

  resume(annotator: string): Promise<void> {
    return this.pauseGate.resume(annotator);
  }

  async instruct(text: string, annotator: string): Promise<void> {
    // Delivered in the next model request (modelTurn), where it is placed: the context is rebuilt from the interventions.
    await this.rec.instruction(text, annotator);
  }

  async stop(annotator: string): Promise<void> {
    this.rec.requireEnabled('stop_enabled', 'stop');
    this.rec.requireLive('stop');
    this.requestStop('stop', 'stopped by the annotator', annotator);
    await this.loop;
  }

  /** The server is shutting down: recorded as a shutdown (not as an annotator's stop), then saved. */
  async shutdown(reason: string): Promise<void> {
    if (ENDED.includes(this.rec.state)) return;
    this.requestStop('shutdown', reason, 'system');
    await this.loop;
  }

  async rollback(req: RollbackRequest): Promise<void> {
    const checked = await this.rec.checkRollback(req, this.deps.checkpoints !== null, this.rollbackRequest !== null);
    if (req.editedToolCall && !this.deps.tools.some((t) => t.name === req.editedToolCall?.name)) {
      throw new ControlError(`unknown tool "${req.editedToolCall.name}" in the edited tool call`, 'bad_request');
    }
    // The run that ended finishes its end (the export, onEnded) before the next one starts.
    if (ENDED.includes(this.rec.state)) await this.loop;
    if (this.rollbackRequest) throw new ControlError('a rollback is already in progress', 'invalid_state');
    const applied = new Promise<void>((resolve, reject) => {
      this.rollbackRequest = { checked, done: { resolve, reject } };
    });
    if (ENDED.includes(this.rec.state)) {
      await this.start();
    } else {
      this.pauseGate.cancel();
      this.inflight?.abort();
    }
    await applied;
  }

  // ── the loop ────────────────────────────────────────────────────────────────────────────

  private async run(first: FirstInstruction | undefined, announce: () => void): Promise<void> {
    try {
      await this.rec.setStatus('running', 'starting');
      if (first) await this.rec.instruction(first.text, first.annotator);
      announce();
      for (;;) {
        let next: Awaited<ReturnType<SessionController['iterate']>>;
        try {
          next = await this.iterate();
        } catch (err) {
          if (!isStorageFull(err)) throw err;
          next = await this.waitForDisk(err);
        }
        if (next === 'more') continue;
        // Ended in this same turn as the finally below: the export is written before anyone awaits the end.
        if (next !== 'stop') await this.end(next.status, next.reason);
        break;
      }
      if (this.stopRequest) {
        const { type, reason, annotator } = this.stopRequest;
        await this.rec.intervene(type, reason, annotator);
        await this.end('stopped', reason);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error({ session: this.id, err: errField(err) }, `session failed: ${message}`);
      try {
        await this.rec.error(err instanceof BackendError ? 'backend' : 'internal', message);
        await this.end('failed', message);
      } catch (recordErr) {
        // The store itself refused (disk full, I/O error): the row still says running, so the next
        // start marks it interrupted and it can be continued. The process goes on.
        this.log.error({ session: this.id, err: errField(recordErr) }, 'could not record the failure');
      }
    } finally {
      this.inflight = null;
      if (this.rollbackRequest) {
        this.rollbackRequest.done.reject(new ControlError('the session ended before the rollback', 'invalid_state'));
        this.rollbackRequest = null;
      }
      if (this.timeout) clearTimeout(this.timeout);
      this.timeout = null;
      try {
        await this.deps.onEnded?.(await this.rec.session());
      } catch (err) {
        this.log.error({ session: this.id, err: errField(err) }, 'after the session ended');
      }
    }
  }

  /** One pass of the loop: go on, stop (a stop request), or the agent has finished. */
  private async iterate(): Promise<'more' | 'stop' | { status: 'finished' | 'failed'; reason: string }> {
    await this.gate();
    if (this.stopRequest) return 'stop';
    if (this.rollbackRequest) {
      await this.applyRollback();
      return 'more';
    }
    if (this.editedCall) {
      const call = this.editedCall;
      this.editedCall = null;
      await this.runTool(call, 'annotator', `annotator_${randomUUID()}`, null, null);
      return 'more';
    }
    const turn = await this.modelTurn();
    if (!turn) return 'more'; // interrupted by stop or rollback
    if (turn.malformedOnly && !turn.outcome) {
      // The errors go back to the model; a model that keeps failing ends the session.
      if (++this.malformedTurns >= MAX_MALFORMED_TURNS) {
        throw new BackendError(`the model made ${MAX_MALFORMED_TURNS} malformed tool calls in a row`, 'bad_response');
      }
      return 'more';
    }
    if (turn.outcome) return turn.outcome;
    this.malformedTurns = 0;
    // An instruction given while the agent was finishing is still for it: one more turn with it.
    if (turn.calls.length === 0 && !this.rec.instructionWaiting) {
      return { status: 'finished', reason: 'the agent finished its work' };
    }
    for (const call of turn.calls) {
      await this.gate();
      if (this.stopRequest || this.rollbackRequest) break;
      await this.runTool(call, 'agent', turn.turnId, turn.reasoning, turn.usageFor === call.id ? turn.usage : null);
    }
    return 'more';
  }

  /**
   * The output disk is full: the session waits (paused, in memory: nothing can be written) until
   * a write goes through, records the pause with its reason, puts the workspace back at the last
   * recorded step (a step whose record failed is redone, not half-kept) and goes on.
   */
  private async waitForDisk(err: unknown): Promise<'more'> {
    const reason = `the output disk is full (${err instanceof Error ? err.message : String(err)}): the session waits for space and then goes on`;
    this.log.warn({ session: this.id, err: errField(err) }, 'disk full: session waiting for space');
    for (;;) {
      this.rec.state = 'paused';
      const resumed = await waitForSpace({
        cancelled: () => this.stopRequest !== null,
        probe: async () => {
          probeSpace(this.deps.config.output.path);
          await this.rec.setStatus('paused', 'idle', reason);
        },
      });
      this.rec.state = 'running';
      if (!resumed) return 'more'; // the loop sees the stop request next
      try {
        const head = this.rec.head;
        const commit = head ? head.checkpoint : this.rec.baseCommit;
        if (this.deps.checkpoints && commit) await this.deps.checkpoints.reset(commit);
        await this.rec.setStatus(
          'running',
          'starting',
          'space is back: the session goes on from its last recorded step',
        );
        this.log.info({ session: this.id }, 'disk has space again: session goes on');
        return 'more';
      } catch (again) {
        if (!isStorageFull(again)) throw again;
      }
    }
  }

  /** Wait while paused; the pause takes effect here, between steps. */
  private async gate(): Promise<void> {
    await this.pauseGate.wait(() => this.stopRequest !== null || this.rollbackRequest !== null);
  }

  private async modelTurn(): Promise<ModelTurn | null> {
    const turnId = `turn_${randomUUID()}`;
    const abort = new AbortController();
    this.inflight = abort;
    // The instructions given so far are in this request: the trace and exports place them here.
    await this.rec.deliverInstructions();
    const context = buildContext(
      this.deps.session.task,
      this.rec.path(),
      await this.deps.store.listInterventions(this.id),
    );
    const asm = new TurnAssembler(turnId);
    let attempts = 0;
    let failure: unknown = null;
    const hub = this.deps.hub;
    const streaming = this.cfg.streaming;
    await this.rec.emitStatus('thinking');
    try {
      const stream = this.deps.backend.turn({
        system: this.deps.system,
        context,
        tools: this.deps.tools,
        signal: abort.signal,
      });
      for await (const ev of stream) {
        if (abort.signal.aborted) break;
        const partial = asm.push(ev);
        if (partial && (partial.kind === 'message' || streaming.show_thinking)) {
          hub.partial(this.id, partial.key, partial.kind, partial.text);
        }
        switch (ev.type) {
          case 'thinking-start':
            await this.rec.emitStatus('thinking');
            break;
          case 'text-start':
            await this.rec.emitStatus('writing');
            break;
          case 'tool-input-start':
            if (streaming.show_tool_inputs) hub.partial(this.id, `${turnId}:${ev.id}`, 'tool_input', '', ev.name);
            await this.rec.emitStatus(ACTIVITY[ev.name] ?? 'thinking');
            break;
          case 'tool-input-delta':
            if (streaming.show_tool_inputs) hub.partial(this.id, `${turnId}:${ev.id}`, 'tool_input', ev.delta);
            break;
          case 'status':
            await this.rec.emitStatus('retrying', ev.message);
            break;
          case 'error':
            // The attempt failed and the backend tries again: what the annotator saw stays, marked.
            await this.recordText(asm.restart(`${turnId}:retry${++attempts}`), turnId, null, { retried: ev.message });
            break;
          default:
            break;
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) failure = err;
    } finally {
      if (this.inflight === abort) this.inflight = null;
    }
    // What streamed before an interruption or a failure is kept: the annotator saw it.
    const outcome = failure ? null : outcomeOf(asm.finish, this.limitHint());
    const groups = asm.groups();
    if (outcome?.mark === 'refusal' && !groups.some((g) => g.kind === 'message')) {
      groups.push({
        kind: 'message',
        content: '',
        refusal: true,
        citations: [],
        startedAt: Date.now(),
        key: `${turnId}:refusal`,
      });
    }
    const last = groups[groups.length - 1];
    if (outcome?.mark === 'refusal') [...groups].reverse().find((g) => g.kind === 'message')!.refusal = true;
    const usage = asm.usage;
    const reasoning = await this.recordText(groups, turnId, usage, {
      truncated: outcome?.mark === 'truncated' ? last : undefined,
    });
    if (usage) await this.rec.addUsage(usage);
    if (failure) throw failure;
    // A call cut by the token limit is an artifact of the cut, not a malformed call to correct.
    const bad = outcome?.mark === 'truncated' ? [] : asm.bad;
    for (const { call, error } of bad) {
      const message = `the ${call.name} call could not be used: ${error}`;
      await this.rec.step({
        payload: { type: 'error', kind: 'bad_tool_call', message },
        author: 'agent',
        turn_id: turnId,
        tool_call: call,
        tool_result: `Error: ${message}. Call the tool again with valid JSON arguments.`,
        tool_is_error: true,
        usage: null,
        started_at: Date.now(),
      });
    }
    if (abort.signal.aborted) return null;
    const calls = asm.calls;
    // With no text in the turn, its usage goes on the first tool step.
    const usageFor = groups.length === 0 && calls[0] ? calls[0].id : null;
    const refusalText = groups.find((g) => g.refusal)?.content ?? '';
    return {
      turnId,
      calls,
      reasoning,
      usage,
      usageFor,
      malformedOnly: calls.length === 0 && asm.bad.length > 0,
      outcome: outcome
        ? { status: outcome.status, reason: outcome.reason(refusalText, calls.length + asm.bad.length) }
        : null,
    };
  }

  /**
   * Records a turn's thinking and text groups as steps (the turn's usage on the last one) and
   * returns the last text, the "Agent reasoning" of the checkpoint that may follow.
   */
  private async recordText(
    groups: AssembledGroup[],
    turnId: string,
    usage: TokenUsage | null,
    mark: { retried?: string; truncated?: AssembledGroup },
  ): Promise<string | null> {
    let reasoning: string | null = null;
    for (const [i, g] of groups.entries()) {
      const flags = {
        ...(mark.retried !== undefined ? { retried: mark.retried } : {}),
        ...(mark.truncated === g ? { truncated: true } : {}),
      };
      const payload: StepPayload =
        g.kind === 'thinking'
          ? {
              type: 'thinking',
              content: g.content,
              ...(g.signature ? { signature: g.signature } : {}),
              ...(g.redacted !== undefined ? { redacted: g.redacted } : {}),
              ...flags,
            }
          : {
              type: 'message',
              content: g.content,
              ...(g.refusal ? { refusal: true } : {}),
              ...(g.citations.length ? { citations: g.citations } : {}),
              ...flags,
            };
      await this.rec.step({
        payload,
        author: 'agent',
        turn_id: turnId,
        usage: i === groups.length - 1 ? usage : null,
        started_at: g.startedAt,
        partial_key: g.key,
      });
      if (g.content) reasoning = g.content;
    }
    return reasoning;
  }

  /** The config key that limits an answer's length for this backend, and its value. */
  private limitHint(): string {
    const name = this.deps.backend.name;
    const section = (this.cfg as unknown as Record<string, { max_tokens?: number } | undefined>)[name];
    return section?.max_tokens !== undefined
      ? `live_coding_agent.${name}.max_tokens (now ${section.max_tokens})`
      : `the max_tokens of live_coding_agent.${name}`;
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
    await this.rec.emitStatus(ACTIVITY[call.name] ?? 'running_command');
    const sandbox = this.cfg.sandbox;
    const checkpoints = this.deps.checkpoints;
    // The live log keeps what the step keeps: the head as it streams, the tail when it ends.
    const stream = new StreamCap(sandbox.max_output_bytes, (text) =>
      this.deps.hub.partial(this.id, key, 'output', text, call.name),
    );
    let outcome: ToolOutcome;
    try {
      outcome = await this.deps.executeTool(call, {
        sandbox: this.deps.sandbox,
        policy: { allowed: sandbox.allowed_commands, restricted: sandbox.restricted_commands },
        commandTimeoutMs: Math.round(sandbox.command_timeout * 1000),
        maxOutputBytes: sandbox.max_output_bytes,
        onOutput: (chunk) => stream.push(chunk),
        signal: abort.signal,
        beforeCommand: checkpoints ? () => checkpoints.beforeCommand() : undefined,
      });
    } finally {
      stream.finish();
      if (this.inflight === abort) this.inflight = null;
    }
    const checkpoint = await this.rec.checkpoint(checkpoints, outcome.payload, outcome.changed, reasoning);
    await this.rec.step({
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

  private async applyRollback(): Promise<void> {
    const pending = this.rollbackRequest!;
    try {
      // Instructions the agent never received were for the path being left: they stay at its head.
      await this.rec.deliverInstructions();
      await this.rec.moveHead(pending.checked, this.deps.checkpoints!);
      await this.deps.sandbox.afterRestore?.();
      const edited = pending.checked.req.editedToolCall;
      if (edited) {
        this.editedCall = { id: `toolu_annotator_${randomUUID().slice(0, 8)}`, ...edited };
        await this.rec.intervene('edit_tool_call', JSON.stringify(edited), pending.checked.req.annotator);
      }
      this.rollbackRequest = null;
      pending.done.resolve();
    } catch (err) {
      this.rollbackRequest = null;
      pending.done.reject(err);
      throw err;
    }
  }

  private async end(status: 'stopped' | 'finished' | 'failed', reason: string): Promise<void> {
    this.pauseGate.cancel();
    await this.rec.setStatus(status, 'idle', reason);
  }

  private requestStop(type: StopType, reason: string, annotator: string): void {
    if (this.stopRequest || ENDED.includes(this.rec.state)) return;
    this.stopRequest = { type, reason, annotator };
    // The reason reaches the tool result of a command cut short (tools/bash-tool.ts).
    this.inflight?.abort(reason);
    this.pauseGate.nudge();
  }
}

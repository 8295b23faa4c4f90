/**
 * @module session/model-turns
 * The driver for every backend that exposes raw model turns (scripted, ollama, anthropic,
 * openai): we run the agent loop, one pass being
 *   model turn → tool calls → sandbox → step records → checkpoint
 * with the lifecycle's pause gate between tool calls, so pause, instructions and rollback
 * behave the same for every provider. The context of each turn is rebuilt from the current
 * path and its interventions, so an instruction or a rollback needs nothing more from here.
 */
import { randomUUID } from 'node:crypto';
import { type AssembledGroup, TurnAssembler } from '../backends/parts.js';
import type { AgentBackend, FinishReason, ToolSpec } from '../backends/types.js';
import { BackendError } from '../backends/types.js';
import type { CheckpointStore } from '../checkpoints/types.js';
import type { PotatoConfig } from '../config/types.js';
import type { Sandbox } from '../sandbox/types.js';
import type { StepPayload, TokenUsage, ToolCall } from '../steps/types.js';
import type { SessionRecord, Store } from '../store/types.js';
import type { ToolContext, ToolOutcome } from '../tools/types.js';
import { buildContext } from './context.js';
import type { PassOutcome, SessionContext, SessionDriver } from './driver.js';
import type { AgentActivity } from './events.js';
import type { EventHub } from './hub.js';
import type { CheckedRollback, SessionRecorder } from './recorder.js';
import { StreamCap } from './stream-cap.js';
import { ControlError, type RollbackRequest } from './types.js';

export type ExecuteTool = (call: ToolCall, ctx: ToolContext) => Promise<ToolOutcome>;

export interface ModelTurnDeps {
  config: PotatoConfig;
  store: Store;
  hub: EventHub;
  backend: AgentBackend;
  sandbox: Sandbox;
  checkpoints: CheckpointStore | null;
  executeTool: ExecuteTool;
  tools: ToolSpec[];
  system: string;
  session: SessionRecord;
}

const MAX_MALFORMED_TURNS = 3;

const ACTIVITY: Record<string, AgentActivity> = {
  file_read: 'reading_file',
  file_edit: 'editing_file',
  bash_command: 'running_command',
  directory_list: 'listing',
  file_search: 'searching',
};

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

export class ModelTurnDriver implements SessionDriver {
  readonly capability = { kind: 'model-turns' } as const;
  readonly pausePoint = 'after the current step';
  private readonly rec: SessionRecorder;
  private editedCall: ToolCall | null = null;
  private inflight: AbortController | null = null;
  private malformedTurns = 0;

  constructor(
    private readonly deps: ModelTurnDeps,
    private readonly ctx: SessionContext,
  ) {
    this.rec = ctx.rec;
  }

  check(): Promise<void> {
    return this.deps.backend.check();
  }

  vetRollback(req: RollbackRequest): void {
    if (req.editedToolCall && !this.deps.tools.some((t) => t.name === req.editedToolCall?.name)) {
      throw new ControlError(`unknown tool "${req.editedToolCall.name}" in the edited tool call`, 'bad_request');
    }
  }

  async settle(): Promise<void> {
    // Instructions the agent never received were for the path being left: they stay at its head.
    await this.rec.deliverInstructions();
  }

  async afterRollback(checked: CheckedRollback): Promise<void> {
    const edited = checked.req.editedToolCall;
    if (!edited) return;
    this.editedCall = { id: `toolu_annotator_${randomUUID().slice(0, 8)}`, ...edited };
    await this.rec.intervene('edit_tool_call', JSON.stringify(edited), checked.req.annotator);
  }

  interrupt(cause: { type: 'stop'; reason: string } | { type: 'rollback' }): void {
    this.inflight?.abort(cause.type === 'stop' ? cause.reason : undefined);
  }

  async ended(): Promise<void> {
    this.inflight = null;
  }

  /** A model turn and its tool calls (or the annotator's edited call, first after a rollback). */
  async pass(): Promise<PassOutcome> {
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
      await this.ctx.gate();
      if (this.ctx.stopping() || this.ctx.rollingBack()) break;
      await this.runTool(call, 'agent', turn.turnId, turn.reasoning, turn.usageFor === call.id ? turn.usage : null);
    }
    return 'more';
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
      await this.deps.store.listInterventions(this.rec.id),
    );
    const asm = new TurnAssembler(turnId);
    let attempts = 0;
    let failure: unknown = null;
    const hub = this.deps.hub;
    const streaming = this.rec.cfg.streaming;
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
          hub.partial(this.rec.id, partial.key, partial.kind, partial.text);
        }
        switch (ev.type) {
          case 'thinking-start':
            await this.rec.emitStatus('thinking');
            break;
          case 'text-start':
            await this.rec.emitStatus('writing');
            break;
          case 'tool-input-start':
            if (streaming.show_tool_inputs) hub.partial(this.rec.id, `${turnId}:${ev.id}`, 'tool_input', '', ev.name);
            await this.rec.emitStatus(ACTIVITY[ev.name] ?? 'thinking');
            break;
          case 'tool-input-delta':
            if (streaming.show_tool_inputs) hub.partial(this.rec.id, `${turnId}:${ev.id}`, 'tool_input', ev.delta);
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
    const section = (this.rec.cfg as unknown as Record<string, { max_tokens?: number } | undefined>)[name];
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
    const sandbox = this.rec.cfg.sandbox;
    const checkpoints = this.deps.checkpoints;
    // The live log keeps what the step keeps: the head as it streams, the tail when it ends.
    const stream = new StreamCap(sandbox.max_output_bytes, (text) =>
      this.deps.hub.partial(this.rec.id, key, 'output', text, call.name),
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
}

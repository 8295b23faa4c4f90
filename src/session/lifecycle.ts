/**
 * @module session/lifecycle
 * One session's lifecycle, the same whoever runs the agent loop: start (state `running`, the
 * sandbox.timeout timer, a first instruction before the first request), the pause gate, stop and
 * shutdown, the rollback hand-off (a request applied at the next step boundary, or a restart of an
 * ended session), the wait while the output disk is full, and the end (status, a pending rollback
 * refused, onEnded). The driver (driver.ts) supplies only how a pass of the agent's work goes.
 * The log is append-only: a rollback moves the head (and, with branching on, starts a new
 * branch); old steps stay in the tree.
 */
import { BackendError } from '../backends/types.js';
import type { CheckpointStore } from '../checkpoints/types.js';
import type { PotatoConfig } from '../config/types.js';
import { errField, type Logger, silentLogger } from '../log/logger.js';
import { withLimitHint } from '../process/limits.js';
import type { Sandbox } from '../sandbox/types.js';
import type { SessionRecord } from '../store/types.js';
import type { DriverFactory, PassOutcome, SessionCapability, SessionContext, SessionDriver } from './driver.js';
import type { SessionStatus } from './events.js';
import { PauseGate } from './pause-gate.js';
import { type CheckedRollback, ENDED, type SessionRecorder, type StopType } from './recorder.js';
import { isStorageFull, probeSpace, waitForSpace } from './storage-fault.js';
import { ControlError, type FirstInstruction, type RollbackRequest, type SessionControls } from './types.js';

export interface LifecycleDeps {
  config: PotatoConfig;
  /** The session's recorder, opened at its branch's head (SessionRecorder.open). */
  recorder: SessionRecorder;
  sandbox: Sandbox;
  /** Null when checkpoints.enabled is false (rollback is then refused). */
  checkpoints: CheckpointStore | null;
  /** Called once each time the loop ends (export after every session, cleanup). */
  onEnded?: (session: SessionRecord) => Promise<void> | void;
  /** Where faults and failures are logged (default: nowhere). */
  logger?: Logger;
}

interface PendingRollback {
  checked: CheckedRollback;
  done: { resolve: () => void; reject: (e: unknown) => void };
}

/** What a pass of the loop came to: go on, a stop request, or the agent's end. */
type Next = PassOutcome | 'stop';

export class SessionLifecycle implements SessionControls {
  readonly id: string;
  private readonly rec: SessionRecorder;
  private readonly pauseGate: PauseGate;
  private readonly driver: SessionDriver;
  private readonly log: Logger;
  private stopRequest: { type: StopType; reason: string; annotator: string } | null = null;
  private rollbackRequest: PendingRollback | null = null;
  private timeout: NodeJS.Timeout | null = null;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: LifecycleDeps,
    driver: DriverFactory,
  ) {
    this.rec = deps.recorder;
    this.id = this.rec.id;
    this.log = deps.logger ?? silentLogger;
    this.pauseGate = new PauseGate(this.rec);
    const ctx: SessionContext = {
      rec: this.rec,
      stopping: () => this.stopRequest !== null,
      rollingBack: () => this.rollbackRequest !== null,
      gate: () => this.gate(),
    };
    this.driver = driver(ctx);
  }

  get done(): Promise<void> {
    return this.loop;
  }

  get capability(): SessionCapability {
    return this.driver.capability;
  }

  status(): SessionStatus {
    return this.rec.state;
  }

  /** Preflight: the manager fails the session with this error's message and does not start it. */
  check(): Promise<void> {
    return this.driver.check();
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
      const secs = this.deps.config.live_coding_agent.sandbox.timeout;
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
    return this.pauseGate.pause(annotator, this.driver.pausePoint);
  }

  resume(annotator: string): Promise<void> {
    return this.pauseGate.resume(annotator);
  }

  async instruct(text: string, annotator: string): Promise<void> {
    const instruction = await this.rec.instruction(text, annotator);
    this.driver.deliver?.(instruction);
  }

  async stop(annotator: string): Promise<void> {
    this.rec.requireEnabled('stop_enabled', 'stop');
    this.rec.requireLive('stop');
    this.requestStop('stop', 'stopped by the annotator', annotator);
    await this.loop;
  }

  /**
   * Another server process took this session over (its lease): stop the agent here and write
   * nothing more, since that process now records the session.
   */
  async abandon(reason: string): Promise<void> {
    this.rec.fence(reason);
    this.requestStop('shutdown', reason, 'system');
    await this.loop;
  }

  /** The server is shutting down: recorded as a shutdown (not as an annotator's stop), then saved. */
  async shutdown(reason: string): Promise<void> {
    if (ENDED.includes(this.rec.state)) return;
    this.requestStop('shutdown', reason, 'system');
    await this.loop;
  }

  async rollback(req: RollbackRequest): Promise<void> {
    this.driver.vetRollback?.(req);
    const checked = await this.rec.checkRollback(req, this.deps.checkpoints !== null, this.rollbackRequest !== null);
    const ended = ENDED.includes(this.rec.state);
    // An ended loop may still be in its end (onEnded): the restart waits for it, so the request
    // is the new loop's, not refused by the old one's end.
    if (ended) await this.loop;
    if (this.rollbackRequest) throw new ControlError('a rollback is already in progress', 'invalid_state');
    const applied = new Promise<void>((resolve, reject) => {
      this.rollbackRequest = { checked, done: { resolve, reject } };
    });
    if (ended) {
      await this.start();
    } else {
      this.pauseGate.cancel();
      this.driver.interrupt({ type: 'rollback' });
    }
    await applied;
  }

  // ── the loop ────────────────────────────────────────────────────────────────────────────

  private async run(first: FirstInstruction | undefined, announce: () => void): Promise<void> {
    try {
      await this.rec.setStatus('running', 'starting');
      if (first) await this.instruct(first.text, first.annotator);
      announce();
      this.driver.begin?.();
      for (;;) {
        let next: Next;
        try {
          next = await this.iterate();
        } catch (err) {
          if (!isStorageFull(err)) throw err;
          next = await this.waitForDisk(err);
        }
        if (next === 'more') continue;
        // A stop asked for while the agent was ending its work is what ended it.
        if (next !== 'stop' && !this.stopRequest) {
          if (next.error) await this.rec.error(next.error, next.reason);
          await this.end(next.status, next.reason);
        }
        break;
      }
      if (this.stopRequest) {
        const { type, reason, annotator } = this.stopRequest;
        await this.rec.intervene(type, reason, annotator);
        await this.end('stopped', reason);
      }
    } catch (err) {
      const message = withLimitHint(err instanceof Error ? err.message : String(err), err);
      this.log.error({ session: this.id, err: errField(err) }, `session failed: ${message}`);
      try {
        const kind = this.driver.failureKind?.(err) ?? (err instanceof BackendError ? 'backend' : 'internal');
        await this.rec.error(kind, message);
        await this.end('failed', message);
      } catch (recordErr) {
        // The store itself refused (disk full, I/O error): the row still says running, so the next
        // start marks it interrupted and it can be continued. The process goes on.
        this.log.error({ session: this.id, err: errField(recordErr) }, 'could not record the failure');
      }
    } finally {
      await this.finish();
    }
  }

  /**
   * The loop's end: the driver lets go of its run, a pending rollback is refused, the timer goes,
   * and onEnded runs. (The export of an ended session is written before its end is shown: the
   * recorder's beforeEndShown.)
   */
  private async finish(): Promise<void> {
    try {
      await this.driver.ended?.();
    } catch (err) {
      this.log.error({ session: this.id, err: errField(err) }, 'releasing what the agent run held');
    }
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

  /** One pass of the loop, after the pause gate: a stop, a rollback to apply, or the driver's pass. */
  private async iterate(): Promise<Next> {
    await this.gate();
    if (this.stopRequest) return 'stop';
    if (this.rollbackRequest) {
      await this.applyRollback();
      return 'more';
    }
    return this.driver.pass();
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
        this.driver.afterReset?.();
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

  private async applyRollback(): Promise<void> {
    const pending = this.rollbackRequest!;
    try {
      await this.driver.settle?.();
      await this.rec.moveHead(pending.checked, this.deps.checkpoints!);
      // The server wrote the workspace: a sandbox user gets its files back.
      await this.deps.sandbox.afterRestore?.();
      await this.driver.afterRollback?.(pending.checked);
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
    this.driver.interrupt({ type: 'stop', reason });
    this.pauseGate.nudge();
  }
}

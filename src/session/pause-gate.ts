/**
 * @module session/pause-gate
 * The pause control both controllers share: a pause asked for while the agent works takes
 * effect at the next step boundary (the loop's gate, or the SDK's PreToolUse hook), and
 * nothing more happens until resume, a stop or a rollback.
 */
import type { SessionRecorder } from './recorder.js';
import { ControlError } from './types.js';

export class PauseGate {
  private requested = false;
  /** Who asked for the pending pause: it is recorded when it takes effect, after the step the agent finished. */
  private requestedBy = '';
  private wake: (() => void) | null = null;

  constructor(private readonly rec: SessionRecorder) {}

  /** `where` says when it takes effect, for the status line ("after the current step"). */
  async pause(annotator: string, where: string): Promise<void> {
    this.rec.requireEnabled('pause_enabled', 'pause');
    this.rec.requireLive('pause');
    if (this.rec.state === 'paused' || this.requested)
      throw new ControlError('the agent is already paused', 'invalid_state');
    this.requested = true;
    this.requestedBy = annotator;
    await this.rec.emitStatus(this.rec.activityNow, `pausing ${where}`);
  }

  async resume(annotator: string): Promise<void> {
    this.rec.requireLive('resume');
    if (this.rec.state !== 'paused' && !this.requested)
      throw new ControlError('the agent is not paused', 'invalid_state');
    this.requested = false;
    // A pause that never took effect was never recorded: its resume is not either.
    if (this.rec.state === 'paused') {
      // The state changes before the awaits, so a second resume meanwhile is refused.
      const recorded = this.rec.intervene('resume', null, annotator);
      const running = this.rec.setStatus('running', 'starting');
      this.wake?.();
      await Promise.all([recorded, running]);
      return;
    }
    this.wake?.();
  }

  /** Drop a pending pause without recording anything (a stop, a rollback or the end). */
  cancel(): void {
    this.requested = false;
    this.wake?.();
  }

  /** Let a waiting loop look at a stop or rollback request. */
  nudge(): void {
    this.wake?.();
  }

  /** Wait here while paused, unless `interrupted()` (a stop or rollback) says to go on. */
  async wait(interrupted: () => boolean): Promise<void> {
    while (this.requested && !interrupted()) {
      if (this.rec.state !== 'paused') {
        // The marker goes where the pause took effect: after the step the agent completed.
        await this.rec.intervene('pause', null, this.requestedBy);
        await this.rec.setStatus('paused', 'idle');
        if (!this.requested || interrupted()) break;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
    if (this.rec.state === 'paused') await this.rec.setStatus('running', 'starting');
  }
}

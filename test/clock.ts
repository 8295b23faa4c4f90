/**
 * @module test/clock
 * A clock for the engine and the server (src/clock.ts) that a test can hold. It runs in real
 * time until `hold()`; from then on it stands still, and every wait stays pending until
 * `advance()` moves the clock past its end (or `release()` lets time run again). So "nothing
 * happens while paused" is shown by holding the clock, moving it on an hour and finding no
 * turn waiting and no new step, and a lockout's expiry by moving it past the lockout; no test
 * sleeps.
 */
import { type Clock, systemClock } from '../src/clock.js';

interface Waiter {
  until: number;
  wake: () => void;
}

export class HeldClock implements Clock {
  /** The instant while held; null while time runs. */
  private frozen: number | null = null;
  private waiters: Waiter[] = [];

  /** A clock held from the start: it moves only when advanced. */
  static held(): HeldClock {
    const clock = new HeldClock();
    clock.hold();
    return clock;
  }

  /** A property, so it can be handed on alone (`{ now: clock.now }`). */
  readonly now = (): number => this.frozen ?? Date.now();

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.frozen === null) return systemClock.sleep(ms, signal);
    return new Promise<void>((resolve) => {
      const waiter: Waiter = {
        until: this.now() + ms,
        wake: () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve();
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', waiter.wake, { once: true });
    });
  }

  /** Waits that started while held and have not ended: e.g. a scripted turn that was asked for. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Time stands still from now on; waits end only when the clock is moved past them. */
  hold(): void {
    this.frozen ??= Date.now();
  }

  /**
   * Moves the held clock on by `ms` and ends the waits that are due. Await it to let what they
   * wake run; the time itself has moved when the call returns.
   */
  async advance(ms: number): Promise<void> {
    if (this.frozen === null) throw new Error('advance() needs a held clock: call hold() first');
    this.frozen += ms;
    for (const w of this.waiters.filter((x) => x.until <= this.now())) w.wake();
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Real time again; every held wait ends now. */
  release(): void {
    this.frozen = null;
    for (const w of [...this.waiters]) w.wake();
  }
}

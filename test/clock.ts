/**
 * @module test/clock
 * A clock for the engine (src/clock.ts) that a test can hold. It runs in real time until
 * `hold()`; from then on every wait stays pending until `advance()` moves the clock past its
 * end (or `release()` lets time run again). "Nothing happens while paused" is then shown by
 * holding the clock, moving it on an hour, and finding no turn waiting and no new step, with
 * no sleep in the test.
 */
import { type Clock, systemClock } from '../src/clock.js';

interface Waiter {
  until: number;
  wake: () => void;
}

export class HeldClock implements Clock {
  private offset = 0;
  private held = false;
  private waiters: Waiter[] = [];

  now(): number {
    return Date.now() + this.offset;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (!this.held) return systemClock.sleep(ms, signal);
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

  /** From now on, waits end only when the clock is moved past them. */
  hold(): void {
    this.held = true;
  }

  /** Moves the clock on by `ms`, ends the waits that are due, and lets what they wake run. */
  async advance(ms: number): Promise<void> {
    this.offset += ms;
    for (const w of this.waiters.filter((x) => x.until <= this.now())) w.wake();
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Real time again; every held wait ends now. */
  release(): void {
    this.held = false;
    for (const w of [...this.waiters]) w.wake();
  }
}

/**
 * @module sandbox/process-base
 * What every sandbox's long-lived program shares (sandbox/docker/process.ts,
 * sandbox/local/process.ts): the three streams, the exit state, and one ending — streams closed,
 * then `exit` and `close`, once. Each sandbox supplies only how the program starts and is signalled.
 */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { SandboxProcess } from './types.js';

export abstract class SandboxProcessBase extends EventEmitter implements SandboxProcess {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** The signal kill() was asked for, once it was. */
  protected killedBy: NodeJS.Signals | null = null;
  protected exited = false;

  get killed(): boolean {
    return this.killedBy !== null;
  }

  /** Deliver `signal` to the program and everything it started. */
  protected abstract signal(signal: NodeJS.Signals): void;

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exited) return false;
    this.killedBy = signal;
    this.signal(signal);
    return true;
  }

  /** A start that failed: an `error` event, then the program's end. */
  protected failed(err: unknown): void {
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
    this.finish(null, null);
  }

  protected finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    this.exitCode = code;
    this.signalCode = signal;
    this.stdout.end();
    this.stderr.end();
    this.emit('exit', code, signal);
    this.emit('close', code, signal);
  }
}

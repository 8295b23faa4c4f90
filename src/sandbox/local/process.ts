/**
 * @module sandbox/local/process
 * A long-lived program run as the local sandbox's user and driven over its stdin and stdout like
 * a child process (the Claude Agent SDK runs Claude Code this way when the server is root). It is
 * started through the process host (process/host.ts) in a process group of its own, so kill()
 * reaches everything it started. Returned at once: it starts once `ready` settles, stdin written
 * before then is buffered, and a failure to start is an `error` event followed by `exit`.
 */
import { type HostedProcess, hostedSpawn } from '../../process/host.js';
import { SandboxProcessBase } from '../process-base.js';
import type { SandboxUser } from './user.js';

export interface LocalProcessOptions {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  user: SandboxUser;
  ready?: Promise<unknown>;
  /** Told the process group when it starts and when it is gone (the sandbox's list and ledger). */
  groups?: { add(pgid: number): void; remove(pgid: number): void };
}

export class LocalProcess extends SandboxProcessBase {
  private child: HostedProcess | null = null;

  constructor(opts: LocalProcessOptions) {
    super();
    void this.start(opts);
  }

  private async start(opts: LocalProcessOptions): Promise<void> {
    try {
      await opts.ready;
    } catch (err) {
      return this.failed(err);
    }
    if (this.killedBy) return this.finish(null, this.killedBy);
    const [file, ...args] = opts.argv as [string, ...string[]];
    const child = hostedSpawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      user: opts.user,
      streamStdin: true,
    });
    this.child = child;
    this.stdin.on('data', (chunk: Buffer) => child.write(chunk));
    this.stdin.on('end', () => child.end());
    child.on('spawn', (pid: number) => {
      opts.groups?.add(pid);
      if (this.killedBy) this.signal(this.killedBy);
    });
    child.on('stdout', (chunk: Buffer) => this.stdout.write(chunk));
    child.on('stderr', (chunk: Buffer) => this.stderr.write(chunk));
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      this.exitCode = code;
      this.signalCode = signal;
    });
    child.on('close', () => {
      if (child.pid !== undefined) opts.groups?.remove(child.pid);
      this.finish(this.exitCode, this.signalCode);
    });
    child.on('error', (err: Error) => this.failed(err));
  }

  /** Signals the program's whole process group (its children too). */
  protected signal(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }
}

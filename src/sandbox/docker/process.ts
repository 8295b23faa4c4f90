/**
 * @module sandbox/docker/process
 * A long-lived program inside the session's container, driven over its stdin and stdout like a
 * child process (the Claude Agent SDK runs Claude Code this way). It is started with the Engine's
 * exec API, attached; the Engine cannot signal an exec, so `kill()` finds the program's processes
 * by a random token in their environment (as command timeouts do, see exec.ts) and signals them.
 *
 * The object is returned at once and starts in the background: what is written to stdin before
 * the exec is attached is buffered, and a failure to start is an `error` event followed by `exit`.
 */
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { SandboxProcessBase } from '../process-base.js';
import type { SpawnRequest } from '../types.js';
import { signalByEnv } from './exec.js';

export const PROCESS_ID_VAR = 'POTATO_PROCESS_ID';

/** The parts of ChildProcess a driver of stdin/stdout needs (what the Agent SDK's SpawnedProcess asks for). */
export class ContainerProcess extends SandboxProcessBase {
  private readonly token = randomBytes(16).toString('hex');

  constructor(
    private readonly container: Docker.Container,
    private readonly docker: Docker,
    opts: SpawnRequest,
  ) {
    super();
    void this.start(opts);
  }

  private async start(opts: SpawnRequest): Promise<void> {
    try {
      await opts.ready;
      if (this.killedBy) return this.ended(null);
      const exec = await this.container.exec({
        Cmd: opts.argv,
        Env: [...Object.entries(opts.env).map(([k, v]) => `${k}=${v}`), `${PROCESS_ID_VAR}=${this.token}`],
        WorkingDir: opts.cwd,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
      const stream = await exec.start({ hijack: true, stdin: true });
      this.docker.modem.demuxStream(stream, this.stdout, this.stderr);
      this.stdin.pipe(stream);
      await new Promise<void>((resolve) => {
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.once('error', () => resolve());
      });
      this.stdin.unpipe(stream);
      const info = await exec.inspect().catch(() => null);
      // A program that has not exited yet when its output closes is still reported as ended.
      this.ended(info?.ExitCode ?? null);
    } catch (err) {
      this.failed(err);
    }
  }

  private ended(code: number | null): void {
    // An exec killed by a signal reports 128 + signal number; say which, as a child process would.
    if (this.killedBy && (code === null || code > 128)) this.finish(null, this.killedBy);
    else this.finish(code, null);
  }

  /** Signals every process of the program (children included); SIGKILL for anything but SIGTERM/SIGINT. */
  protected signal(signal: NodeJS.Signals): void {
    const sig = signal === 'SIGTERM' || signal === 'SIGINT' ? signal.slice(3) : 'KILL';
    void signalByEnv(this.container, `${PROCESS_ID_VAR}=${this.token}`, sig as 'TERM' | 'INT' | 'KILL');
  }
}

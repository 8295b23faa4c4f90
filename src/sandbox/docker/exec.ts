/**
 * @module sandbox/docker/exec
 * Running shell commands in the session's container. Starting a process through the Engine's
 * exec API costs tens of milliseconds (runc joins the container's namespaces each time), so a
 * few long-lived "runner" execs are kept per container: each reads one command at a time on its
 * stdin, runs it as `sh -c` in a fresh child shell, and reports the end of the command's output
 * and its exit status. A command then costs a fork inside the container instead of an exec.
 *
 * Protocol, per command: the client writes `<token> <base64 command>\n`. The runner runs the
 * command with stdout and stderr joined on its stdout (a terminal's view), then writes `<token>`
 * on stdout (everything before it is the command's output) and `<token> <status>\n` on stderr.
 * The token is random per command, so command output cannot end a command by accident.
 *
 * On timeout or abort every process carrying the command's token in its environment is killed
 * by a second exec; the runner then reports the status and is reused.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';
import type { ExecOptions, ExecResult } from '../types.js';
import { SandboxError } from '../types.js';
import { CappedOutput } from './output.js';

const EXEC_ID_VAR = 'POTATO_EXEC_ID';
const RUNNER_ID_VAR = 'POTATO_RUNNER_ID';

const RUNNER_SCRIPT = `
while IFS=' ' read -r token code; do
  cmd=$(printf '%s' "$code" | base64 -d) || { printf '%s' "$token"; printf '%s 127\\n' "$token" >&2; continue; }
  ${EXEC_ID_VAR}=$token /bin/sh -c "$cmd" </dev/null 2>&1
  status=$?
  printf '%s' "$token"
  printf '%s %s\\n' "$token" "$status" >&2
done
`;

/**
 * Stops, then kills, every process whose environment holds $1 (NAME=value), a few rounds so a
 * process forked during a scan is caught by the next. With $2 = TERM or INT, sends that signal
 * once instead (a graceful stop). Needs only sh, tr, grep and kill.
 */
const KILL_SCRIPT = `
for round in 1 2 3; do
  found=
  for e in /proc/[0-9]*/environ; do
    if tr '\\0' '\\n' < "$e" 2>/dev/null | grep -qxF "$1"; then
      p=\${e#/proc/}; found="$found \${p%/environ}"
    fi
  done
  [ -z "$found" ] && exit 0
  if [ "$2" != KILL ]; then kill -"$2" $found 2>/dev/null; exit 0; fi
  kill -STOP $found 2>/dev/null
  kill -KILL $found 2>/dev/null
done
`;

/** After a kill, how long the runner gets to report before it is given up and killed too. */
const REPORT_AFTER_KILL_MS = 3000;

export function killByEnv(container: Docker.Container, assignment: string): Promise<void> {
  return signalByEnv(container, assignment, 'KILL');
}

/** Signals every process in the container whose environment holds `assignment`, as root. */
export async function signalByEnv(
  container: Docker.Container,
  assignment: string,
  signal: 'KILL' | 'TERM' | 'INT',
): Promise<void> {
  try {
    const killer = await container.exec({
      Cmd: ['/bin/sh', '-c', KILL_SCRIPT, 'potato-kill', assignment, signal],
      AttachStdout: true,
      AttachStderr: true,
      User: '0',
    });
    const s = await killer.start({ hijack: true, stdin: false });
    s.resume();
    await new Promise<void>((resolve) => {
      s.once('end', resolve);
      s.once('close', resolve);
      s.once('error', () => resolve());
    });
  } catch {
    // The container may already be gone (session closed): nothing is left to kill then.
  }
}

interface Running {
  token: string;
  output: CappedOutput;
  sawEnd: boolean;
  status: number | undefined;
  finish: (status: number | null) => void;
}

export class Runner {
  private dead = false;
  private current: Running | undefined;
  /** Stdout text that may be the start of the end token, held until the next chunk decides. */
  private held = '';
  private errLine = '';

  private constructor(
    private readonly container: Docker.Container,
    private readonly stream: Duplex,
    /** In the runner's environment, inherited by its commands, so a stuck runner can be killed whole. */
    private readonly id: string,
  ) {}

  static async open(container: Docker.Container, docker: Docker): Promise<Runner> {
    const id = randomBytes(12).toString('hex');
    const runner = await container.exec({
      Cmd: ['/bin/sh', '-c', RUNNER_SCRIPT],
      Env: [`${RUNNER_ID_VAR}=${id}`],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const stream = await runner.start({ hijack: true, stdin: true });
    const r = new Runner(container, stream, id);
    docker.modem.demuxStream(
      stream,
      r.sink((t) => r.onStdout(t)),
      r.sink((t) => r.onStderr(t)),
    );
    const ended = () => r.onEnd();
    stream.once('end', ended);
    stream.once('close', ended);
    stream.once('error', ended);
    return r;
  }

  get alive(): boolean {
    return !this.dead;
  }

  private sink(onText: (text: string) => void): Writable {
    const decoder = new StringDecoder('utf8');
    return new Writable({
      write(chunk: Buffer, _enc, done) {
        onText(decoder.write(chunk));
        done();
      },
    });
  }

  private onStdout(text: string): void {
    const cur = this.current;
    if (!cur || cur.sawEnd) return; // output of a background process between commands
    const all = this.held + text;
    const at = all.indexOf(cur.token);
    if (at >= 0) {
      this.held = '';
      cur.output.write(all.slice(0, at));
      cur.sawEnd = true;
      this.maybeFinish();
      return;
    }
    const keep = partialSuffix(all, cur.token);
    this.held = all.slice(all.length - keep);
    cur.output.write(all.slice(0, all.length - keep));
  }

  private onStderr(text: string): void {
    const lines = (this.errLine + text).split('\n');
    this.errLine = lines.pop() ?? '';
    for (const line of lines) {
      const cur = this.current;
      const m = /^([0-9a-f]{32}) (\d+)$/.exec(line);
      if (cur && m && m[1] === cur.token) {
        cur.status = Number(m[2]);
        this.maybeFinish();
      } else if (cur && !cur.sawEnd) cur.output.write(`${line}\n`);
    }
  }

  private maybeFinish(): void {
    const cur = this.current;
    if (cur?.sawEnd && cur.status !== undefined) cur.finish(cur.status);
  }

  private onEnd(): void {
    if (this.dead) return;
    this.dead = true;
    const cur = this.current;
    if (cur) {
      cur.output.write(this.held);
      this.held = '';
      cur.finish(null);
    }
  }

  async run(command: string, opts: ExecOptions, maxOutputBytes: number): Promise<ExecResult> {
    if (this.dead || this.current) throw new Error('runner is not available');
    const token = randomBytes(16).toString('hex');
    const output = new CappedOutput(maxOutputBytes, opts.onOutput);
    let stopped: 'timeout' | 'abort' | undefined;
    let status: number | null = null;
    await new Promise<void>((resolve) => {
      let giveUp: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
      const onAbort = () => stop('abort');
      this.current = {
        token,
        output,
        sawEnd: false,
        status: undefined,
        finish: (s) => {
          clearTimeout(timer);
          if (giveUp) clearTimeout(giveUp);
          opts.signal?.removeEventListener('abort', onAbort);
          this.current = undefined;
          status = s;
          resolve();
        },
      };
      const stop = (why: 'timeout' | 'abort') => {
        if (stopped || !this.current) return;
        stopped = why;
        void killByEnv(this.container, `${EXEC_ID_VAR}=${token}`).then(() => {
          if (this.current?.token !== token) return;
          // A process that cleared its environment escaped; end the runner and everything under it.
          giveUp = setTimeout(() => {
            if (this.current?.token !== token) return;
            this.dead = true;
            void killByEnv(this.container, `${RUNNER_ID_VAR}=${this.id}`);
            this.stream.destroy();
            this.current?.finish(null);
          }, REPORT_AFTER_KILL_MS);
        });
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.stream.write(`${token} ${Buffer.from(command).toString('base64')}\n`);
      if (opts.signal?.aborted) stop('abort');
    });
    return {
      exitCode: stopped ? null : status,
      output: output.text(),
      truncated: output.truncated,
      timedOut: stopped === 'timeout',
    };
  }

  close(): void {
    this.dead = true;
    this.stream.destroy();
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `token`. */
function partialSuffix(text: string, token: string): number {
  for (let n = Math.min(token.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(token.slice(0, n))) return n;
  }
  return 0;
}

/** A pool of runners for one container: one per command in flight, reused afterwards. */
export class RunnerPool {
  private idle: Runner[] = [];
  private all = new Set<Runner>();

  constructor(
    private readonly container: Docker.Container,
    private readonly docker: Docker,
  ) {}

  async warm(): Promise<void> {
    if (this.idle.length === 0) this.idle.push(await this.open());
  }

  private async open(): Promise<Runner> {
    const r = await Runner.open(this.container, this.docker);
    this.all.add(r);
    return r;
  }

  async run(command: string, opts: ExecOptions, maxOutputBytes: number): Promise<ExecResult> {
    let runner = this.idle.pop();
    while (runner && !runner.alive) runner = this.idle.pop();
    runner ??= await this.open();
    try {
      const result = await runner.run(command, opts, maxOutputBytes);
      if (runner.alive) this.idle.push(runner);
      else this.all.delete(runner);
      return result;
    } catch (err) {
      runner.close();
      this.all.delete(runner);
      throw err instanceof SandboxError
        ? err
        : new SandboxError(`the command could not run: ${String(err)}`, 'io', { cause: err });
    }
  }

  close(): void {
    for (const r of this.all) r.close();
    this.all.clear();
    this.idle = [];
  }
}

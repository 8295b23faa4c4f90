/**
 * @module process/host
 * Commands start from a small helper process, not from the server. Node's spawn forks the
 * calling process on the event-loop thread, and forking a server with a large heap takes
 * milliseconds each time: with twenty sessions running commands that stalled every viewer's
 * stream (see docs/benchmarks.md, `## live`). The helper's heap is tiny, so its forks are cheap
 * and off our loop. It only starts processes and relays their output; signals go straight from
 * here to the process group (a detached child's pgid is its pid).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';

// Plain JavaScript run with `node -e`, so it works the same from src (tsx) and from dist.
const HOST_SOURCE = `
const { spawn } = require('node:child_process');
const { openSync, closeSync } = require('node:fs');
const send = (m) => { if (process.connected) process.send(m); };
const streamed = new Map();
process.on('message', (m) => {
  if (m.type === 'stdin') return void streamed.get(m.id)?.stdin.write(Buffer.from(m.data));
  if (m.type === 'stdin-end') return void streamed.get(m.id)?.stdin.end();
  if (m.type !== 'spawn') return;
  let c;
  let out = 'pipe';
  try {
    const stdin = m.input === undefined && !m.streamStdin ? 'ignore' : 'pipe';
    // 'wx': a new file only, so nothing (a symlink planted there) is followed or overwritten.
    if (m.stdoutFile) out = openSync(m.stdoutFile.path, 'wx', m.stdoutFile.mode);
    const opts = { cwd: m.cwd, env: m.env, detached: m.detached, stdio: [stdin, out, 'pipe'] };
    // Set together: libuv then also drops the supplementary groups before exec.
    if (m.uid !== undefined) Object.assign(opts, { uid: m.uid, gid: m.gid });
    c = spawn(m.file, m.args, opts);
  } catch (e) {
    send({ type: 'error', id: m.id, message: e.message });
    return;
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
  if (m.input !== undefined) {
    c.stdin.on('error', () => {});
    c.stdin.end(m.input);
  } else if (m.streamStdin) {
    c.stdin.on('error', () => {});
    streamed.set(m.id, c);
  }
  c.on('spawn', () => send({ type: 'spawn', id: m.id, pid: c.pid }));
  // No pipes when the spawn failed for want of descriptors (EMFILE): its 'error' below says so.
  c.stdout?.on('data', (d) => send({ type: 'data', id: m.id, fd: 1, data: d }));
  c.stderr?.on('data', (d) => send({ type: 'data', id: m.id, fd: 2, data: d }));
  c.on('error', (e) => send({ type: 'error', id: m.id, message: e.message }));
  c.on('exit', (code, signal) => send({ type: 'exit', id: m.id, code, signal }));
  c.on('close', () => {
    streamed.delete(m.id);
    send({ type: 'close', id: m.id });
  });
});
process.on('disconnect', () => process.exit(0));
`;

type HostMessage =
  | { type: 'spawn'; id: number; pid: number }
  | { type: 'data'; id: number; fd: 1 | 2; data: Uint8Array }
  | { type: 'error'; id: number; message: string }
  | { type: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'close'; id: number };

/**
 * A process started by the host. Events: 'spawn' (pid), 'data' (Buffer: stdout and stderr as
 * they come), 'stdout' and 'stderr' (the same, apart), 'error' (Error), 'exit' (code, signal),
 * 'close' (its output streams are done).
 */
export class HostedProcess extends EventEmitter {
  pid: number | undefined;
  /** Set when started with `streamStdin`: write to its stdin, and close it. */
  write: (data: string | Buffer) => void = () => {
    throw new Error('this process was not started with streamStdin');
  };
  end: () => void = () => {};
}

let host: ChildProcess | null = null;
let nextId = 1;
const running = new Map<number, HostedProcess>();

function startHost(): ChildProcess {
  const child = spawn(process.execPath, ['-e', HOST_SOURCE], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
    env: { PATH: process.env.PATH ?? '' },
  });
  child.on('message', (m: HostMessage) => {
    const p = running.get(m.id);
    if (!p) return;
    switch (m.type) {
      case 'spawn':
        p.pid = m.pid;
        p.emit('spawn', m.pid);
        break;
      case 'data': {
        const chunk = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
        p.emit(m.fd === 1 ? 'stdout' : 'stderr', chunk);
        p.emit('data', chunk);
        break;
      }
      case 'error':
        running.delete(m.id);
        p.emit('error', new Error(m.message));
        break;
      case 'exit':
        p.emit('exit', m.code, m.signal);
        break;
      case 'close':
        running.delete(m.id);
        p.emit('close');
        break;
    }
  });
  child.on('exit', () => {
    host = null;
    for (const [id, p] of running) {
      running.delete(id);
      p.emit('error', new Error('the process host exited'));
    }
  });
  // The host must never keep the server alive on its own.
  child.unref();
  child.channel?.unref();
  return child;
}

export interface HostedSpawnOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Its own process group (pgid = pid), so a timeout can end everything it started. */
  detached?: boolean;
  /** Written to its stdin, which is then closed; without it (and streamStdin) stdin is /dev/null. */
  input?: string | Buffer;
  /** Run as this user and group instead of ours (needs root): the local sandbox's own identity. */
  user?: { uid: number; gid: number };
  /** Stdin stays open for `write()` until `end()` (a long-lived request/answer process). */
  streamStdin?: boolean;
  /**
   * Its stdout goes straight into this new file (created with `mode`; an existing path is an
   * error), so large output never passes through the server.
   */
  stdoutFile?: { path: string; mode: number };
}

/** Start `file args` through the host. */
export function hostedSpawn(file: string, args: string[], opts: HostedSpawnOptions): HostedProcess {
  host ??= startHost();
  const id = nextId++;
  const p = new HostedProcess();
  running.set(id, p);
  // While a command runs, the channel is referenced so its result is awaited.
  host.channel?.ref();
  p.once('close', releaseIfIdle);
  p.once('error', releaseIfIdle);
  host.send({
    type: 'spawn',
    id,
    file,
    args,
    cwd: opts.cwd,
    env: opts.env,
    detached: opts.detached ?? false,
    input: opts.input,
    uid: opts.user?.uid,
    gid: opts.user?.gid,
    stdoutFile: opts.stdoutFile,
    streamStdin: opts.streamStdin,
  });
  if (opts.streamStdin) {
    const h = host;
    p.write = (data) => h.send({ type: 'stdin', id, data: typeof data === 'string' ? Buffer.from(data) : data });
    p.end = () => h.send({ type: 'stdin-end', id });
  }
  return p;
}

/**
 * Run to the end and collect stdout and stderr, like execFile (no shell). `signal` kills it
 * (SIGKILL); it then ends with that signal.
 */
export function hostedExecFile(
  file: string,
  args: string[],
  opts: HostedSpawnOptions & { signal?: AbortSignal },
): Promise<{ stdout: string; stderr: string; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const p = hostedSpawn(file, args, opts);
    const kill = () => {
      if (p.pid === undefined) return;
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    if (opts.signal) {
      const aborted = opts.signal;
      aborted.addEventListener('abort', kill, { once: true });
      p.once('spawn', () => aborted.aborted && kill());
      p.once('close', () => aborted.removeEventListener('abort', kill));
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let code: number | null = null;
    let signal: NodeJS.Signals | null = null;
    p.on('stdout', (b: Buffer) => out.push(b));
    p.on('stderr', (b: Buffer) => err.push(b));
    p.on('exit', (c: number | null, s: NodeJS.Signals | null) => {
      code = c;
      signal = s;
    });
    p.on('error', reject);
    p.on('close', () =>
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
        signal,
      }),
    );
  });
}

function releaseIfIdle(): void {
  if (running.size === 0) host?.channel?.unref();
}

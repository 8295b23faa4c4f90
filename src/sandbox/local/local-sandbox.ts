/**
 * @module sandbox/local/local-sandbox
 * The `local` sandbox: commands run as child processes on this machine, in the workspace, each in
 * its own process group so a timeout or a stop kills everything the command started. When the
 * server runs as root, commands and file reads and writes run as the sandbox's own unprivileged
 * user (sandbox/local/user.ts), who owns the workspace copy and nothing else of ours. Meant for
 * development; untrusted models belong in the docker sandbox (see docs/command-policy.md).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ignored } from '../../errors.js';
import { hostedExecFile, hostedSpawn } from '../../process/host.js';
import { confinePath, realWorkspace, toWorkspaceRelative } from '../paths.js';
import {
  type DirEntry,
  type ExecOptions,
  type ExecResult,
  type Sandbox,
  SandboxError,
  type SandboxProcess,
  type SpawnRequest,
} from '../types.js';
import { sandboxEnv } from './env.js';
import type { GroupLedger } from './group-ledger.js';
import { CappedOutput } from './output.js';
import { LocalProcess } from './process.js';
import { checkReachable, chownTree, type SandboxUser, shareWorkspace } from './user.js';

export interface LocalSandboxOptions {
  workspace: string;
  /** Cap on the output kept per command (head and tail are kept). */
  maxOutputBytes?: number;
  /** Extra variable names to keep out of the child environment (the config's api_key_env). */
  secretEnvNames?: string[];
  /** Time a process group gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** Run commands and file tools as this user (the server is root); null: as ourselves. */
  user?: SandboxUser | null;
  /** Where running process groups are written down, for the next start to kill after a crash. */
  groupLedger?: GroupLedger;
}

/** After the shell exits, how long to wait for background children to let go of its output. */
const DRAIN_MS = 200;

function findShell(): string {
  for (const candidate of ['/bin/bash', '/usr/bin/bash', '/usr/local/bin/bash']) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return '/bin/sh';
}

export class LocalSandbox implements Sandbox {
  readonly type = 'local' as const;
  readonly workspace: string;
  private root: string | null = null;
  private readonly maxOutputBytes: number;
  private readonly env: Record<string, string>;
  private readonly killGraceMs: number;
  private readonly shell = findShell();
  /** Process groups still alive (commands left running in the background); close() ends them. */
  private readonly groups = new Set<number>();
  /** Who commands run as: the sandbox's own user (the server is root), or null for ourselves. */
  readonly user: SandboxUser | null;
  private readonly ledger: GroupLedger | undefined;
  /**
   * As root only: a long-lived program (Claude Code) run as the sandbox's user, with the
   * sandbox's environment (no secrets, its HOME) plus `req.env`. Not as root there is no one
   * else to run it as, so the sandbox offers none.
   */
  readonly spawn?: (req: SpawnRequest) => SandboxProcess;
  /** The user's HOME, beside the workspace: ours (/root) is not theirs to read, and caches do not belong in checkpoints. */
  private readonly home: string | null;

  constructor(opts: LocalSandboxOptions) {
    this.workspace = path.resolve(opts.workspace);
    this.maxOutputBytes = opts.maxOutputBytes ?? 64 * 1024;
    this.user = opts.user ?? null;
    this.ledger = opts.groupLedger;
    this.home = this.user ? `${this.workspace}.home` : null;
    const env = sandboxEnv(process.env, opts.secretEnvNames);
    // Its temp folder too: the server's TMPDIR may be private to the server.
    this.env = this.home
      ? {
          ...env,
          HOME: this.home,
          TMPDIR: path.join(this.home, 'tmp'),
          USER: 'potato-sandbox',
          LOGNAME: 'potato-sandbox',
        }
      : env;
    this.killGraceMs = opts.killGraceMs ?? 1000;
    const user = this.user;
    if (user) {
      this.spawn = (req) =>
        new LocalProcess({
          argv: req.argv,
          env: { ...this.env, ...req.env },
          cwd: req.cwd,
          user,
          ready: req.ready,
          // close() and the ledger of a server that died reach it like a command's group.
          groups: {
            add: (pgid) => {
              this.groups.add(pgid);
              this.ledger?.add(pgid);
            },
            remove: (pgid) => {
              this.groups.delete(pgid);
              this.ledger?.remove(pgid);
            },
          },
        });
    }
  }

  async start(): Promise<void> {
    await fsp.mkdir(this.workspace, { recursive: true });
    const stat = await fsp.stat(this.workspace);
    if (!stat.isDirectory())
      throw new SandboxError(`the workspace ${this.workspace} is not a directory`, 'unavailable');
    this.root = realWorkspace(this.workspace);
    if (this.user && this.home) {
      checkReachable(this.root, this.user);
      await fsp.mkdir(path.join(this.home, 'tmp'), { recursive: true, mode: 0o700 });
      await chownTree([this.home], this.user);
      await this.afterRestore();
    }
  }

  /** The server wrote workspace files (the copy, a rollback): they become the sandbox user's again. */
  async afterRestore(): Promise<void> {
    if (!this.user) return;
    await shareWorkspace(this.realRoot(), this.user);
  }

  private realRoot(): string {
    this.root ??= realWorkspace(this.workspace);
    return this.root;
  }

  resolve(relPath: string): string {
    return confinePath(this.workspace, this.realRoot(), relPath);
  }

  exec(command: string, opts: ExecOptions): Promise<ExecResult> {
    const output = new CappedOutput(this.maxOutputBytes);
    const decoder = new StringDecoder('utf8');
    return new Promise<ExecResult>((resolve, reject) => {
      const child = hostedSpawn(this.shell, ['-c', command], {
        cwd: this.realRoot(),
        env: this.env,
        detached: true,
        user: this.user ?? undefined,
      });
      let pgid: number | undefined;
      let killWanted = false;
      let timedOut = false;
      let finished = false;
      let exitCode: number | null = null;

      const killGroup = () => {
        killWanted = true;
        if (pgid === undefined) return; // done on 'spawn'
        const group = pgid;
        this.signalGroup(group, 'SIGTERM');
        setTimeout(() => this.signalGroup(group, 'SIGKILL'), this.killGraceMs).unref();
      };
      child.on('spawn', (pid: number) => {
        pgid = pid;
        this.groups.add(pid);
        this.ledger?.add(pid);
        if (killWanted) killGroup();
      });
      child.on('data', (chunk: Buffer) => {
        if (finished) return;
        output.push(chunk);
        const text = decoder.write(chunk);
        if (text && opts.onOutput) opts.onOutput(text);
      });
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, opts.timeoutMs);
      const onAbort = () => killGroup();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.signal?.aborted) killGroup();

      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        const rest = decoder.end();
        if (rest && opts.onOutput) opts.onOutput(rest);
        if (pgid !== undefined && !this.groupAlive(pgid)) {
          this.groups.delete(pgid);
          this.ledger?.remove(pgid);
        }
        resolve({ exitCode, output: output.toString(), truncated: output.truncated, timedOut });
      };
      child.on('error', (err: Error) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        reject(
          new SandboxError(`could not run the command with ${this.shell}: ${err.message}`, 'unavailable', {
            cause: err,
          }),
        );
      });
      child.on('exit', (code: number | null) => {
        exitCode = timedOut || opts.signal?.aborted ? null : code;
        // A background child (`server &`) may hold the pipes open; do not wait for it.
        setTimeout(finish, DRAIN_MS).unref();
      });
      child.on('close', finish);
    });
  }

  private signalGroup(pgid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pgid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  private groupAlive(pgid: number): boolean {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      // ESRCH: no process is left in the group.
      return false;
    }
  }

  async readFile(relPath: string): Promise<string> {
    const abs = this.resolve(relPath);
    if (this.user) return this.asUser(relPath, ['cat', '--', abs]);
    try {
      return await fsp.readFile(abs, 'utf8');
    } catch (err) {
      throw fileError(err, relPath);
    }
  }

  async writeFile(relPath: string, content: string): Promise<void> {
    const abs = this.resolve(relPath);
    if (this.user) {
      await this.asUser(
        relPath,
        // One fork: the parent is cut off in the shell, mkdir runs only when it is missing, and
        // the shell becomes cat (a file edit is a turn's most common tool; forks are its cost).
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
        ['/bin/sh', '-c', 'd="${1%/*}"; [ -d "$d" ] || mkdir -p -- "$d" || exit 1; exec cat > "$1"', 'write', abs],
        content,
      );
      return;
    }
    try {
      await fsp.mkdir(path.dirname(abs), { recursive: true });
      await fsp.writeFile(abs, content, 'utf8');
    } catch (err) {
      throw fileError(err, relPath);
    }
  }

  /**
   * A file tool's read or write, done by the sandbox's user like its commands: a root process
   * following a path the agent can change under it (a symlink swapped in after the check) would
   * read or write anything on the machine.
   */
  private async asUser(relPath: string, argv: string[], input?: string): Promise<string> {
    const [file, ...args] = argv as [string, ...string[]];
    const r = await hostedExecFile(file, args, {
      cwd: this.realRoot(),
      env: { PATH: this.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
      user: this.user ?? undefined,
      input,
    });
    if (r.code === 0) return r.stdout;
    const said = r.stderr;
    if (/No such file or directory/.test(said))
      throw new SandboxError(`${relPath}: no such file or directory`, 'not_found');
    if (/Is a directory/.test(said)) throw new SandboxError(`${relPath} is a directory, not a file`, 'io');
    if (/Not a directory|File exists/.test(said))
      throw new SandboxError(`${relPath}: a parent of this path is a file`, 'io');
    if (/Permission denied/.test(said)) throw new SandboxError(`${relPath}: permission denied`, 'io');
    throw new SandboxError(`${relPath}: ${said.trim() || `exit code ${r.code}`}`, 'io');
  }

  async list(relPath: string, depth: number): Promise<DirEntry[]> {
    const start = this.resolve(relPath);
    let stat: fs.Stats;
    try {
      stat = await fsp.stat(start);
    } catch (err) {
      throw fileError(err, relPath);
    }
    if (!stat.isDirectory()) throw new SandboxError(`${relPath} is a file, not a directory`, 'io');
    const out: DirEntry[] = [];
    const walk = async (dir: string, level: number): Promise<void> => {
      const entries = await fsp.readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        if (e.name === '.git') continue;
        const abs = path.join(dir, e.name);
        const rel = toWorkspaceRelative(this.workspace, abs);
        if (e.isSymbolicLink()) out.push({ path: rel, type: 'symlink' });
        else if (e.isDirectory()) {
          out.push({ path: `${rel}/`, type: 'dir' });
          if (level < depth) await walk(abs, level + 1);
        } else out.push({ path: rel, type: 'file' });
      }
    };
    await walk(start, 1);
    return out;
  }

  async close(): Promise<void> {
    for (const pgid of this.groups) {
      this.signalGroup(pgid, 'SIGKILL');
      this.ledger?.remove(pgid);
    }
    this.groups.clear();
    // Removed by its own user: a root walk of a tree the agent can still change could be led outside it.
    if (this.home && this.user) {
      await hostedExecFile('rm', ['-rf', '--', this.home], {
        cwd: '/',
        env: { PATH: this.env.PATH ?? '/usr/bin:/bin' },
        user: this.user,
      }).catch(ignored(`removing the sandbox user's home ${this.home}`));
    }
  }
}

function fileError(err: unknown, relPath: string): SandboxError {
  const code = (err as NodeJS.ErrnoException).code;
  const cause = { cause: err };
  if (code === 'ENOENT') return new SandboxError(`${relPath}: no such file or directory`, 'not_found', cause);
  if (code === 'EISDIR') return new SandboxError(`${relPath} is a directory, not a file`, 'io', cause);
  if (code === 'ENOTDIR') return new SandboxError(`${relPath}: a parent of this path is a file`, 'io', cause);
  if (code === 'EACCES') return new SandboxError(`${relPath}: permission denied`, 'io', cause);
  return new SandboxError(`${relPath}: ${(err as Error).message}`, 'io', cause);
}

/**
 * @module checkpoints/git/git
 * The one way the server starts a `git` process: sealed. Everything the checkpoint store can do
 * in process it does in process (objects, trees, refs, the index); the few git processes left
 * (ignore rules, diffs, reading packed objects) start here, with
 *
 * - an environment built from nothing: PATH, a locale, and the GIT_* variables below — never
 *   `process.env`, so no API key or password reaches git or anything it could start;
 * - GIT_DIR (the server's own repository, outside the workspace) and, only where git must see
 *   the files, GIT_WORK_TREE given explicitly: git never discovers a repository by walking up
 *   from a directory, and never follows a `.git` file the agent could have rewritten;
 * - no system, global or XDG configuration (GIT_CONFIG_NOSYSTEM, GIT_CONFIG_GLOBAL=/dev/null,
 *   HOME and XDG_CONFIG_HOME pointed at an empty place), no system attributes;
 * - every key that makes git start a program set to a harmless value on the command line
 *   (GIT_CONFIG_COUNT), which outranks any repository file; hooks pointed at /dev/null;
 * - replace refs off, no prompts, no optional locks (a read never writes the index).
 *
 * Filters, textconv and external diff drivers are named per attribute (`filter=<name>`) and so
 * cannot all be listed here: the repository's `info/attributes` (written by the store) unsets
 * them for every path, and the only command that compares contents (`diff-tree`) runs without a
 * work tree and with `--no-textconv --no-ext-diff`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { PotatoError } from '../../errors.js';
import { type HostedProcess, hostedExecFile, hostedSpawn } from '../../process/host.js';

export class GitCommandError extends PotatoError<'git_failed'> {
  override name = 'GitCommandError';
  constructor(
    readonly args: string[],
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(`git ${args.join(' ')} failed (exit ${exitCode}): ${stderr.trim() || 'no message'}`, 'git_failed');
  }
}

/**
 * Config keys that would make git run a program, set to values that run nothing. Command-line
 * config (GIT_CONFIG_COUNT) has the highest precedence, above the repository's own file.
 */
export const NEUTRALISED_CONFIG: ReadonlyArray<readonly [string, string]> = [
  ['core.fsmonitor', 'false'],
  ['core.hooksPath', '/dev/null'],
  ['core.sshCommand', 'false'],
  ['core.gitProxy', ''],
  ['core.askPass', ''],
  ['core.pager', 'cat'],
  ['core.editor', 'false'],
  ['sequence.editor', 'false'],
  ['core.attributesFile', '/dev/null'],
  ['core.excludesFile', '/dev/null'],
  ['core.alternateRefsCommand', ''],
  ['core.untrackedCache', 'false'],
  ['core.splitIndex', 'false'],
  ['core.autocrlf', 'false'],
  ['core.safecrlf', 'false'],
  ['core.symlinks', 'true'],
  ['core.fileMode', 'true'],
  ['credential.helper', ''],
  ['diff.external', ''],
  ['diff.noprefix', 'false'],
  ['diff.mnemonicPrefix', 'false'],
  ['diff.relative', 'false'],
  ['gpg.program', 'false'],
  ['gpg.ssh.program', 'false'],
  ['gpg.x509.program', 'false'],
  ['commit.gpgSign', 'false'],
  ['log.showSignature', 'false'],
  ['protocol.allow', 'never'],
  ['uploadpack.packObjectsHook', ''],
  ['gc.auto', '0'],
  ['maintenance.auto', 'false'],
  ['fetch.fsckObjects', 'false'],
  ['submodule.recurse', 'false'],
  ['color.ui', 'false'],
];

export interface SealedGitOptions {
  /** The repository's git directory (the server's own; never one found in the workspace). */
  gitDir: string;
  /** Only for commands that must read files (ignore rules); everything else runs without one. */
  workTree?: string;
  /** Extra GIT_* variables (e.g. GIT_INDEX_FILE). Nothing else is passed through. */
  env?: Record<string, string>;
}

const EMPTY_HOME = '/nonexistent/potato-live-git-home';

/** The whole environment of a sealed git process. Exported so tests can assert it holds no secret. */
export function sealedGitEnv(o: SealedGitOptions): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LC_ALL: 'C',
    HOME: EMPTY_HOME,
    XDG_CONFIG_HOME: EMPTY_HOME,
    GIT_DIR: o.gitDir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_SYSTEM: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_OPTIONAL_LOCKS: '0',
    GIT_PAGER: 'cat',
    GIT_EDITOR: 'false',
    GIT_ADVICE: '0',
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_CEILING_DIRECTORIES: '/',
    ...o.env,
  };
  if (o.workTree) env.GIT_WORK_TREE = o.workTree;
  // Without a work tree the repository is bare to git: attributes come from info/attributes only.
  const pairs = [...NEUTRALISED_CONFIG, ['core.bare', o.workTree ? 'false' : 'true'] as const];
  env.GIT_CONFIG_COUNT = String(pairs.length);
  pairs.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

export interface GitRunOptions extends SealedGitOptions {
  input?: string | Buffer;
  /** Exit codes that are answers rather than failures (e.g. 1 from `rev-parse --verify`). */
  okCodes?: number[];
  /** Stdout goes into this new file instead of the result (large blobs, never through the server). */
  stdoutFile?: { path: string; mode: number };
  /** Kills git; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
}

function cwdOf(o: SealedGitOptions): string {
  // The working directory is never where git looks for a repository (GIT_DIR is explicit).
  return o.workTree ?? o.gitDir;
}

/** Run one sealed git command to completion through the process host. */
export async function git(args: string[], opts: GitRunOptions): Promise<{ stdout: string; code: number }> {
  // Through the process host: forking the server itself would stall its event loop.
  let r: Awaited<ReturnType<typeof hostedExecFile>>;
  try {
    r = await hostedExecFile('git', args, {
      cwd: cwdOf(opts),
      env: sealedGitEnv(opts),
      input: opts.input,
      stdoutFile: opts.stdoutFile,
      signal: opts.signal,
    });
  } catch (err) {
    if (/ENOENT/.test((err as Error).message)) {
      throw new Error('git is not installed or not on PATH: install git (e.g. `apt-get install git`).');
    }
    throw err;
  }
  opts.signal?.throwIfAborted();
  const code = r.code;
  if (code !== 0 && (code === null || !opts.okCodes?.includes(code))) throw new GitCommandError(args, r.stderr, code);
  return { stdout: r.stdout, code };
}

/**
 * A long-lived sealed git process answering requests on its stdin (`cat-file --batch-command`),
 * started by the process host like every other git run here. The caller reads its 'stdout' events.
 */
export function gitProcess(args: string[], opts: SealedGitOptions): HostedProcess {
  return hostedSpawn('git', args, { cwd: cwdOf(opts), env: sealedGitEnv(opts), streamStdin: true });
}

/** Start a long-lived sealed git process with pipes in this process (check-ignore --stdin). */
export function spawnGit(args: string[], opts: SealedGitOptions): ChildProcessWithoutNullStreams {
  return spawn('git', args, { cwd: cwdOf(opts), env: sealedGitEnv(opts), stdio: 'pipe' });
}

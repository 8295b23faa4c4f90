/**
 * @module checkpoints/git/git
 * Running the real `git` binary for the operations that are not on a hot path (init, diff,
 * index sync), with errors that name the command and carry git's own explanation.
 */

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

export interface GitRunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Exit codes that are answers rather than failures (e.g. 1 from `rev-parse --verify`). */
  okCodes?: number[];
  /** Stdout goes into this new file instead of the result (large blobs, never through the server). */
  stdoutFile?: { path: string; mode: number };
  /** Kills git; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export async function git(
  cwd: string,
  args: string[],
  opts: GitRunOptions = {},
): Promise<{ stdout: string; code: number }> {
  // Through the process host: forking the server itself would stall its event loop.
  let r: Awaited<ReturnType<typeof hostedExecFile>>;
  try {
    r = await hostedExecFile('git', args, {
      cwd,
      env: { ...process.env, ...opts.env },
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
 * A long-lived git process answering requests on its stdin (`cat-file --batch-command`), started
 * by the process host like every other git run here. The caller reads its 'stdout' events.
 */
export function gitProcess(cwd: string, args: string[], opts: Pick<GitRunOptions, 'env'> = {}): HostedProcess {
  return hostedSpawn('git', args, { cwd, env: { ...process.env, ...opts.env }, streamStdin: true });
}

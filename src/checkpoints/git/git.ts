/**
 * @module checkpoints/git/git
 * Running the real `git` binary for the operations that are not on a hot path (init, diff,
 * index sync), with errors that name the command and carry git's own explanation.
 */
import { execFile } from 'node:child_process';

export class GitCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(`git ${args.join(' ')} failed (exit ${code}): ${stderr.trim() || 'no message'}`);
    this.name = 'GitCommandError';
  }
}

export interface GitRunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Exit codes that are answers rather than failures (e.g. 1 from `rev-parse --verify`). */
  okCodes?: number[];
}

export function git(cwd: string, args: string[], opts: GitRunOptions = {}): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd, env: { ...process.env, ...opts.env }, maxBuffer: 512 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        if (err && (code === null || !opts.okCodes?.includes(code))) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
            reject(new Error('git is not installed or not on PATH: install git (e.g. `apt-get install git`).'));
            return;
          }
          reject(new GitCommandError(args, stderr, code));
          return;
        }
        resolve({ stdout, code: code ?? 0 });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

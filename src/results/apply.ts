/**
 * @module results/apply
 * Put a branch's result into the user's own repository as one new commit on a new branch,
 * with git plumbing only: a temporary index (GIT_INDEX_FILE) holds the base's tree with the
 * patch applied, `commit-tree` makes the commit and `update-ref` creates the branch only if
 * it does not exist yet. The user's checkout, index, working tree and other branches are
 * never touched. Git runs sealed: no system or global config, no hooks, no fsmonitor.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BranchResult, ResultError, resultPatch, userBase } from './branch-result.js';

const run = promisify(execFile);

const SEALED_ARGS = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'commit.gpgSign=false'];

function sealedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Only what git needs to run: nothing of the caller's GIT_* can point it elsewhere.
  for (const k of ['PATH', 'HOME', 'LANG', 'TZ']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return {
    ...env,
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

async function git(repo: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run('git', ['-C', repo, ...SEALED_ARGS, ...args], {
    env: sealedEnv(env),
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
  });
  return stdout.trim();
}

async function gitOk(repo: string, args: string[]): Promise<boolean> {
  try {
    await git(repo, args);
    return true;
  } catch {
    // git's non-zero exit is the answer asked for (no such commit, not an ancestor).
    return false;
  }
}

export interface ApplyOptions {
  /** The user's repository (any folder inside it). */
  repo: string;
  /** The new branch's name (default potato/<session>-<branch>). */
  as?: string;
}

export interface Applied {
  branch: string;
  commit: string;
  parent: string;
  files: number;
}

/** Create branch `as` in `repo` holding `result` as one commit on the commit the session started from. */
export async function applyResult(result: BranchResult, opts: ApplyOptions): Promise<Applied> {
  const { session, branch } = result;
  const repo = opts.repo;
  if (!(await gitOk(repo, ['rev-parse', '--git-dir']))) {
    throw new ResultError(`${repo} is not a git repository: pass --repo the folder of your repository`);
  }
  const name = opts.as ?? `potato/${session.id}-${branch.name}`;
  if (!(await gitOk(repo, ['check-ref-format', '--branch', name]))) {
    throw new ResultError(`"${name}" is not a valid branch name`);
  }
  const ref = `refs/heads/${name}`;
  if (await gitOk(repo, ['rev-parse', '--verify', '-q', ref])) {
    throw new ResultError(`branch ${name} already exists in ${repo}: choose another name with --as`);
  }
  // The commit the session started from: the step-0 checkpoint itself, or (the usual case, a
  // copy of the user's repository) its parent, the user's HEAD when the session began.
  const candidates = [result.base, await userBase(result)].filter((c): c is string => Boolean(c));
  let parent: string | null = null;
  for (const c of candidates) {
    if (await gitOk(repo, ['cat-file', '-e', `${c}^{commit}`])) {
      parent = c;
      break;
    }
  }
  if (!parent) {
    const started = candidates.at(-1)!;
    throw new ResultError(
      `the commit session ${session.id} started from (${started.slice(0, 12)}) is not in ${repo}: apply it in the repository the session's workspace was copied from, or fetch that commit first`,
    );
  }
  const patch = await resultPatch(result);
  const scratch = mkdtempSync(join(tmpdir(), 'potato-apply-'));
  try {
    const index = { GIT_INDEX_FILE: join(scratch, 'index') };
    await git(repo, ['read-tree', parent], index);
    let files = 0;
    if (patch.trim()) {
      const patchFile = join(scratch, 'result.patch');
      writeFileSync(patchFile, patch);
      try {
        await git(repo, ['apply', '--cached', '--binary', '--whitespace=nowarn', patchFile], index);
      } catch (err) {
        const why = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
        throw new ResultError(`the result of ${branch.name} does not apply on ${parent.slice(0, 12)}: ${why}`);
      }
      files = (patch.match(/^diff --git /gm) ?? []).length;
    }
    const tree = await git(repo, ['write-tree'], index);
    const message = `${session.task.trim().split('\n')[0]}\n\nThe result of ${branch.name} of Potato Live session ${session.id}${result.step !== null ? ` (after step ${result.step})` : ''}.\n`;
    const ident = {
      GIT_AUTHOR_NAME: 'Potato Live',
      GIT_AUTHOR_EMAIL: 'potato@localhost',
      GIT_COMMITTER_NAME: 'Potato Live',
      GIT_COMMITTER_EMAIL: 'potato@localhost',
    };
    const messageFile = join(scratch, 'message');
    writeFileSync(messageFile, message);
    const commit = await git(repo, ['commit-tree', tree, '-p', parent, '-F', messageFile], ident);
    // The empty old value: create the branch only if nobody made it in the meantime.
    await git(repo, ['update-ref', '-m', `potato apply ${session.id} ${branch.name}`, ref, commit, ''], ident);
    return { branch: name, commit, parent, files };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * @module server/workspace-files
 * The workspace as it was at a checkpoint, read straight from git: the file list
 * (`git ls-tree`) and one file's content (`git show`). Run with execFile, never a shell, and
 * only for commits that belong to the session, at paths that cannot escape the tree.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SessionRecord, Store } from '../store/types.js';
import { ApiError, BadRequestError, NotFoundError } from './errors.js';

const run = promisify(execFile);

export const MAX_FILE_BYTES = 1024 * 1024;

async function git(cwd: string, args: string[], maxBuffer = 64 * 1024 * 1024): Promise<string> {
  const { stdout } = await run('git', args, { cwd, maxBuffer, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  return stdout;
}

/**
 * Resolve `commit` (a full or abbreviated sha, or undefined for the workspace's HEAD) to a full
 * sha that is one of the session's checkpoints: its base commit or a step's checkpoint.
 */
export async function resolveCheckpoint(store: Store, session: SessionRecord, commit?: string): Promise<string> {
  if (commit !== undefined && !/^[0-9a-f]{4,64}$/i.test(commit)) {
    throw new BadRequestError(`commit must be a hexadecimal sha, got ${JSON.stringify(commit)}`);
  }
  const known = new Set<string>();
  if (session.base_commit) known.add(session.base_commit);
  for (const s of store.listSteps(session.id)) if (s.checkpoint) known.add(s.checkpoint);
  if (commit === undefined) {
    let head: string;
    try {
      head = (await git(session.workspace, ['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
    } catch (err) {
      throw new NotFoundError(`the workspace ${session.workspace} has no commit yet`, { cause: err });
    }
    return head;
  }
  const wanted = commit.toLowerCase();
  const matches = [...known].filter((sha) => sha.startsWith(wanted));
  if (matches.length === 0) throw new NotFoundError(`${commit} is not a checkpoint of session ${session.id}`);
  if (matches.length > 1) throw new BadRequestError(`${commit} is ambiguous: give more digits`);
  return matches[0]!;
}

/**
 * Settings for git runs on the agent-writable workspace repository: no system or global
 * config, and nothing its own config could run (external diff, textconv, fsmonitor, hooks).
 */
const SEALED = ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '-c', 'diff.external='];

/**
 * The patch from `from` to `to` (two of the session's checkpoints), binary files included,
 * with full blob ids so `git apply` can check it against any copy of the base.
 */
export async function diffCommits(workspace: string, from: string, to: string): Promise<string> {
  const { stdout } = await run(
    'git',
    [
      ...SEALED,
      'diff',
      '--binary',
      '--full-index',
      '--no-renames',
      '--no-color',
      '--no-ext-diff',
      '--no-textconv',
      from,
      to,
      '--',
    ],
    {
      cwd: workspace,
      maxBuffer: 256 * 1024 * 1024,
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    },
  );
  return stdout;
}

/** The parent of a checkpoint commit (for the base: the user's commit the session started on), or null. */
export async function parentOf(workspace: string, commit: string): Promise<string | null> {
  try {
    return (await git(workspace, [...SEALED, 'rev-parse', '--verify', '-q', `${commit}^1`])).trim() || null;
  } catch {
    // A root commit has no parent: rev-parse fails, and that is the answer.
    return null;
  }
}

export async function listFiles(workspace: string, commit: string): Promise<string[]> {
  const out = await git(workspace, ['ls-tree', '-r', '-z', '--name-only', commit]);
  return out.split('\0').filter((p) => p.length > 0);
}

/** A workspace-relative path with no way out of the tree and nothing git would read as an option. */
export function checkRelativePath(p: string): string {
  const bad = (why: string): never => {
    throw new BadRequestError(
      `path ${JSON.stringify(p)} ${why}: give a path relative to the workspace, like src/app.py`,
    );
  };
  if (p.length === 0) bad('is empty');
  if (p.includes('\0')) bad('contains a NUL byte');
  if (p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p)) bad('is absolute');
  const parts = p.split(/[\\/]/);
  if (parts.some((s) => s === '..')) bad('goes up with ..');
  return parts.filter((s) => s !== '' && s !== '.').join('/');
}

export interface FileAtCommit {
  path: string;
  commit: string;
  content: string;
  /** True when the file is not text (it has a NUL byte); content is then empty. */
  binary: boolean;
  size: number;
}

export async function readFileAt(workspace: string, commit: string, rawPath: string): Promise<FileAtCommit> {
  const path = checkRelativePath(rawPath);
  const object = `${commit}:${path}`;
  let type: string;
  let size: number;
  try {
    type = (await git(workspace, ['cat-file', '-t', object])).trim();
    size = Number((await git(workspace, ['cat-file', '-s', object])).trim());
  } catch (err) {
    throw new NotFoundError(`no file ${path} at ${commit.slice(0, 12)}`, { cause: err });
  }
  if (type !== 'blob') throw new BadRequestError(`${path} is a ${type === 'tree' ? 'folder' : type}, not a file`);
  if (size > MAX_FILE_BYTES) {
    throw new ApiError(
      `${path} is ${size} bytes, over the 1 MiB the viewer shows: open it in the workspace`,
      'too_large',
    );
  }
  const { stdout } = await run('git', ['cat-file', 'blob', object], {
    cwd: workspace,
    maxBuffer: MAX_FILE_BYTES + 1024,
    encoding: 'buffer',
  });
  const buf = stdout as Buffer;
  const binary = buf.includes(0);
  return { path, commit, content: binary ? '' : buf.toString('utf8'), binary, size };
}

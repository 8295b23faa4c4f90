/**
 * @module server/workspace-files
 * The workspace as it was at a checkpoint, read from the session's checkpoint repository (the
 * server's own git directory, never the workspace's `.git`, which the agent can write): the file
 * list (`git ls-tree`) and one file's content (`git cat-file`). Sealed git processes
 * (checkpoints/git/git.ts), only for commits that belong to the session, at paths that cannot
 * escape the tree.
 */
import { git as sealedGit } from '../checkpoints/git/git.js';
import type { SessionRecord, Store } from '../store/types.js';
import { ApiError, BadRequestError, NotFoundError } from './errors.js';

export const MAX_FILE_BYTES = 1024 * 1024;

async function git(gitDir: string, args: string[]): Promise<string> {
  return (await sealedGit(args, { gitDir })).stdout;
}

/**
 * Resolve `commit` (a full or abbreviated sha, or undefined for the workspace's HEAD) to a full
 * sha that is one of the session's checkpoints: its base commit or a step's checkpoint.
 */
export async function resolveCheckpoint(
  store: Store,
  session: SessionRecord,
  gitDir: string,
  commit?: string,
): Promise<string> {
  if (commit !== undefined && !/^[0-9a-f]{4,64}$/i.test(commit)) {
    throw new BadRequestError(`commit must be a hexadecimal sha, got ${JSON.stringify(commit)}`);
  }
  if (commit === undefined) {
    let head: string;
    try {
      head = (await git(gitDir, ['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
    } catch (err) {
      // rev-parse fails only when HEAD names no commit; the cause keeps git's words for the log.
      throw new NotFoundError(`the workspace ${session.workspace} has no commit yet`, { cause: err });
    }
    return head;
  }
  const wanted = commit.toLowerCase();
  // A whole sha is one index lookup; an abbreviated one is matched against every checkpoint.
  if (wanted === session.base_commit) return wanted;
  if (/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(wanted)) {
    if (await store.stepAtCheckpoint(session.id, wanted)) return wanted;
    throw new NotFoundError(`${commit} is not a checkpoint of session ${session.id}`);
  }
  const known = new Set<string>();
  if (session.base_commit) known.add(session.base_commit);
  for (const s of await store.listSteps(session.id)) if (s.checkpoint) known.add(s.checkpoint);
  const matches = [...known].filter((sha) => sha.startsWith(wanted));
  if (matches.length === 0) throw new NotFoundError(`${commit} is not a checkpoint of session ${session.id}`);
  if (matches.length > 1) throw new BadRequestError(`${commit} is ambiguous: give more digits`);
  return matches[0]!;
}

export async function listFiles(gitDir: string, commit: string): Promise<string[]> {
  const out = await git(gitDir, ['ls-tree', '-r', '-z', '--name-only', commit]);
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

export async function readFileAt(gitDir: string, commit: string, rawPath: string): Promise<FileAtCommit> {
  const path = checkRelativePath(rawPath);
  const object = `${commit}:${path}`;
  let type: string;
  let size: number;
  try {
    type = (await git(gitDir, ['cat-file', '-t', object])).trim();
    size = Number((await git(gitDir, ['cat-file', '-s', object])).trim());
  } catch (err) {
    // cat-file fails when the path is not in that commit; the cause keeps git's words for the log.
    throw new NotFoundError(`no file ${path} at ${commit.slice(0, 12)}`, { cause: err });
  }
  if (type !== 'blob') throw new BadRequestError(`${path} is a ${type === 'tree' ? 'folder' : type}, not a file`);
  if (size > MAX_FILE_BYTES) {
    throw new ApiError(
      `${path} is ${size} bytes, over the 1 MiB the viewer shows: open it in the workspace`,
      'too_large',
    );
  }
  const text = await git(gitDir, ['cat-file', 'blob', object]);
  const binary = text.includes('\0');
  return { path, commit, content: binary ? '' : text, binary, size };
}

/** The binary diff between two checkpoints, as `git apply` takes it (no textconv, no external diff). */
export async function diffCommits(gitDir: string, from: string, to: string): Promise<string> {
  return git(gitDir, [
    'diff-tree',
    '-p',
    '--binary',
    '--full-index',
    '--no-renames',
    '--no-color',
    '--no-ext-diff',
    '--no-textconv',
    from,
    to,
    '--',
  ]);
}

/** The parent of a checkpoint commit (for the base: the user's commit the session started on), or null. */
export async function parentOf(gitDir: string, commit: string): Promise<string | null> {
  try {
    return (await git(gitDir, ['rev-parse', '--verify', '-q', `${commit}^1`])).trim() || null;
  } catch {
    // A root commit has no parent: rev-parse fails, and that is the answer.
    return null;
  }
}

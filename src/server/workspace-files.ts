/**
 * @module server/workspace-files
 * The workspace as it was at a checkpoint, for the file tree and viewer: which commit a request
 * means (only commits that belong to the session), and one file's content within the viewer's
 * limit at a path that cannot escape the tree. The reads themselves go through the engine's
 * CheckpointReader (in process, from the server's own checkpoint repository, never the
 * workspace's `.git`, which the agent can write).
 */
import type { CheckpointReader } from '../checkpoints/types.js';
import type { SessionRecord, Store } from '../store/types.js';
import { ApiError, BadRequestError, NotFoundError } from './errors.js';

export const MAX_FILE_BYTES = 1024 * 1024;

/**
 * Resolve `commit` (a full or abbreviated sha, or undefined for the workspace's HEAD) to a full
 * sha that is one of the session's checkpoints: its base commit or a step's checkpoint.
 */
export async function resolveCheckpoint(
  store: Store,
  session: SessionRecord,
  checkpoints: CheckpointReader,
  commit?: string,
): Promise<string> {
  if (commit !== undefined && !/^[0-9a-f]{4,64}$/i.test(commit)) {
    throw new BadRequestError(`commit must be a hexadecimal sha, got ${JSON.stringify(commit)}`);
  }
  if (commit === undefined) {
    const head = await checkpoints.head();
    if (!head) throw new NotFoundError(`the workspace ${session.workspace} has no commit yet`);
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

export async function readFileAt(
  checkpoints: CheckpointReader,
  commit: string,
  rawPath: string,
): Promise<FileAtCommit> {
  const path = checkRelativePath(rawPath);
  const found = await checkpoints.readFile(commit, path, MAX_FILE_BYTES);
  switch (found.kind) {
    case 'missing':
      throw new NotFoundError(`no file ${path} at ${commit.slice(0, 12)}`);
    case 'folder':
    case 'submodule':
      throw new BadRequestError(`${path} is a ${found.kind}, not a file`);
    case 'too_large':
      throw new ApiError(
        `${path} is ${found.size} bytes, over the 1 MiB the viewer shows: open it in the workspace`,
        'too_large',
      );
    case 'file': {
      const binary = found.data.includes(0);
      return { path, commit, content: binary ? '' : found.data.toString('utf8'), binary, size: found.size };
    }
  }
}

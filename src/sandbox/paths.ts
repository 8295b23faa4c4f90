/**
 * @module sandbox/paths
 * Confining agent-given paths to the workspace, shared by every sandbox whose workspace is a
 * host directory (local, and docker with its bind mount). Real paths are resolved, so a symlink
 * that leads outside is refused just like `..`; a path that does not exist yet is judged by its
 * nearest existing parent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SandboxError } from './types.js';

const MAX_LINK_HOPS = 40;

/** Real path of a workspace directory (call once; the result is what confinement compares with). */
export function realWorkspace(workspace: string): string {
  try {
    return fs.realpathSync(path.resolve(workspace));
  } catch (err) {
    throw new SandboxError(`the workspace ${workspace} does not exist`, 'unavailable', { cause: err });
  }
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Resolve an agent-given path (relative to the workspace, or absolute inside it) to an absolute
 * host path under `workspace`, checked against `root` (the workspace's real path). Throws
 * SandboxError('outside_workspace') for `..` escapes and symlinks that lead outside.
 */
export function confinePath(workspace: string, root: string, relPath: string): string {
  if (relPath.includes('\0')) throw new SandboxError('the path contains a NUL byte', 'io');
  const lexical = path.resolve(workspace, relPath === '' ? '.' : relPath);
  const refuse = () =>
    new SandboxError(
      `${relPath} is outside the workspace: paths must stay inside it (no ".." above the root, no symlinks that lead out)`,
      'outside_workspace',
    );
  if (!isInside(workspace, lexical)) throw refuse();
  const real = realOfMaybeMissing(lexical, 0);
  // The lexical path is returned: it is what the caller will open, and its real path is inside.
  if (real === null || !isInside(root, real)) throw refuse();
  return lexical;
}

/** Real path of p, following symlinks; for a missing path, its nearest existing parent's real path + the rest. */
function realOfMaybeMissing(p: string, hops: number): string | null {
  if (hops > MAX_LINK_HOPS) return null;
  const tail: string[] = [];
  let cur = p;
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...tail.reverse());
    } catch {
      // A dangling symlink: judge it by where it points, since writing through it creates that file.
      let link: string | null = null;
      try {
        if (fs.lstatSync(cur).isSymbolicLink()) link = fs.readlinkSync(cur);
      } catch {
        // Not readable as a symlink: judged below as a plain missing path.
        link = null;
      }
      if (link !== null) {
        const target = realOfMaybeMissing(path.resolve(path.dirname(cur), link), hops + 1);
        return target === null ? null : path.join(target, ...tail.reverse());
      }
      const parent = path.dirname(cur);
      if (parent === cur) return null;
      tail.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** The workspace-relative, '/'-separated form of an absolute path inside the workspace. */
export function toWorkspaceRelative(root: string, abs: string): string {
  const rel = path.relative(root, abs).split(path.sep).join('/');
  return rel === '' ? '.' : rel;
}

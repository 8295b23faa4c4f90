/**
 * @module config/workspace
 * The filesystem check for `sandbox.workspace`: the folder every session copies must exist, be
 * a folder and be readable. A typo there used to start the agent in an empty folder without a
 * word; now `potato validate`, `potato start` and each session start say which key and which
 * resolved path are wrong.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';

export const WORKSPACE_KEY = 'live_coding_agent.sandbox.workspace';

/** Where session `id` works: its own copy of `sandbox.workspace`, under `output.path`. */
export function sessionWorkspace(outputPath: string, id: string): string {
  return join(outputPath, 'workspaces', id);
}

/** What is wrong with the workspace folder at `abs` (an absolute path), or null when it can be copied. */
export function workspaceProblem(abs: string): string | null {
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `no such folder: ${abs} (create it, or fix the path; an empty folder is fine)`;
    if (code === 'ENOTDIR') return `no such folder: ${abs} (a parent of it is a file)`;
    if (code === 'EACCES') return `${abs} cannot be reached: permission denied on a parent folder`;
    return `${abs} cannot be read: ${(err as Error).message}`;
  }
  if (!isDir) return `${abs} is a file, not a folder; give the folder the agent works in`;
  try {
    // Listing needs read, entering needs execute.
    accessSync(abs, constants.R_OK | constants.X_OK);
  } catch {
    // access() answers only yes or no: the returned problem says what is wrong.
    return `${abs} is not readable by this user (${process.getuid?.() ?? '?'}): permission denied`;
  }
  return null;
}

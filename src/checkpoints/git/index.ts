/**
 * @module checkpoints/git
 * The git implementation of the CheckpointStore seam.
 */
import { basename, dirname, resolve } from 'node:path';

export { GitCheckpointReader } from './reader.js';
export { CheckpointError, type GitCheckpointOptions, GitCheckpointStore } from './store.js';

/**
 * The checkpoint repository's git directory for a session workspace: the server's own, beside
 * the workspaces and never inside one (`<output.path>/checkpoints/<session>`).
 */
export function checkpointGitDir(config: { output: { path: string } }, workspace: string): string {
  return resolve(config.output.path, 'checkpoints', basename(workspace));
}

/**
 * The same for a session known only by its recorded workspace (`<output.path>/workspaces/<id>`,
 * config/workspace.ts), as the exporters know it: the checkpoints are that folder's sibling.
 */
export function checkpointGitDirOfWorkspace(workspace: string): string {
  return checkpointGitDir({ output: { path: dirname(dirname(resolve(workspace))) } }, workspace);
}

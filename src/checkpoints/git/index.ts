/**
 * @module checkpoints/git
 * The git implementation of the CheckpointStore seam.
 */
import { basename, resolve } from 'node:path';

export { GitCheckpointReader } from './reader.js';
export { CheckpointError, type GitCheckpointOptions, GitCheckpointStore } from './store.js';

/**
 * The checkpoint repository's git directory for a session workspace: the server's own, beside
 * the workspaces and never inside one (`<output.path>/checkpoints/<session>`).
 */
export function checkpointGitDir(config: { output: { path: string } }, workspace: string): string {
  return resolve(config.output.path, 'checkpoints', basename(workspace));
}

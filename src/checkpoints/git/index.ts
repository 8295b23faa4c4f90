/**
 * @module checkpoints/git
 * The git implementation of the CheckpointStore seam.
 */
export { CheckpointError, type GitCheckpointOptions, GitCheckpointStore } from './store.js';

/**
 * @module sandbox/docker
 * The Docker sandbox's public face: the factory the engine calls, and the orphan
 * sweep the server runs at start.
 */
import type { SandboxConfig } from '../../config/schema.js';
import type { Sandbox } from '../types.js';
import { DockerSandbox, type DockerSandboxOptions } from './sandbox.js';

export { LABEL_LIVE, LABEL_SERVER, LABEL_SESSION } from './container.js';
export { type RemoveOrphansOptions, removeOrphans } from './orphans.js';
export { DockerSandbox, type DockerSandboxOptions } from './sandbox.js';

/** One container per session; nothing runs until start() (or the first exec). */
export function createSandbox(cfg: SandboxConfig, sessionId: string, opts?: DockerSandboxOptions): Sandbox {
  return new DockerSandbox(cfg, sessionId, opts);
}

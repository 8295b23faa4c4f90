/**
 * @module sandbox/types
 * The Sandbox seam: where the agent's commands run and its files live. `local` runs child
 * processes on this machine; `docker` runs them in one container per session. All paths the
 * agent gives are relative to the workspace and confined to it.
 */

export interface ExecOptions {
  timeoutMs: number;
  /** Streamed output as it arrives (stdout and stderr interleaved, as a terminal shows them). */
  onOutput?: (chunk: string) => void;
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number | null;
  /** Combined output, capped at the sandbox's limit; `truncated` says when it was cut. */
  output: string;
  truncated: boolean;
  timedOut: boolean;
}

export interface DirEntry {
  /** Path relative to the workspace, '/' separated; directories end with '/'. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
}

export interface Sandbox {
  readonly type: 'local' | 'docker';
  /** Absolute host path of the workspace (the git repository the checkpoints use). */
  readonly workspace: string;
  /** Start (create the container, check the workspace); idempotent. */
  start(): Promise<void>;
  exec(command: string, opts: ExecOptions): Promise<ExecResult>;
  /** Resolve an agent-given path to an absolute host path inside the workspace, or throw SandboxError. */
  resolve(relPath: string): string;
  readFile(relPath: string): Promise<string>;
  writeFile(relPath: string, content: string): Promise<void>;
  list(relPath: string, depth: number): Promise<DirEntry[]>;
  /**
   * The server rewrote workspace files (a rollback or a reopen reset them to a checkpoint): make
   * them the agent's again, where the sandbox runs the agent as another user. Optional: a no-op
   * where files need no hand-over.
   */
  afterRestore?(): Promise<void>;
  /** Stop everything the sandbox started (processes, container). */
  close(): Promise<void>;
}

export class SandboxError extends Error {
  constructor(
    message: string,
    readonly code: 'outside_workspace' | 'not_found' | 'unavailable' | 'io',
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}

/**
 * @module sandbox/types
 * The Sandbox seam: where the agent's commands run and its files live. `local` runs child
 * processes on this machine; `docker` runs them in one container per session. All paths the
 * agent gives are relative to the workspace and confined to it.
 */
import type { Readable, Writable } from 'node:stream';
import { PotatoError } from '../errors.js';

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

/** A program started inside the sandbox and driven over its stdin and stdout (see Sandbox.spawn). */
export interface SandboxProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly killed: boolean;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'error', listener: (error: Error) => void): this;
  off(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  off(event: 'error', listener: (error: Error) => void): this;
}

export interface SpawnRequest {
  /** Program and arguments, as the sandbox sees them. */
  argv: string[];
  /** The program's environment on top of the sandbox's own (nothing of the server's). */
  env: Record<string, string>;
  /** Working directory, as the sandbox sees it. */
  cwd: string;
  /** Awaited before the program starts. */
  ready?: Promise<unknown>;
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
  /**
   * Start a long-lived program confined like the agent's commands, attached to its stdin and
   * stdout (the Claude Agent SDK's CLI runs this way): inside the container (docker), or as the
   * sandbox's own user (local, server running as root; absent otherwise). Returned at once; a failure to start is an
   * `error` event, then `exit`.
   */
  spawn?(req: SpawnRequest): SandboxProcess;
  /** Stop everything the sandbox started (processes, container). */
  close(): Promise<void>;
}

export class SandboxError extends PotatoError<'outside_workspace' | 'not_found' | 'unavailable' | 'io'> {
  override name = 'SandboxError';
}

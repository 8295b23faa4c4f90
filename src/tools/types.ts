/**
 * @module tools/types
 * The five agent tools (file_read, file_edit, bash_command, directory_list, file_search) run
 * against a Sandbox and turn into step payloads. Backends only see ToolSpecs; the controller
 * calls executeTool and records the outcome.
 */
import type { Sandbox } from '../sandbox/types.js';
import type { StepPayload } from '../steps/types.js';

export interface CommandPolicy {
  /** When set, every simple command in a command line must be one of these (by name). */
  allowed?: string[];
  /** A command line is refused if any part matches one of these (see tools/policy.ts). */
  restricted: string[];
}

export interface ToolContext {
  sandbox: Sandbox;
  policy: CommandPolicy;
  commandTimeoutMs: number;
  maxOutputBytes: number;
  /** Streamed terminal output of a running bash_command. */
  onOutput?: (chunk: string) => void;
  signal?: AbortSignal;
  /** Called right before a shell command runs (checkpoints start watching for changes). */
  beforeCommand?: () => Promise<void>;
}

export interface ToolOutcome {
  payload: StepPayload;
  /** The text sent back to the model as the tool result. */
  result: string;
  isError: boolean;
  /**
   * Workspace-relative paths the tool changed: [] for read-only tools, the edited path for an
   * edit, 'unknown' after a shell command (the checkpoint store finds out).
   */
  changed: string[] | 'unknown';
}

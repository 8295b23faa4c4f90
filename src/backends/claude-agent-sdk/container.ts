/**
 * @module backends/claude-agent-sdk/container
 * Claude Code inside the session's Docker container. The SDK's bundled CLI (a native glibc
 * executable) is bind-mounted read-only; its API traffic leaves through a Unix socket whose folder
 * is bind-mounted too (see api-forwarder.ts), so the container keeps `network: false`; its config
 * folder (transcripts, which `resume` reads after a rollback) is a host folder per session outside
 * the workspace, so it survives the container. Where each lives, on the host and inside. As the
 * local sandbox's user, Claude Code uses the same host folders directly (prepareClaudeCodeForUser).
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Volume } from '../../sandbox/docker/container.js';
import { checkReachable, chownTree, type SandboxUser } from '../../sandbox/local/user.js';
import { BackendError } from '../types.js';

/** Inside the container. */
export const CLAUDE_CODE_DIR = '/potato/claude-code';
export const API_DIR = '/potato/api';
export const API_SOCKET = `${API_DIR}/api.sock`;
export const CONFIG_DIR = '/potato/claude-config';

export interface ClaudeCodeHostPaths {
  /** The folder of the API socket (mounted read-only at API_DIR): short, a socket path has ~107 bytes. */
  apiDir: string;
  apiSocket: string;
  /** Claude Code's config folder (mounted read-write at CONFIG_DIR). */
  configDir: string;
}

/**
 * The host path of the SDK's bundled Claude Code for this machine, found as the SDK finds it
 * (the `@anthropic-ai/claude-agent-sdk-<os>-<arch>` package, glibc build first).
 */
export function bundledClaudeCode(): string {
  const require = createRequire(import.meta.url);
  const base = `@anthropic-ai/claude-agent-sdk-${process.platform}-${process.arch}`;
  for (const pkg of [base, `${base}-musl`]) {
    try {
      return require.resolve(`${pkg}/claude`);
    } catch {
      // try the next build
    }
  }
  throw new BackendError(
    `the claude_agent_sdk backend with sandbox.type docker runs the SDK's bundled Claude Code in the container, but ${base} is not installed: reinstall @anthropic-ai/claude-agent-sdk (npm install) so its platform package comes along`,
    'config',
  );
}

export function claudeCodeHostPaths(outputPath: string, sessionId: string): ClaudeCodeHostPaths {
  const tag = createHash('sha256')
    .update(`${path.resolve(outputPath)}\0${sessionId}`)
    .digest('hex')
    .slice(0, 16);
  const apiDir = path.join(tmpdir(), `potato-api-${tag}`);
  return {
    apiDir,
    apiSocket: path.join(apiDir, 'api.sock'),
    configDir: path.join(path.resolve(outputPath), 'claude-code', sessionId),
  };
}

/**
 * Creates the host folders (private to the server's user) and returns the binds for the
 * container: the bundled CLI's folder read-only, the socket's folder, the config folder.
 */
export function claudeCodeMounts(paths: ClaudeCodeHostPaths): Volume[] {
  const cliDir = path.dirname(bundledClaudeCode());
  mkdirSync(paths.configDir, { recursive: true, mode: 0o700 });
  makeApiDir(paths.apiDir, (mode) => (mode & 0o077) === 0);
  return [
    { host: cliDir, container: CLAUDE_CODE_DIR, readOnly: true },
    { host: paths.apiDir, container: API_DIR, readOnly: true },
    { host: paths.configDir, container: CONFIG_DIR, readOnly: false },
  ];
}

/** The socket folder is in the shared temp folder: refuse one someone else made or linked. */
function makeApiDir(apiDir: string, modeOk: (mode: number) => boolean): void {
  mkdirSync(apiDir, { recursive: true, mode: 0o700 });
  const st = lstatSync(apiDir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || !modeOk(st.mode)) {
    throw new BackendError(
      `${apiDir} is not a private folder of this user: remove it and start the session again`,
      'config',
    );
  }
}

/**
 * Claude Code run as the local sandbox's user (the server is root), on the host: its config
 * folder becomes that user's (the folder above it only lets others pass through), and the API
 * socket's folder lets only that user's group pass, so nothing else on the machine reaches the
 * forwarder. Idempotent: a reopened session prepares the same folders again.
 */
export async function prepareClaudeCodeForUser(paths: ClaudeCodeHostPaths, user: SandboxUser): Promise<void> {
  // Said plainly here rather than as Claude Code failing to start or to connect.
  checkReachable(bundledClaudeCode(), user, "the SDK's Claude Code", 'install Potato Live where other users may pass');
  checkReachable(
    paths.apiDir,
    user,
    'the API socket folder',
    'start the server with TMPDIR where other users may pass',
  );
  mkdirSync(paths.configDir, { recursive: true, mode: 0o700 });
  chmodSync(path.dirname(paths.configDir), 0o711);
  await chownTree([paths.configDir], user);
  makeApiDir(paths.apiDir, (mode) => (mode & 0o007) === 0);
  chownSync(paths.apiDir, process.getuid?.() ?? 0, user.gid);
  chmodSync(paths.apiDir, 0o710);
}

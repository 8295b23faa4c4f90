/**
 * @module test/global-setup
 * Every temporary folder a test makes (workspaces, stores, browser profiles, built UIs) goes
 * under one folder per test run, removed at the end, so runs leave nothing behind in /tmp.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'potato-test-run-'));
  // As root, the local sandbox's own user must pass through this folder to its workspace.
  chmodSync(dir, 0o711);
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}

/**
 * @module session/storage-fault
 * What a session does when the output disk is full: recognise the error (SQLite's SQLITE_FULL,
 * an ENOSPC/EDQUOT from git or the file system), then wait, probing with a small write, until
 * space returns. Every store write that failed was a whole transaction rolled back, so nothing
 * is half-written; the session picks up from its last recorded step.
 */

import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT']);

/** True for "the disk (or quota) is full", wherever the error came from. */
export function isStorageFull(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && FULL_CODES.has(code)) return true;
  // git and other child processes report it only in their message.
  return /no space left on device|disk quota exceeded|database or disk is full/i.test(err.message);
}

export interface WaitForSpaceOptions {
  /** A write that succeeds once there is space again (it throws a storage-full error until then). */
  probe: () => void | Promise<void>;
  /** Stop waiting (the session was stopped meanwhile). */
  cancelled: () => boolean;
  intervalMs?: number;
}

/** Probe every intervalMs until the write goes through; false when cancelled first. */
export async function waitForSpace(opts: WaitForSpaceOptions): Promise<boolean> {
  const interval = opts.intervalMs ?? 1000;
  for (;;) {
    if (opts.cancelled()) return false;
    try {
      await opts.probe();
      return true;
    } catch (err) {
      if (!isStorageFull(err)) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, interval).unref());
  }
}

/** Room a session needs to go on: a git commit and a few store pages. */
const PROBE_BYTES = 512 * 1024;

/**
 * Throws ENOSPC unless `dir` can take PROBE_BYTES now. A store write alone can succeed on a full
 * disk (SQLite reuses free pages of its files) while git and the workspace still cannot write.
 */
export function probeSpace(dir: string): void {
  const file = join(dir, `.potato-space-probe-${process.pid}`);
  try {
    writeFileSync(file, Buffer.alloc(PROBE_BYTES));
  } finally {
    rmSync(file, { force: true });
  }
}

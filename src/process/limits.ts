/**
 * @module process/limits
 * The machine limits a busy server meets, named for the operator. A session that fails because
 * the process ran out of descriptors, processes or inotify watches says which limit it was, its
 * value here, and how to raise it, instead of a bare `EMFILE` (docs/benchmarks.md, `## capacity`,
 * has what one session holds).
 */
import { readFileSync } from 'node:fs';
import { causeChain } from '../errors.js';

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    // Not Linux, or hidden in this container: the hint goes without the value.
    return null;
  }
}

const SYSCTLS = ['fs.inotify.max_user_watches', 'fs.inotify.max_user_instances', 'fs.file-max', 'kernel.pid_max'];

function readLimits(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of SYSCTLS) out[name] = readText(`/proc/sys/${name.replace(/\./g, '/')}`)?.trim() ?? '?';
  // The soft limit; Node raises it to the hard limit at start.
  const line = readText('/proc/self/limits')
    ?.split('\n')
    .find((l) => l.startsWith('Max open files'));
  out.open_files = line?.split(/\s{2,}/)[1] ?? '?';
  return out;
}

/** Read once, at start: when the hint is needed, there may be no descriptor left to read them with. */
const LIMITS = readLimits();
const sysctl = (name: string) => LIMITS[name] ?? '?';

/** The limits of this machine that bound how many sessions one process holds, for the start-up log. */
export function machineLimits(): Record<string, string> {
  return { ...LIMITS };
}

/** Where an error happened, when its code alone is ambiguous (EMFILE from inotify_init is the instance limit). */
export type LimitContext = 'watch' | 'other';

function codeOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return code;
  // Errors relayed from the process host arrive as text ("spawn bash EAGAIN").
  return err instanceof Error ? /\b(EMFILE|ENFILE|EAGAIN|ENOSPC)\b/.exec(err.message)?.[1] : undefined;
}

/** What to tell the operator when `err` (or a cause) is a machine limit; null when it is not one. */
export function limitHint(err: unknown, context: LimitContext = 'other'): string | null {
  for (const e of causeChain(err)) {
    switch (codeOf(e)) {
      case 'EMFILE':
        if (context === 'watch') {
          return `inotify instance limit reached: fs.inotify.max_user_instances is ${sysctl('fs.inotify.max_user_instances')} for this user; raise it (sysctl -w fs.inotify.max_user_instances=1024)`;
        }
        return `this process's open-file limit is reached (${sysctl('open_files')} descriptors): raise it with \`ulimit -n\` or LimitNOFILE= in the systemd unit; a live session holds about 11 with 3 viewers`;
      case 'ENFILE':
        return `the system's open-file table is full: fs.file-max is ${sysctl('fs.file-max')}`;
      case 'EAGAIN':
        if (!(e instanceof Error) || !/spawn|fork/i.test(e.message)) break;
        return `no new process could be made: the process limit of this user (\`ulimit -u\`, LimitNPROC=, TasksMax= in the systemd unit) or kernel.pid_max (${sysctl('kernel.pid_max')}) is reached`;
      case 'ENOSPC':
        if (context !== 'watch') break;
        return `inotify watch limit reached: fs.inotify.max_user_watches is ${sysctl('fs.inotify.max_user_watches')} for this user (one watch per workspace folder per session); raise it (sysctl -w fs.inotify.max_user_watches=524288)`;
    }
  }
  return null;
}

/** `message`, followed by the limit hint when `err` is a machine limit. */
export function withLimitHint(message: string, err: unknown): string {
  const hint = limitHint(err);
  return hint ? `${message} (${hint})` : message;
}

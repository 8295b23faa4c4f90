/**
 * @module bench/lib/proc
 * What a process tree holds, read from /proc (Linux): processes, open descriptors, inotify
 * instances and watches (the `inotify wd:` lines of each inotify descriptor's fdinfo), resident
 * memory and CPU ticks. Processes that exit between two reads are skipped.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface TreeStats {
  processes: number;
  fds: number;
  inotifyInstances: number;
  inotifyWatches: number;
  /** Resident memory of every process in the tree, MB. */
  rssMb: number;
  /** user + system ticks of the live processes and of the children they have reaped (USER_HZ). */
  ticks: number;
}

interface ProcStat {
  ppid: number;
  ticks: number;
  rssPages: number;
}

interface ProcStatFull extends ProcStat {
  comm: string;
  /** user + system ticks of the process (or thread) itself. */
  own: number;
  /** user + system ticks of the children it has reaped. */
  reaped: number;
}

function readStat(path: string | number): ProcStatFull | null {
  let text: string;
  try {
    text = readFileSync(typeof path === 'number' ? `/proc/${path}/stat` : path, 'utf8');
  } catch {
    // Exited since the directory was listed.
    return null;
  }
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 4 (ppid), 14-17 (utime, stime, cutime, cstime), 24 (rss), counted from 1 with pid and comm first.
  const n = (i: number) => Number(f[i - 3]);
  const own = n(14) + n(15);
  const reaped = n(16) + n(17);
  const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
  return { ppid: n(4), ticks: own + reaped, rssPages: n(24), comm, own, reaped };
}

/**
 * Where a server's process tree spends its CPU, in ticks (USER_HZ) since it started: its main
 * thread, its other threads (libuv's pool doing file work, V8's collector), the process host
 * (a node child), the commands (reaped by the host, or running now), git (its long-lived
 * readers, and what the server forked and reaped itself).
 */
export interface CpuParts {
  main: number;
  threads: number;
  host: number;
  commands: number;
  git: number;
}

export function cpuParts(root: number): CpuParts {
  const out: CpuParts = { main: 0, threads: 0, host: 0, commands: 0, git: 0 };
  const server = readStat(root);
  const main = readStat(`/proc/${root}/task/${root}/stat`);
  if (!server || !main) return out;
  out.main = main.own;
  out.threads = server.own - main.own;
  // What the server reaped itself: git (check-ignore, diffs); commands go through the host.
  out.git += server.reaped;
  for (const pid of descendants(root)) {
    if (pid === root) continue;
    const st = readStat(pid);
    if (!st) continue;
    if (st.comm === 'git') out.git += st.ticks;
    else if (st.comm === 'node') {
      out.host += st.own;
      out.commands += st.reaped;
    } else out.commands += st.ticks;
  }
  return out;
}

/** `b - a`, part by part. */
export function cpuPartsSince(a: CpuParts, b: CpuParts): CpuParts {
  return {
    main: b.main - a.main,
    threads: b.threads - a.threads,
    host: b.host - a.host,
    commands: b.commands - a.commands,
    git: b.git - a.git,
  };
}

/** Every process whose ancestry reaches `root`, `root` included. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) parent.set(Number(name), st.ppid);
  }
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parent) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

function fdStats(pid: number): { fds: number; instances: number; watches: number } {
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    // Exited, or not ours to read.
    return { fds: 0, instances: 0, watches: 0 };
  }
  let instances = 0;
  let watches = 0;
  for (const fd of names) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:inotify') continue;
      instances++;
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      watches += info.split('\n').filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // The descriptor closed between the listing and the read.
    }
  }
  return { fds: names.length, instances, watches };
}

const PAGE_MB = 4096 / (1024 * 1024);

export function treeStats(root: number): TreeStats {
  const out: TreeStats = { processes: 0, fds: 0, inotifyInstances: 0, inotifyWatches: 0, rssMb: 0, ticks: 0 };
  for (const pid of descendants(root)) {
    const st = readStat(pid);
    if (!st) continue;
    const fd = fdStats(pid);
    out.processes++;
    out.fds += fd.fds;
    out.inotifyInstances += fd.instances;
    out.inotifyWatches += fd.watches;
    out.rssMb += st.rssPages * PAGE_MB;
    out.ticks += st.ticks;
  }
  return out;
}

/** One process alone (not its children). */
export function processStats(pid: number): Omit<TreeStats, 'processes'> {
  const st = readStat(pid);
  const fd = fdStats(pid);
  return {
    fds: fd.fds,
    inotifyInstances: fd.instances,
    inotifyWatches: fd.watches,
    rssMb: (st?.rssPages ?? 0) * PAGE_MB,
    ticks: st ? st.ticks : 0,
  };
}

/** The sysctls that bound inotify, and this process's descriptor limit. */
export function limits(): Record<string, string> {
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      // Not Linux, or hidden in this container.
      return '?';
    }
  };
  const nofile = read('/proc/self/limits')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return {
    'fs.inotify.max_user_watches': read('/proc/sys/fs/inotify/max_user_watches'),
    'fs.inotify.max_user_instances': read('/proc/sys/fs/inotify/max_user_instances'),
    'max open files (soft hard)':
      nofile
        ?.split(/\s{2,}/)
        .slice(1, 3)
        .join(' ') ?? '?',
    'kernel.pid_max': read('/proc/sys/kernel/pid_max'),
  };
}

/** The main thread's time on a core and waiting for one (run queue), ns, from /proc/<pid>/schedstat. */
export function schedStat(pid: number): { onCpuNs: number; waitNs: number } {
  try {
    const [on, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { onCpuNs: on ?? 0, waitNs: wait ?? 0 };
  } catch {
    // Exited, or a kernel without schedstats: no figure.
    return { onCpuNs: Number.NaN, waitNs: Number.NaN };
  }
}

/**
 * @module sandbox/local/group-ledger
 * The local sandbox's process groups, written down in `<output.path>/process-groups/` while they
 * run, so a server that dies (kill -9, a crash) leaves a list: the next start kills what is left
 * of those groups before any session runs again, and no command keeps writing into a workspace
 * after its server is gone. An entry names the server process that started the group; only the
 * entries of a dead server are acted on (another live server on the same folder keeps its own).
 * A process is killed only when it is in the group and started no earlier than the group's leader
 * did (Linux /proc), so a pid reused since then is never hit.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { reportIgnored } from '../../errors.js';

interface Entry {
  server_pid: number;
  pgid: number;
  /** Start time of the group's leader, in clock ticks since boot (/proc/<pid>/stat field 22). */
  start: number;
}

/** pgrp and start time of a process, from /proc; null when it is gone or not Linux. */
function procStat(pid: number): { pgrp: number; start: number } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pgrp: Number(fields[2]), start: Number(fields[19]) };
  } catch {
    // The process is gone (or this is not Linux): nothing of it is left to kill.
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export class GroupLedger {
  /** Each group's last ledger write still running: a removal waits for the entry it removes. */
  private readonly writes = new Map<number, Promise<void>>();
  private dirMade = false;

  constructor(readonly dir: string) {}

  private file(pgid: number): string {
    return path.join(this.dir, `${process.pid}-${pgid}.json`);
  }

  /**
   * A command's group started: write it down, off the event loop (making a file waits for the
   * file system's journal, once per command). Best effort: a full disk must not stop the command.
   */
  add(pgid: number): void {
    const entry: Entry = { server_pid: process.pid, pgid, start: procStat(pgid)?.start ?? 0 };
    this.inOrder(pgid, async () => {
      try {
        if (!this.dirMade) {
          await fsp.mkdir(this.dir, { recursive: true });
          this.dirMade = true;
        }
        await fsp.writeFile(this.file(pgid), JSON.stringify(entry));
      } catch {
        // Without the entry a crash could leave this group behind; the command itself still runs.
        this.dirMade = false;
      }
    });
  }

  remove(pgid: number): void {
    this.inOrder(pgid, () =>
      fsp.rm(this.file(pgid), { force: true }).catch((err: unknown) => {
        reportIgnored(err, `removing the process group ledger entry ${this.file(pgid)}`);
      }),
    );
  }

  private inOrder(pgid: number, write: () => Promise<void>): void {
    const run = (this.writes.get(pgid) ?? Promise.resolve()).then(write);
    this.writes.set(pgid, run);
    void run.finally(() => {
      if (this.writes.get(pgid) === run) this.writes.delete(pgid);
    });
  }

  /** Kill every process left in the groups of dead servers; returns the pids killed. */
  killLeft(): number[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((n) => n.endsWith('.json'));
    } catch {
      // No ledger folder: no server ever recorded a command here.
      return [];
    }
    const killed: number[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      let entry: Entry;
      try {
        entry = JSON.parse(fs.readFileSync(file, 'utf8')) as Entry;
      } catch {
        // A record cut by the crash names no group we could check: drop it.
        fs.rmSync(file, { force: true });
        continue;
      }
      if (entry.server_pid !== process.pid && alive(entry.server_pid)) continue;
      for (const pid of this.members(entry)) {
        try {
          process.kill(pid, 'SIGKILL');
          killed.push(pid);
        } catch {
          // Gone meanwhile.
        }
      }
      fs.rmSync(file, { force: true });
    }
    return killed;
  }

  /** Processes now in the entry's group that started no earlier than its leader. */
  private members(entry: Entry): number[] {
    let pids: number[];
    try {
      pids = fs
        .readdirSync('/proc')
        .filter((n) => /^\d+$/.test(n))
        .map(Number);
    } catch {
      // No /proc (not Linux): there is no way to find the group's members.
      return [];
    }
    return pids.filter((pid) => {
      const st = procStat(pid);
      return st !== null && st.pgrp === entry.pgid && st.start >= entry.start;
    });
  }
}

/** The ledger's folder for an output folder. */
export function processGroupsDir(outputPath: string): string {
  return path.join(outputPath, 'process-groups');
}

/**
 * @module sandbox/local/user
 * The local sandbox's own identity. A server running as root would otherwise hand root to the
 * agent: its commands could read /proc/<server pid>/environ (the API key), the store and
 * /etc/shadow. So, as root, the agent's commands and file tools run as an unprivileged user and
 * group of their own (`sandbox.local_user`, default 61000:61000). The ids need no account on the
 * machine, so nothing is created on a CI host, and they are not `nobody`, whose files (NFS
 * squashing) and processes other services share. The workspace copy is handed to that user; the
 * server's own files in `output.path` are made private (see `protectOutput`).
 */
import { chmodSync, chownSync, lstatSync, readdirSync, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import { hostedExecFile } from '../../process/host.js';
import { SandboxError } from '../types.js';

export interface SandboxUser {
  uid: number;
  gid: number;
}

/** The user the sandbox runs as, from `sandbox.local_user` ("UID:GID"); null when we are not root (nothing to drop). */
export function sandboxUser(spec: string, euid = process.geteuid?.() ?? -1): SandboxUser | null {
  if (euid !== 0) return null;
  const [uid, gid] = spec.split(':').map(Number) as [number, number];
  if (!(uid > 0 && gid > 0))
    throw new SandboxError(`sandbox.local_user must be UID:GID other than root, got "${spec}"`, 'unavailable');
  return { uid, gid };
}

function mayEnter(dir: string, user: SandboxUser): boolean {
  const st = statSync(dir);
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/**
 * Refuse to start when the user cannot reach the workspace: its commands start in it, but every
 * tool that resolves an absolute path (python's sys.path, pytest, `cd "$PWD"`) walks from `/`.
 */
export function checkReachable(
  workspace: string,
  user: SandboxUser,
  what = 'the workspace',
  elsewhere = 'put output.path where other users may pass',
): void {
  const parents: string[] = [];
  for (let dir = path.dirname(workspace); ; dir = path.dirname(dir)) {
    parents.unshift(dir);
    if (path.dirname(dir) === dir) break;
  }
  for (const dir of parents) {
    if (!mayEnter(dir, user)) {
      throw new SandboxError(
        `the sandbox user ${user.uid}:${user.gid} (sandbox.local_user) cannot reach ${what} ${workspace}: ` +
          `${dir} (mode ${(statSync(dir).mode & 0o777).toString(8)}) does not let other users pass through; ` +
          `chmod o+x ${dir}, or ${elsewhere}`,
        'unavailable',
      );
    }
  }
}

/**
 * Give `paths` and everything under them to the user. GNU chown -R -P walks with directory
 * descriptors and never follows a symlink, so a link the agent swaps in during the walk cannot
 * lead it outside.
 */
export async function chownTree(paths: string[], user: SandboxUser): Promise<void> {
  for (let i = 0; i < paths.length; i += 1000) {
    const batch = paths.slice(i, i + 1000);
    const r = await hostedExecFile('chown', ['-R', '-P', '-h', `${user.uid}:${user.gid}`, '--', ...batch], {
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    });
    if (r.code !== 0) {
      throw new SandboxError(
        `could not give ${batch[0]}… to the sandbox user ${user.uid}:${user.gid} (chown): ${r.stderr.trim()}`,
        'io',
      );
    }
  }
}

/** Entries of the workspace root that stay the server's: the checkpoint repository (a folder or a gitdir file). */
const SERVER_ENTRIES = new Set(['.git']);

/**
 * Hand the workspace to the user: everything in it becomes theirs except `.git`, and the root
 * folder stays ours (root, group = the user's, mode 1770): they may create and remove their own
 * entries there, the sticky bit keeps them from renaming or replacing `.git`, and git run by the
 * server still finds a repository owned by its own user (no "dubious ownership").
 */
export async function shareWorkspace(root: string, user: SandboxUser): Promise<void> {
  const entries = readdirSync(root).filter((name) => !SERVER_ENTRIES.has(name));
  await chownTree(
    entries.map((name) => path.join(root, name)),
    user,
  );
  chownSync(root, 0, user.gid);
  chmodSync(root, 0o1770);
}

/**
 * The server's own files become private to it: `output.path` and the `passable` folders in it
 * (`workspaces`, Claude Code's config folders) let others pass through (to reach their own entry)
 * but not list; every other entry of `output.path` (the store, its WAL, exports, checkpoint
 * folders), and every entry of a passable folder that is the server's but not handed to the
 * sandbox (a session's workspace is root's with the sandbox's group; its HOME is the sandbox's),
 * loses all group and other permissions. From now on this process creates files private to it
 * (umask 077), so what is written later is too.
 */
export function protectOutput(outputPath: string, passable: string[], user: SandboxUser): void {
  process.umask(0o077);
  chmodSync(outputPath, 0o711);
  const makePrivate = (entry: string, keep: (st: Stats) => boolean) => {
    const st = lstatSync(entry, { throwIfNoEntry: false });
    if (st && !st.isSymbolicLink() && !keep(st)) chmodSync(entry, st.mode & 0o7700);
  };
  const passing = new Set(passable.map((dir) => path.resolve(dir)));
  for (const name of readdirSync(outputPath)) {
    const entry = path.resolve(outputPath, name);
    if (!passing.has(entry)) makePrivate(entry, () => false);
  }
  for (const dir of passing) {
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory()) continue;
    chmodSync(dir, 0o711);
    for (const name of readdirSync(dir)) {
      makePrivate(path.join(dir, name), (entry) => entry.uid === user.uid || entry.gid === user.gid);
    }
  }
}

/**
 * @module checkpoints/git/store.property.test
 * A property test of the git CheckpointStore (fast-check): random sequences of agent steps —
 * file edits with known paths, shell steps that create, delete, rename and chmod files and
 * directories, make symlinks, empty directories and nested git repositories — mixed with random
 * rollbacks, new branches and branch switches. After every operation the workspace equals the
 * checkpoint it should be at (bytes, permission bits, types, symlink targets, empty directories,
 * nested `.git` contents), every session ref equals the model's head, no lock is left in the
 * repository; at the end `git fsck` is clean and `git status` is empty.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { GitCheckpointStore } from './store.js';

const work = mkdtempSync(join(tmpdir(), 'potato-cp-prop-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const gitEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.com', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: gitEnv,
  });
}

// A small universe of names, so operations collide: files over directories, links over files.
const PATHS = ['x', 'y.txt', 'a', 'a/x', 'a/y.txt', 'a/b', 'a/b/z', 'c', 'c/x', 'n', 'n/f'];
const FILE_PERMS = [0o600, 0o640, 0o644, 0o664, 0o700, 0o755, 0o444];
const DIR_PERMS = [0o700, 0o750, 0o755, 0o775];
const LINK_TARGETS = ['x', '../y.txt', 'nowhere', 'a/b', '/etc/hostname'];

type FsOp =
  | { op: 'write'; path: string; data: Uint8Array; crlf: boolean }
  | { op: 'rm'; path: string }
  | { op: 'mv'; from: string; to: string }
  | { op: 'chmod'; path: string; perm: number; dirPerm: number }
  | { op: 'mkdir'; path: string }
  | { op: 'link'; path: string; target: string }
  | { op: 'nested'; path: string; message: string };

type Step =
  | { kind: 'edit'; path: string; data: Uint8Array }
  | { kind: 'shell'; ops: FsOp[] }
  | { kind: 'rollback'; pick: number }
  | { kind: 'branch'; pick: number }
  | { kind: 'checkout'; pick: number };

const path = fc.constantFrom(...PATHS);
const fsOp: fc.Arbitrary<FsOp> = fc.oneof(
  fc.record({ op: fc.constant('write' as const), path, data: fc.uint8Array({ maxLength: 64 }), crlf: fc.boolean() }),
  fc.record({ op: fc.constant('rm' as const), path }),
  fc.record({ op: fc.constant('mv' as const), from: path, to: path }),
  fc.record({
    op: fc.constant('chmod' as const),
    path,
    perm: fc.constantFrom(...FILE_PERMS),
    dirPerm: fc.constantFrom(...DIR_PERMS),
  }),
  fc.record({ op: fc.constant('mkdir' as const), path }),
  fc.record({ op: fc.constant('link' as const), path, target: fc.constantFrom(...LINK_TARGETS) }),
  fc.record({ op: fc.constant('nested' as const), path: fc.constantFrom('n', 'a/b', 'c'), message: fc.string() }),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('edit' as const), path, data: fc.uint8Array({ maxLength: 32 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('shell' as const), ops: fc.array(fsOp, { minLength: 1, maxLength: 4 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rollback' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('branch' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('checkout' as const), pick: fc.nat() }) },
);

/** Make `rel`'s parent a real directory, whatever is in the way (an agent would). */
function parentDir(ws: string, rel: string): void {
  const parts = rel.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const p = join(ws, ...parts.slice(0, i));
    try {
      if (lstatSync(p).isDirectory()) continue;
      rmSync(p, { force: true });
    } catch {}
    mkdirSync(p);
  }
}

function clear(ws: string, rel: string): void {
  try {
    rmSync(join(ws, rel), { recursive: true, force: true });
  } catch (err) {
    // A parent is a file, or a symlink loop: nothing can be there (`rm -rf` fails the same way).
    if (!['ENOTDIR', 'ELOOP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
}

function apply(ws: string, o: FsOp): void {
  const abs = (p: string) => join(ws, p);
  switch (o.op) {
    case 'write': {
      parentDir(ws, o.path);
      clear(ws, o.path);
      const text = Buffer.from(o.data);
      writeFileSync(abs(o.path), o.crlf ? Buffer.concat([text, Buffer.from('line\r\nnext\r\n')]) : text);
      return;
    }
    case 'rm':
      clear(ws, o.path);
      return;
    case 'mv':
      if (o.from === o.to || o.to.startsWith(`${o.from}/`) || o.from.startsWith(`${o.to}/`)) return;
      try {
        lstatSync(abs(o.from));
      } catch {
        return;
      }
      parentDir(ws, o.to);
      clear(ws, o.to);
      renameSync(abs(o.from), abs(o.to));
      return;
    case 'chmod': {
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(abs(o.path));
      } catch {
        return;
      }
      if (st.isSymbolicLink()) return;
      chmodSync(abs(o.path), st.isDirectory() ? o.dirPerm : o.perm);
      return;
    }
    case 'mkdir':
      parentDir(ws, o.path);
      try {
        if (lstatSync(abs(o.path)).isDirectory()) return;
      } catch {}
      clear(ws, o.path);
      mkdirSync(abs(o.path));
      return;
    case 'link':
      parentDir(ws, o.path);
      clear(ws, o.path);
      symlinkSync(o.target, abs(o.path));
      return;
    case 'nested': {
      parentDir(ws, `${o.path}/x`);
      git(abs(o.path), 'init', '-q');
      clear(ws, `${o.path}/f`);
      writeFileSync(abs(`${o.path}/f`), o.message);
      git(abs(o.path), 'add', '-A');
      git(abs(o.path), 'commit', '-qm', `m ${o.message}`, '--allow-empty');
      return;
    }
  }
}

/** The workspace as a user would compare it: every entry but the root `.git`, with type, permissions, bytes, link target. */
function snapshot(ws: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(ws, rel)).sort()) {
    if (rel === '' && name === '.git') continue;
    const p = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(ws, p));
    const perm = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[p] = `link:${readlinkSync(join(ws, p))}`;
    else if (st.isDirectory()) {
      out[p] = `dir:${perm}`;
      Object.assign(out, snapshot(ws, p));
    } else out[p] = `file:${perm}:${readFileSync(join(ws, p)).toString('base64')}`;
  }
  return out;
}

/** git shows an untracked directory holding a nested repository as one `?? dir/` line. */
function holdsRepo(dir: string): boolean {
  try {
    if (!lstatSync(dir).isDirectory()) return false;
  } catch {
    return false;
  }
  return readdirSync(dir).some((n) => n === '.git' || holdsRepo(join(dir, n)));
}

function locks(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.name.endsWith('.lock')) out.push(p);
    else if (e.isDirectory()) out.push(...locks(p));
  }
  return out;
}

let runNo = 0;

/** A user repository with what a plain `git add -A` used to lose: CRLF under eol=crlf, a 600 file, a 700 dir, an empty dir. */
function userRepo(): string {
  const ws = join(work, `ws${++runNo}`);
  mkdirSync(ws);
  git(ws, 'init', '-q', '-b', 'main');
  writeFileSync(join(ws, '.gitattributes'), '*.txt eol=crlf\n');
  writeFileSync(join(ws, 'y.txt'), 'one\r\ntwo\r\n');
  writeFileSync(join(ws, 'x'), 'secret\n');
  git(ws, 'add', '-A');
  git(ws, 'commit', '-qm', 'user');
  chmodSync(join(ws, 'x'), 0o600);
  mkdirSync(join(ws, 'c'));
  chmodSync(join(ws, 'c'), 0o700);
  writeFileSync(join(ws, 'c', 'x'), 'in c\n');
  mkdirSync(join(ws, 'empty'));
  return ws;
}

async function runSteps(steps: Step[]): Promise<void> {
  const t0 = performance.now();
  const ws = userRepo();
  const gitDir = `${ws}.checkpoints`;
  const store = new GitCheckpointStore({ workspace: ws, gitDir, indexSyncDelayMs: 5 });
  const snaps = new Map<string, Record<string, string>>();
  const heads = new Map<string, string>();
  const commits: string[] = [];
  let current = 'branch-A';
  let branchNo = 0;
  try {
    const before = snapshot(ws);
    const init = await store.init('p', 'branch-A');
    expect(snapshot(ws)).toEqual(before);
    snaps.set(init.baseCommit, before);
    heads.set(current, init.baseCommit);
    commits.push(init.baseCommit);
    /** Git's own view: after the index is written, the disk holds nothing the checkpoint lacks. */
    const gitStatus = async () => {
      await store.syncIndex();
      return git(ws, 'status', '--porcelain')
        .split('\n')
        .filter((l) => l && !(l.startsWith('?? ') && holdsRepo(join(ws, l.slice(3)))));
    };
    const check = (what: string) => {
      const head = heads.get(current)!;
      expect(snapshot(ws), what).toEqual(snaps.get(head));
      for (const [b, oid] of heads) {
        expect(readFileSync(join(gitDir, 'refs/heads/potato/p', b), 'utf8').trim(), b).toBe(oid);
      }
      expect(locks(gitDir)).toEqual([]);
    };
    for (const s of steps) {
      switch (s.kind) {
        case 'edit': {
          parentDir(ws, s.path);
          clear(ws, s.path);
          writeFileSync(join(ws, s.path), s.data);
          const c = await store.commit({ message: `edit ${s.path}`, paths: [s.path] });
          if (c) {
            snaps.set(c, snapshot(ws));
            heads.set(current, c);
            commits.push(c);
          }
          check(`after edit ${s.path}`);
          expect(await gitStatus(), `after edit ${s.path}`).toEqual([]);
          break;
        }
        case 'shell': {
          await store.beforeCommand();
          for (const o of s.ops) apply(ws, o);
          const c = await store.commit({ message: 'shell' });
          if (c) {
            snaps.set(c, snapshot(ws));
            heads.set(current, c);
            commits.push(c);
          }
          check(`after shell ${JSON.stringify(s.ops)}`);
          expect(await gitStatus(), `after shell ${JSON.stringify(s.ops)}`).toEqual([]);
          break;
        }
        case 'rollback': {
          const to = commits[s.pick % commits.length]!;
          await store.reset(to);
          heads.set(current, to);
          check(`after rollback to ${to}`);
          break;
        }
        case 'branch': {
          const to = commits[s.pick % commits.length]!;
          current = `b${++branchNo}`;
          await store.createBranch(current, to);
          heads.set(current, to);
          check(`after branch ${current} at ${to}`);
          break;
        }
        case 'checkout': {
          const names = [...heads.keys()];
          current = names[s.pick % names.length]!;
          await store.checkoutBranch(current);
          check(`after checkout ${current}`);
          break;
        }
      }
    }
    await store.close();
    expect(git(ws, 'fsck', '--strict', '--no-progress', '--no-dangling')).toBe('');
    // A nested repository is shown by git as one untracked directory (its files are in the checkpoint).
    const status = git(ws, 'status', '--porcelain')
      .split('\n')
      .filter((l) => l && !(l.startsWith('?? ') && holdsRepo(join(ws, l.slice(3)))));
    expect(status).toEqual([]);
    expect(git(ws, 'rev-parse', 'HEAD').trim()).toBe(heads.get(current));
    if (process.env.CHECKPOINT_PROPERTY_TIMING)
      console.log(`${steps.length} steps ${(performance.now() - t0).toFixed(0)} ms`);
  } finally {
    await store.close();
    rmSync(ws, { recursive: true, force: true });
    rmSync(gitDir, { recursive: true, force: true });
  }
}

describe('checkpoint store, random steps, rollbacks and branches', () => {
  it('keeps the workspace equal to the checkpoint and every ref equal to its head', async () => {
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 3, maxLength: 20 }), runSteps), {
      numRuns: Number(process.env.CHECKPOINT_PROPERTY_RUNS ?? 25),
    });
  }, 600_000);
});

/**
 * @module checkpoints/git/store.test
 * The git CheckpointStore against real git in temporary directories: what a user would check
 * with git itself (log, status, fsck, show) and byte-for-byte workspace contents.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GitCheckpointStore } from './store.js';

const dirs: string[] = [];
const stores: GitCheckpointStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'potato-cp-'));
  dirs.push(d);
  return d;
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=t@example.com', ...args], {
    cwd: dir,
    encoding: 'utf8',
  });
}

function put(dir: string, rel: string, content: string | Buffer, mode?: number): void {
  mkdirSync(join(dir, rel, '..'), { recursive: true });
  writeFileSync(join(dir, rel), content);
  if (mode !== undefined) chmodSync(join(dir, rel), mode);
}

/** Every file under dir (not .git) with its bytes and kind: the workspace as a user sees it. */
function snapshot(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(dir, rel)).sort()) {
    if (name === '.git') continue;
    const p = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, p));
    if (st.isDirectory()) Object.assign(out, snapshot(dir, p));
    else if (st.isSymbolicLink()) out[p] = `link:${readlinkSync(join(dir, p))}`;
    else out[p] = `${st.mode & 0o111 ? 'x' : '-'}:${readFileSync(join(dir, p)).toString('base64')}`;
  }
  return out;
}

/** The server keeps the repository outside the workspace; tests put it beside it. */
function gitDirOf(workspace: string): string {
  return `${workspace}.checkpoints`;
}

function store(workspace: string, watch = true): GitCheckpointStore {
  dirs.push(gitDirOf(workspace));
  const s = new GitCheckpointStore({ workspace, gitDir: gitDirOf(workspace), watch, indexSyncDelayMs: 50 });
  stores.push(s);
  return s;
}

function commitMessage(dir: string, oid: string): string {
  const raw = git(dir, 'cat-file', 'commit', oid);
  return raw.slice(raw.indexOf('\n\n') + 2);
}

function userRepo(): string {
  const d = tempDir();
  git(d, 'init', '-q', '-b', 'main');
  put(d, 'README.md', '# demo\n');
  put(d, 'src/parser.py', 'def parse():\n    return 1\n');
  put(d, '.gitignore', 'build/\n*.log\n');
  git(d, 'add', '-A');
  git(d, 'commit', '-qm', 'user commit');
  return d;
}

describe('init', () => {
  it('initialises a fresh directory and commits step 0 on the session branch', async () => {
    const d = tempDir();
    put(d, 'hello.txt', 'hi\n');
    const s = store(d);
    const init = await s.init('sess1', 'branch-A');
    expect(init.userBranch).not.toBe('potato/sess1/branch-A');
    expect(git(d, 'rev-parse', 'HEAD').trim()).toBe(init.baseCommit);
    expect(git(d, 'symbolic-ref', 'HEAD').trim()).toBe('refs/heads/potato/sess1/branch-A');
    expect(git(d, 'log', '--format=%s').trim()).toBe('[potato-checkpoint] Step 0: Initial state');
    expect(git(d, 'show', '--format=', '--name-only', 'HEAD').trim()).toBe('hello.txt');
    expect(git(d, 'status', '--porcelain').trim()).toBe('');
  });

  it('uses the message given for step 0', async () => {
    const d = tempDir();
    put(d, 'a', 'a');
    const init = await store(d).init('s', 'branch-A', '[x] Step 0: Initial state');
    expect(commitMessage(d, init.baseCommit)).toBe('[x] Step 0: Initial state\n');
  });

  it('builds step 0 on top of the user HEAD in a repository with commits', async () => {
    const d = userRepo();
    const userHead = git(d, 'rev-parse', 'main').trim();
    const init = await store(d).init('s', 'branch-A');
    expect(init.userBranch).toBe('main');
    expect(git(d, 'rev-parse', `${init.baseCommit}^`).trim()).toBe(userHead);
    expect(git(d, 'log', '--oneline').trim().split('\n')).toHaveLength(2);
  });

  it('keeps a dirty repository: user branch untouched, uncommitted and untracked work in step 0, ignored files out', async () => {
    const d = userRepo();
    const userHead = git(d, 'rev-parse', 'main').trim();
    put(d, 'src/parser.py', 'def parse():\n    return 2  # uncommitted\n');
    put(d, 'notes/todo.txt', 'untracked\n');
    put(d, 'build/out.bin', 'ignored');
    put(d, 'debug.log', 'ignored');
    git(d, 'add', 'src/parser.py');
    const before = snapshot(d);
    const s = store(d);
    const init = await s.init('s', 'branch-A');
    expect(git(d, 'rev-parse', 'main').trim()).toBe(userHead);
    expect(snapshot(d)).toEqual(before);
    const files = git(d, 'ls-tree', '-r', '--name-only', init.baseCommit).trim().split('\n');
    expect(files.sort()).toEqual(['.gitignore', 'README.md', 'notes/todo.txt', 'src/parser.py']);
    expect(git(d, 'show', `${init.baseCommit}:src/parser.py`)).toContain('uncommitted');
    await s.close();
    expect(git(d, 'status', '--porcelain')).toBe('');
    // The way back documented in docs/checkpoints.md.
    git(d, 'switch', '-f', 'main');
    git(d, 'checkout', init.baseCommit, '--', '.');
    git(d, 'reset', '-q');
    expect(readFileSync(join(d, 'src/parser.py'), 'utf8')).toContain('uncommitted');
    expect(git(d, 'status', '--porcelain').split('\n').filter(Boolean).sort()).toEqual([
      ' M src/parser.py',
      '?? notes/',
    ]);
  });

  it('rejects a bad session id or branch name with a message that says what to use', async () => {
    const d = tempDir();
    await expect(store(d).init('a b', 'branch-A')).rejects.toThrow(/invalid session id "a b": use letters/);
    await expect(store(tempDir()).init('s', '../x')).rejects.toThrow(/invalid branch name/);
  });

  it('reopens a session with open() after a restart', async () => {
    const d = userRepo();
    const s1 = store(d);
    await s1.init('s', 'branch-A');
    put(d, 'README.md', 'changed\n');
    const c1 = await s1.commit({ message: 'Step 1', paths: ['README.md'] });
    await s1.close();
    await expect(store(d).init('s', 'branch-A')).rejects.toThrow(/open\(\)/);
    const s2 = store(d);
    await s2.open('s', 'branch-A');
    put(d, 'README.md', 'changed again\n');
    const c2 = await s2.commit({ message: 'Step 2', paths: ['README.md'] });
    expect(git(d, 'rev-parse', `${c2}^`).trim()).toBe(c1);
  });
});

describe.each([
  ['watching', true],
  ['full scan', false],
])('commit (%s)', (_label, watch) => {
  it('commits a known-path edit with exactly the message given, one commit per changing step', async () => {
    const d = userRepo();
    const s = store(d, watch);
    await s.init('s', 'branch-A');
    const msg =
      '[potato-checkpoint] Step 7: Edit src/parser.py\n- Modified lines 45-52\n- Agent reasoning: Fix the regex';
    put(d, 'src/parser.py', 'def parse():\n    return 3\n');
    const c = await s.commit({ message: msg, paths: ['src/parser.py'] });
    expect(c).toMatch(/^[0-9a-f]{40}$/);
    expect(commitMessage(d, c!)).toBe(`${msg}\n`);
    expect(await s.commit({ message: 'no change', paths: ['src/parser.py'] })).toBeNull();
    await s.beforeCommand();
    expect(await s.commit({ message: 'no change either' })).toBeNull();
    put(d, 'README.md', 'step 9\n');
    await s.beforeCommand();
    const c9 = await s.commit({ message: 'Step 9: Run sed' });
    expect(c9).not.toBeNull();
    expect(git(d, 'log', '--format=%H').trim().split('\n').slice(0, 2)).toEqual([c9, c]);
    expect(git(d, 'log', '--oneline').trim().split('\n')).toHaveLength(4);
    expect(git(d, 'show', 'HEAD:README.md')).toBe('step 9\n');
    expect(git(d, 'fsck', '--strict', '--no-progress', '--no-dangling')).toBe('');
  });

  it('finds what a shell command changed: create, modify, delete, chmod, nested new dirs, symlinks, ignored files', async () => {
    const d = userRepo();
    put(d, 'old/gone.txt', 'bye\n');
    put(d, 'run.sh', '#!/bin/sh\n');
    const s = store(d, watch);
    await s.init('s', 'branch-A');
    await s.beforeCommand();
    execFileSync(
      'sh',
      [
        '-c',
        [
          'printf "new\\n" > created.txt',
          'printf "x" >> README.md',
          'rm -r old',
          'chmod +x run.sh',
          'mkdir -p deep/er/still && printf "n" > deep/er/still/file.py',
          'ln -s README.md link',
          'mkdir -p build && echo junk > build/a.o && echo x > trace.log',
          'mkdir empty',
        ].join(' && '),
      ],
      { cwd: d },
    );
    const c = await s.commit({ message: 'Step 1: shell' });
    expect(c).not.toBeNull();
    const changed = git(d, 'diff-tree', '-r', '--no-renames', '--name-status', `${c}^`, c!).trim().split('\n').sort();
    expect(changed).toEqual([
      'A\tcreated.txt',
      'A\tdeep/er/still/file.py',
      'A\tlink',
      'D\told/gone.txt',
      'M\tREADME.md',
      'M\trun.sh',
    ]);
    expect(git(d, 'ls-tree', c!, 'run.sh')).toMatch(/^100755 /);
    expect(git(d, 'ls-tree', c!, 'link')).toMatch(/^120000 /);
    await s.close();
    expect(git(d, 'status', '--porcelain')).toBe('');
    expect(git(d, 'fsck', '--strict', '--no-progress', '--no-dangling')).toBe('');
  });

  it('sees a new file in a directory that held only ignored files, and follows a .gitignore edit', async () => {
    const d = userRepo();
    put(d, 'cache/x.log', 'ignored');
    const s = store(d, watch);
    await s.init('s', 'branch-A');
    put(d, 'cache/kept.txt', 'k');
    const c1 = await s.commit({ message: 'Step 1' });
    expect(git(d, 'ls-tree', '-r', '--name-only', c1!)).toContain('cache/kept.txt');
    put(d, '.gitignore', 'build/\n');
    const c2 = await s.commit({ message: 'Step 2' });
    expect(git(d, 'ls-tree', '-r', '--name-only', c2!)).toContain('cache/x.log');
    await s.close();
    expect(git(d, 'status', '--porcelain')).toBe('');
  });
});

describe('reset and branches', () => {
  it('restores every file byte for byte: edits, creations, deletions, modes, untracked files; ignored ones stay', async () => {
    const d = userRepo();
    put(d, 'bin/tool', Buffer.from([0, 1, 2, 255]), 0o755);
    put(d, 'docs/a.md', 'a\n');
    symlinkSync('README.md', join(d, 'ln'));
    const s = store(d);
    const init = await s.init('s', 'branch-A');
    const at0 = snapshot(d);
    put(d, 'src/parser.py', 'broken\n');
    await s.commit({ message: 'Step 1', paths: ['src/parser.py'] });
    const at1 = snapshot(d);
    execFileSync(
      'sh',
      ['-c', 'rm -r docs bin/tool && chmod +x README.md && mkdir -p n/e/w && echo 1 > n/e/w/f && rm ln && echo d > ln'],
      { cwd: d },
    );
    const c2 = await s.commit({ message: 'Step 2' });
    expect(c2).not.toBeNull();
    // Uncommitted agent work after the last checkpoint, and an ignored file, before the rollback.
    put(d, 'scratch/tmp.txt', 'untracked');
    put(d, 'src/parser.py', 'half-edited');
    put(d, 'build/cache.o', 'ignored');
    await s.reset(init.baseCommit);
    const { 'build/cache.o': ignored, ...rest } = snapshot(d);
    expect(ignored).toBeDefined();
    expect(rest).toEqual(at0);
    expect(existsSync(join(d, 'n'))).toBe(false);
    expect(existsSync(join(d, 'scratch'))).toBe(false);
    expect(git(d, 'rev-parse', 'HEAD').trim()).toBe(init.baseCommit);
    // The next checkpoint's parent is the commit reset to.
    put(d, 'README.md', 'retry\n');
    const c3 = await s.commit({ message: 'Step 1 again', paths: ['README.md'] });
    expect(git(d, 'rev-parse', `${c3}^`).trim()).toBe(init.baseCommit);
    await s.reset(c2!);
    const { 'build/cache.o': _, ...at2 } = snapshot(d);
    expect(Object.keys(at2).sort()).toEqual(['.gitignore', 'README.md', 'ln', 'n/e/w/f', 'src/parser.py']);
    expect(at2['README.md']!.startsWith('x:')).toBe(true);
    expect(at2.ln).toBe(`-:${Buffer.from('d\n').toString('base64')}`);
    await s.reset(init.baseCommit);
    await s.reset(git(d, 'rev-parse', `${c2}^`).trim());
    const { 'build/cache.o': __, ...again1 } = snapshot(d);
    expect(again1).toEqual(at1);
    await s.close();
    expect(git(d, 'status', '--porcelain')).toBe('');
    expect(git(d, 'fsck', '--strict', '--no-progress', '--no-dangling')).toBe('');
  });

  it('creates and checks out branches: one ref per branch, each keeps its own path', async () => {
    const d = userRepo();
    const s = store(d);
    const init = await s.init('s', 'branch-A');
    put(d, 'src/wrong.py', 'wrong\n');
    const a1 = await s.commit({ message: 'Step 1: Edit src/wrong.py', paths: ['src/wrong.py'] });
    await s.createBranch('branch-B', init.baseCommit);
    expect(git(d, 'symbolic-ref', '--short', 'HEAD').trim()).toBe('potato/s/branch-B');
    expect(existsSync(join(d, 'src/wrong.py'))).toBe(false);
    put(d, 'src/parser.py', 'right\n');
    const b1 = await s.commit({ message: 'Step 1: Edit src/parser.py', paths: ['src/parser.py'] });
    expect(git(d, 'rev-parse', `${b1}^`).trim()).toBe(init.baseCommit);
    expect(git(d, 'rev-parse', 'potato/s/branch-A').trim()).toBe(a1);
    await expect(s.createBranch('branch-B', init.baseCommit)).rejects.toThrow(/already exists/);
    await expect(s.checkoutBranch('branch-Z')).rejects.toThrow(/does not exist/);
    await s.checkoutBranch('branch-A');
    expect(readFileSync(join(d, 'src/wrong.py'), 'utf8')).toBe('wrong\n');
    expect(readFileSync(join(d, 'src/parser.py'), 'utf8')).toBe('def parse():\n    return 1\n');
    await s.checkoutBranch('branch-B');
    expect(existsSync(join(d, 'src/wrong.py'))).toBe(false);
    expect(git(d, 'for-each-ref', '--format=%(refname)', 'refs/heads/potato').trim().split('\n')).toEqual([
      'refs/heads/potato/s/branch-A',
      'refs/heads/potato/s/branch-B',
    ]);
    expect(await s.diff(null, b1!)).toContain('+right');
    expect(await s.diff(a1!, b1!)).toContain('deleted file mode');
    await expect(s.reset('0123456789012345678901234567890123456789')).rejects.toThrow(/no commit/);
    await s.close();
    expect(git(d, 'status', '--porcelain')).toBe('');
    expect(git(d, 'fsck', '--strict', '--no-progress', '--no-dangling')).toBe('');
  });

  it('never reads the workspace .git: a repository, symlink or file the agent puts there is replaced by the pointer, unread', async () => {
    const d = userRepo();
    const s = store(d);
    const init = await s.init('s', 'branch-A');
    const pointer = readFileSync(join(d, '.git'), 'utf8');
    expect(pointer).toBe(`gitdir: ${gitDirOf(d)}\n`);
    const marker = join(tempDir(), 'ran');
    const evil = tempDir();
    git(evil, 'init', '-q');
    git(evil, 'config', 'core.fsmonitor', `touch ${marker}`);
    for (const replace of [
      () => {
        rmSync(join(d, '.git'));
        git(d, 'init', '-q');
        git(d, 'config', 'core.fsmonitor', `touch ${marker}`);
      },
      () => {
        rmSync(join(d, '.git'), { recursive: true, force: true });
        symlinkSync(join(evil, '.git'), join(d, '.git'));
      },
      () => {
        rmSync(join(d, '.git'), { recursive: true, force: true });
        writeFileSync(join(d, '.git'), `gitdir: ${join(evil, '.git')}\n`);
      },
    ]) {
      replace();
      put(d, 'README.md', `${Math.random()}\n`);
      const c = await s.commit({ message: 'step' });
      expect(c).not.toBeNull();
      await s.syncIndex();
      expect(existsSync(marker)).toBe(false);
      await s.reset(init.baseCommit);
      expect(lstatSync(join(d, '.git')).isFile()).toBe(true);
      expect(readFileSync(join(d, '.git'), 'utf8')).toBe(pointer);
      expect(git(d, 'rev-parse', 'HEAD').trim()).toBe(init.baseCommit);
      expect(existsSync(marker)).toBe(false);
    }
    expect(readFileSync(join(gitDirOf(d), 'config'), 'utf8')).not.toContain('fsmonitor = touch');
  });

  it('keeps its own head when someone else commits on the branch: the ref goes back, the change goes into the next checkpoint', async () => {
    const d = userRepo();
    const s = store(d);
    const init = await s.init('s', 'branch-A');
    await s.syncIndex();
    put(d, 'README.md', 'by agent\n');
    git(d, 'commit', '-qam', 'agent commit');
    expect(git(d, 'rev-parse', 'HEAD').trim()).not.toBe(init.baseCommit);
    put(d, 'src/parser.py', 'after\n');
    const c = await s.commit({ message: 'Step 3' });
    expect(git(d, 'rev-parse', 'potato/s/branch-A').trim()).toBe(c);
    expect(git(d, 'rev-parse', `${c}^`).trim()).toBe(init.baseCommit);
    expect(git(d, 'show', `${c}:src/parser.py`)).toBe('after\n');
    expect(git(d, 'show', `${c}:README.md`)).toBe('by agent\n');
  });

  it('fails a checkpoint whose object cannot be written, moves no ref, and puts the change into the next one', async () => {
    const d = userRepo();
    const s = store(d);
    const init = await s.init('s', 'branch-A');
    const content = 'def parse():\n    return 2\n';
    put(d, 'src/parser.py', content);
    // A file where the blob's fan-out folder must go: its object cannot be made.
    const blob = git(d, 'hash-object', 'src/parser.py').trim();
    const fanOut = join(gitDirOf(d), 'objects', blob.slice(0, 2));
    rmSync(fanOut, { recursive: true, force: true });
    writeFileSync(fanOut, 'in the way');
    await expect(s.commit({ message: 'Step 1', paths: ['src/parser.py'] })).rejects.toThrow(
      /writing the checkpoint's objects failed/,
    );
    expect(git(d, 'rev-parse', 'potato/s/branch-A').trim()).toBe(init.baseCommit);
    expect(git(d, 'fsck', '--strict', '--no-progress', '--no-dangling')).toBe('');
    rmSync(fanOut);
    // Another file named this time; the earlier change is not lost.
    put(d, 'README.md', 'step 2\n');
    const c = await s.commit({ message: 'Step 2', paths: ['README.md'] });
    expect(git(d, 'show', `${c}:src/parser.py`)).toBe(content);
    expect(git(d, 'show', `${c}:README.md`)).toBe('step 2\n');
    expect(git(d, 'rev-parse', 'potato/s/branch-A').trim()).toBe(c);
    expect(git(d, 'fsck', '--strict', '--no-progress', '--no-dangling')).toBe('');
  });
});

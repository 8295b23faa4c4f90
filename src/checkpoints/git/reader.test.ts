/**
 * @module checkpoints/git/reader.test
 * The read-only CheckpointReader on the repository a real GitCheckpointStore wrote and closed (an
 * ended session), checked against what git itself says: HEAD, `git ls-tree -r`, `git show`. The
 * user's history is packed (`git gc`), so both loose and packed objects are read.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GitCheckpointReader } from './reader.js';
import { GitCheckpointStore } from './store.js';

const dirs: string[] = [];
const readers: GitCheckpointReader[] = [];

afterEach(async () => {
  for (const r of readers.splice(0)) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function git(args: string[], opts: { cwd?: string; gitDir?: string } = {}): Buffer {
  const pre = opts.gitDir ? ['--git-dir', opts.gitDir] : [];
  return execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@t', ...pre, ...args], { cwd: opts.cwd });
}

function put(root: string, rel: string, content: string | Buffer): void {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), content);
}

/** A session that ran and ended: the user's packed history, step 0, one step that changed files. */
async function endedSession() {
  const root = mkdtempSync(join(tmpdir(), 'potato-reader-'));
  dirs.push(root);
  const ws = join(root, 'workspace');
  const gitDir = join(root, 'checkpoints', 'workspace');
  mkdirSync(ws);
  git(['init', '-q'], { cwd: ws });
  put(ws, 'README.md', '# user\n');
  put(ws, 'src/app.py', 'print("v1")\n');
  put(ws, 'data/blob.bin', Buffer.from([0, 1, 2, 3]));
  git(['add', '-A'], { cwd: ws });
  git(['commit', '-qm', 'user commit'], { cwd: ws });
  git(['gc', '-q'], { cwd: ws });
  const store = new GitCheckpointStore({ workspace: ws, gitDir, watch: false });
  const { baseCommit } = await store.init('s1', 'main');
  put(ws, 'src/app.py', 'print("v2")\n');
  put(ws, 'src/new.py', 'x = 1\n');
  const step1 = await store.commit({ message: 'step 1', paths: ['src/app.py', 'src/new.py'] });
  await store.close();
  if (!step1) throw new Error('the step changed files but made no checkpoint');
  const reader = new GitCheckpointReader(gitDir);
  readers.push(reader);
  return { gitDir, baseCommit, step1, reader };
}

describe('GitCheckpointReader', () => {
  it('reads HEAD, the file list and file contents of an ended session as git shows them', async () => {
    const { gitDir, baseCommit, step1, reader } = await endedSession();
    expect(git(['count-objects', '-v'], { gitDir }).toString()).toMatch(/in-pack: [1-9]/);
    expect(await reader.head()).toBe(git(['rev-parse', 'HEAD'], { gitDir }).toString().trim());
    expect(await reader.head()).toBe(step1);
    for (const commit of [baseCommit, step1]) {
      const lsTree = git(['ls-tree', '-r', '-z', '--name-only', commit], { gitDir })
        .toString()
        .split('\0')
        .filter(Boolean);
      expect(await reader.listFiles(commit)).toEqual(lsTree);
    }
    expect(await reader.listFiles(step1)).toContain('src/new.py');
    // Packed (the user's history) and loose (written by the store) alike.
    for (const [commit, path] of [
      [baseCommit, 'src/app.py'],
      [baseCommit, 'data/blob.bin'],
      [step1, 'src/app.py'],
      [step1, 'README.md'],
    ] as const) {
      const want = git(['cat-file', 'blob', `${commit}:${path}`], { gitDir });
      expect(await reader.readFile(commit, path, 1024), `${commit}:${path}`).toEqual({
        kind: 'file',
        size: want.length,
        data: want,
      });
    }
  });

  it("gives a checkpoint's parent and the binary patch between two, as git does", async () => {
    const { gitDir, baseCommit, step1, reader } = await endedSession();
    expect(await reader.parentOf(step1)).toBe(baseCommit);
    const userCommit = git(['rev-parse', `${baseCommit}^1`], { gitDir })
      .toString()
      .trim();
    expect(await reader.parentOf(baseCommit)).toBe(userCommit);
    expect(await reader.parentOf(userCommit)).toBeNull();
    const patch = await reader.patch(baseCommit, step1);
    expect(patch).toContain('+print("v2")');
    expect(patch).toBe(
      git(['diff-tree', '-p', '--binary', '--full-index', '--no-renames', baseCommit, step1], { gitDir }).toString(),
    );
  });

  it('tells a folder, a missing path and a file over the limit apart without reading it', async () => {
    const { step1, reader } = await endedSession();
    expect(await reader.readFile(step1, 'src', 1024)).toEqual({ kind: 'folder' });
    expect(await reader.readFile(step1, 'nope.txt', 1024)).toEqual({ kind: 'missing' });
    expect(await reader.readFile(step1, 'README.md/x', 1024)).toEqual({ kind: 'missing' });
    expect(await reader.readFile(step1, 'src/app.py', 4)).toEqual({ kind: 'too_large', size: 12 });
  });

  it('finds no HEAD where there is no repository, and refuses what is not a commit of it', async () => {
    const { reader } = await endedSession();
    const none = new GitCheckpointReader(join(tmpdir(), 'potato-no-such-checkpoints'));
    readers.push(none);
    expect(await none.head()).toBeNull();
    await expect(reader.listFiles('a'.repeat(40))).rejects.toMatchObject({ code: 'not_found' });
    await expect(reader.listFiles('HEAD')).rejects.toMatchObject({ code: 'bad_request' });
  });
});

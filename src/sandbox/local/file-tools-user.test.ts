/**
 * The local sandbox's file tools as its own user (the server is root): a write makes the missing
 * folders, replaces a file's text in place (its mode and inode kept), and fails with the path and
 * the reason where the user may not write. Needs root, as CI and this machine run the tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalSandbox } from './local-sandbox.js';
import { sandboxUser } from './user.js';

describe.skipIf(process.geteuid?.() !== 0)('file tools as the sandbox user', () => {
  let dir: string;
  let ws: string;
  let sandbox: LocalSandbox;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-file-user-'));
    fs.chmodSync(dir, 0o755);
    ws = path.join(dir, 'ws');
    fs.mkdirSync(path.join(ws, 'src'), { recursive: true });
    fs.writeFileSync(path.join(ws, 'run.sh'), '#!/bin/sh\necho one\n', { mode: 0o755 });
    sandbox = new LocalSandbox({ workspace: ws, user: sandboxUser('65534:65534') });
    await sandbox.start();
  });
  afterEach(async () => {
    await sandbox.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('makes the missing folders of a new file, owned by the user', async () => {
    await sandbox.writeFile('a/b/c/new.txt', 'deep\n');
    expect(fs.readFileSync(path.join(ws, 'a/b/c/new.txt'), 'utf8')).toBe('deep\n');
    expect(fs.statSync(path.join(ws, 'a/b')).uid).toBe(65534);
    await sandbox.writeFile('src/in-existing.txt', 'x');
    expect(await sandbox.readFile('src/in-existing.txt')).toBe('x');
  });

  it('rewrites a file in place: same inode, same mode', async () => {
    const before = fs.statSync(path.join(ws, 'run.sh'));
    await sandbox.writeFile('run.sh', '#!/bin/sh\necho two\n');
    const after = fs.statSync(path.join(ws, 'run.sh'));
    expect(after.ino).toBe(before.ino);
    expect(after.mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(path.join(ws, 'run.sh'), 'utf8')).toBe('#!/bin/sh\necho two\n');
  });

  it('says why a write failed: a parent that is a file, a folder in the way, a file the user may not write', async () => {
    fs.writeFileSync(path.join(ws, 'plain'), 'a file\n');
    await expect(sandbox.writeFile('plain/child.txt', 'x')).rejects.toThrow(
      /plain\/child\.txt: a parent of this path is a file/,
    );
    await expect(sandbox.writeFile('src', 'x')).rejects.toThrow(/src is a directory, not a file/);
    fs.writeFileSync(path.join(ws, 'locked.txt'), 'root only\n', { mode: 0o644 });
    fs.chownSync(path.join(ws, 'locked.txt'), 0, 0);
    await expect(sandbox.writeFile('locked.txt', 'x')).rejects.toThrow(/locked\.txt: permission denied/);
    expect(fs.readFileSync(path.join(ws, 'locked.txt'), 'utf8')).toBe('root only\n');
  });
});

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IgnoreChecker } from './ignore.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function repo(): { gitDir: string; workTree: string } {
  const workTree = mkdtempSync(path.join(tmpdir(), 'potato-ignore-'));
  dirs.push(workTree);
  execFileSync('git', ['init', '-q', workTree]);
  writeFileSync(path.join(workTree, '.gitignore'), '*.log\n');
  return { gitDir: path.join(workTree, '.git'), workTree };
}

describe('IgnoreChecker', () => {
  it('answers as git does', async () => {
    const checker = new IgnoreChecker(repo());
    expect(await checker.check(['a.log', 'a.txt'])).toEqual([true, false]);
    checker.close();
  });

  it('with no descriptor left, refuses with the EMFILE as its cause instead of throwing a TypeError', async () => {
    const checker = new IgnoreChecker(repo());
    // Use up this process's descriptors for real, then give them back whatever happens.
    const held: number[] = [];
    let answer: Promise<boolean[]>;
    try {
      for (;;) held.push(openSync('/dev/null', 'r'));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('EMFILE');
    }
    try {
      answer = checker.check(['a.log']);
      await answer.catch(() => undefined);
    } finally {
      for (const fd of held) closeSync(fd);
    }
    const err = await answer.then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toBe('git check-ignore could not start');
    expect((err?.cause as NodeJS.ErrnoException | undefined)?.code).toBe('EMFILE');
    // Once descriptors are back, the next question starts a checker again.
    expect(await checker.check(['a.log'])).toEqual([true]);
    checker.close();
  });
});

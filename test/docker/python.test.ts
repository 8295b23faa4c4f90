/**
 * @module test/docker/python.test
 * A realistic session in potato-test/python (Debian, python3, git): a script the agent writes
 * runs and writes files, git works in the container, and what the container created (as root
 * or as another user) can be committed and restored by git on the host.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerSandbox } from '../../src/sandbox/docker/index.js';
import { ensureDockerImages, PYTHON_IMAGE, sandboxConfig, tempWorkspace } from './engine.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd }).toString();

describe('DockerSandbox with python3 and git', () => {
  let sb: DockerSandbox;
  beforeAll(async () => {
    ensureDockerImages();
    sb = new DockerSandbox(
      sandboxConfig({ workspace: tempWorkspace('python'), image: PYTHON_IMAGE }),
      `test-python-${process.pid}`,
    );
    await sb.start();
  });
  afterAll(() => sb?.close());

  it('runs a python script that writes files, and git is there', async () => {
    await sb.writeFile(
      'make_report.py',
      [
        'import json, pathlib',
        'out = pathlib.Path("out")',
        'out.mkdir(exist_ok=True)',
        'squares = {n: n * n for n in range(1, 6)}',
        '(out / "squares.json").write_text(json.dumps(squares))',
        'print("wrote", len(squares), "squares")',
      ].join('\n'),
    );
    const r = await sb.exec('python3 make_report.py', { timeoutMs: 30_000 });
    expect(r).toMatchObject({ exitCode: 0, output: 'wrote 5 squares\n' });
    expect(JSON.parse(await sb.readFile('out/squares.json'))).toEqual({ 1: 1, 2: 4, 3: 9, 4: 16, 5: 25 });
    const v = await sb.exec('git --version && python3 -c "import sys; print(sys.version_info[0])"', {
      timeoutMs: 10_000,
    });
    expect(v.exitCode).toBe(0);
    expect(v.output).toMatch(/^git version \d+\.\d+.*\n3\n$/);
    const failing = await sb.exec('python3 -c "raise SystemExit(4)"', { timeoutMs: 10_000 });
    expect(failing.exitCode).toBe(4);
  });

  it('leaves files the host can commit and restore with git, whoever created them in the container', async () => {
    const ws = sb.workspace;
    git(ws, 'init', '-q');
    git(ws, 'add', '-A');
    git(ws, 'commit', '-q', '-m', 'before');
    const made = await sb.exec(
      [
        'echo by-root > root.txt',
        'mkdir -p private && chmod 700 private && echo secret > private/key.txt && chmod 600 private/key.txt',
        'mkdir -p shared && chown 1000:1000 shared && chmod 755 "$PWD"',
        'su user -s /bin/sh -c "echo by-user > shared/user.txt"',
        'chown -R 1000:1000 private',
      ].join(' && '),
      { timeoutMs: 20_000 },
    );
    expect(made.exitCode, made.output).toBe(0);
    expect(statSync(path.join(ws, 'shared/user.txt')).uid).toBe(1000);
    git(ws, 'add', '-A');
    git(ws, 'commit', '-q', '-m', 'agent step');
    expect(git(ws, 'show', '--name-only', '--format=', 'HEAD').split('\n').filter(Boolean).sort()).toEqual([
      'private/key.txt',
      'root.txt',
      'shared/user.txt',
    ]);
    // The agent damages things from inside the container; the host restores the commit.
    await sb.exec('rm -rf private shared && echo changed > root.txt && echo junk > junk.txt', { timeoutMs: 10_000 });
    git(ws, 'reset', '-q', '--hard', 'HEAD');
    git(ws, 'clean', '-q', '-fd');
    expect(readFileSync(path.join(ws, 'root.txt'), 'utf8')).toBe('by-root\n');
    expect(readFileSync(path.join(ws, 'private/key.txt'), 'utf8')).toBe('secret\n');
    expect(existsSync(path.join(ws, 'junk.txt'))).toBe(false);
    // The container sees the restored files too, and its own git agrees with the host's.
    const inside = await sb.exec('cat shared/user.txt && git status --porcelain', { timeoutMs: 10_000 });
    expect(inside).toMatchObject({ exitCode: 0, output: 'by-user\n' });
  });
});

/**
 * @module test/security/git-attacks.test
 * The local sandbox: a scripted agent tries to get a command run on the host through the
 * workspace's git repository (test/security/git-attacks.ts). After its checkpoints, a rollback
 * into a new branch, more steps, the idle index write and the session's end — and then a user's
 * own `git status`, `git log` and `git diff` in the workspace — no payload has run, so no
 * environment (with its secret) was written anywhere.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sealedGitEnv } from '../../src/checkpoints/git/git.js';
import { type Engine, startEngine } from '../engine/harness.js';
import { gitAttack, runGitAttack, SECRET } from './git-attacks.js';

let engine: Engine | undefined;
let markerDir = '';
afterEach(async () => {
  await engine?.close();
  engine = undefined;
  rmSync(markerDir, { recursive: true, force: true });
  delete process.env.POTATO_TEST_SECRET;
});

describe('git in the workspace cannot run anything on the host (local sandbox)', () => {
  it('no payload runs through checkpoints, rollback, branch, index write, session end or the user’s git', async () => {
    markerDir = mkdtempSync(join(tmpdir(), 'potato-markers-'));
    // A root server runs the agent as its own user and keeps output.path private (sandbox.local_user).
    const asRoot = process.geteuid?.() === 0;
    engine = await runGitAttack(
      (script) => startEngine({ script }),
      markerDir,
      asRoot ? /Permission denied/ : /tampered-server-repo/,
    );
  }, 240_000);

  it('(control) the same repository run by an unsealed git does run the payloads', () => {
    markerDir = mkdtempSync(join(tmpdir(), 'potato-markers-'));
    process.env.POTATO_TEST_SECRET = SECRET;
    const dir = mkdtempSync(join(tmpdir(), 'potato-evil-'));
    try {
      const attack = gitAttack(markerDir);
      for (const command of attack.commands.slice(1, 3)) execFileSync('sh', ['-c', command], { cwd: dir });
      execFileSync('sh', ['-c', 'git status; git add -A; git diff --cached; git commit -qm x; true'], {
        cwd: dir,
        env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
        stdio: 'ignore',
      });
      const ran = attack.markers();
      expect(ran.some((m) => m.endsWith('core.fsmonitor'))).toBe(true);
      expect(ran.some((m) => m.includes('.filter.'))).toBe(true);
      const fsmonitor = ran.find((m) => m.endsWith('core.fsmonitor'))!;
      expect(readFileSync(join(markerDir, fsmonitor), 'utf8')).toContain(SECRET);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a sealed git process gets no secret from the server’s environment and no config from anywhere', () => {
    process.env.POTATO_TEST_SECRET = SECRET;
    process.env.ANTHROPIC_API_KEY ??= SECRET;
    const env = sealedGitEnv({ gitDir: '/srv/checkpoints/s', workTree: '/srv/workspaces/s' });
    expect(JSON.stringify(env)).not.toContain(SECRET);
    expect(Object.keys(env).filter((k) => !k.startsWith('GIT_'))).toEqual([
      'PATH',
      'LC_ALL',
      'HOME',
      'XDG_CONFIG_HOME',
    ]);
    expect(env).toMatchObject({
      GIT_DIR: '/srv/checkpoints/s',
      GIT_WORK_TREE: '/srv/workspaces/s',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
    });
    const pairs = Object.fromEntries(
      Array.from({ length: Number(env.GIT_CONFIG_COUNT) }, (_, i) => [
        env[`GIT_CONFIG_KEY_${i}`],
        env[`GIT_CONFIG_VALUE_${i}`],
      ]),
    );
    expect(pairs).toMatchObject({ 'core.fsmonitor': 'false', 'core.hooksPath': '/dev/null', 'diff.external': '' });
    if (process.env.ANTHROPIC_API_KEY === SECRET) delete process.env.ANTHROPIC_API_KEY;
  });
});

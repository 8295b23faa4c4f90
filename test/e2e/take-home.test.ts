/**
 * @module test/e2e/take-home.test
 * Taking a session's result home (issue 15): the session page's "Download patch" in a real
 * Chromium gives a patch that `git apply --check` accepts on the user's repository, and
 * `potato apply` makes a new branch there from a dirty checkout without touching its branch,
 * index, working tree or other branches; it refuses a repository without the session's base.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Io, run } from '../../src/cli/main.js';
import { buildUi, launchBrowser, login, type RunningServer, screenshot, startDemoServer } from './harness.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'User',
      GIT_AUTHOR_EMAIL: 'user@example.com',
      GIT_COMMITTER_NAME: 'User',
      GIT_COMMITTER_EMAIL: 'user@example.com',
    },
  });

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t) };
  const code = await run(['node', 'potato', ...args], io);
  return { code, out, err };
}

/** Everything of a repository a user would notice changing: refs, HEAD, index, working tree. */
function repoState(repo: string) {
  return {
    head: git(repo, 'symbolic-ref', 'HEAD'),
    headCommit: git(repo, 'rev-parse', 'HEAD'),
    refs: git(repo, 'for-each-ref', '--format=%(refname) %(objectname)'),
    index: createHash('sha256')
      .update(readFileSync(join(repo, '.git', 'index')))
      .digest('hex'),
    staged: git(repo, 'diff', '--cached'),
    unstaged: git(repo, 'diff'),
    status: git(repo, 'status', '--porcelain=v1', '--untracked-files=all'),
    parser: readFileSync(join(repo, 'src', 'parser.py'), 'utf8'),
  };
}

describe('taking the result home', () => {
  let ui: string;
  let server: RunningServer;
  let browser: BrowserContext;
  let repo: string;

  beforeAll(async () => {
    ui = buildUi();
    server = await startDemoServer(ui, {
      overrides: { live_coding_agent: { scripted: { script: './agent-script.yaml', turn_delay_ms: 100 } } },
    });
    // The user's repository: the demo repo committed on main; sessions copy it, history and all.
    repo = join(server.dir, 'repo');
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'The project');
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('downloads a branch patch that git apply --check accepts, and potato apply leaves a dirty checkout alone', async () => {
    const page = await browser.newPage();
    await login(page, server.url);
    await page.getByTestId('task-input').fill('Fix the failing test in tests/test_parser.py');
    await page.getByTestId('start-agent').click();
    await page.getByTestId('session-page').waitFor();
    const id = decodeURIComponent(/#\/sessions\/([^/?]+)/.exec(page.url())![1]!);
    await page.locator('[data-testid="session-page"][data-status="finished"]').waitFor({ timeout: 90_000 });

    const session = (await server.store.getSession(id))!;
    expect(await page.getByTestId('workspace-path').textContent()).toBe(session.workspace);
    const logCommand = (await page.getByTestId('git-log-command').textContent()) ?? '';
    expect(logCommand).toContain(`git -C ${session.workspace} log --oneline`);
    // The command shown lists the session's checkpoints.
    const logArgs = logCommand.split(' ').slice(1);
    expect(execFileSync('git', logArgs, { encoding: 'utf8' })).toContain('[potato-checkpoint] Step 0: Initial state');
    await screenshot(page, '15-result-panel');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-patch').click()]);
    expect(download.suggestedFilename()).toBe(`${id}-branch-A.patch`);
    const patchFile = join(mkdtempSync(join(tmpdir(), 'potato-patch-')), 'result.patch');
    await download.saveAs(patchFile);
    const patch = readFileSync(patchFile, 'utf8');
    expect(patch).toContain('diff --git a/src/parser.py b/src/parser.py');
    git(repo, 'apply', '--check', patchFile);

    // A dirty checkout: a staged change, an unstaged change and an untracked file.
    writeFileSync(join(repo, 'README.md'), 'staged edit\n');
    git(repo, 'add', 'README.md');
    writeFileSync(join(repo, 'src', 'parser.py'), `${readFileSync(join(repo, 'src', 'parser.py'), 'utf8')}# mine\n`);
    writeFileSync(join(repo, 'notes.txt'), 'untracked\n');
    const before = repoState(repo);

    const applied = await cli(['apply', id, '--repo', repo, '--project', server.config.output.path]);
    expect(applied.err).toBe('');
    expect(applied.code).toBe(0);
    const name = `potato/${id}-branch-A`;
    expect(applied.out).toContain(`created branch ${name}`);

    const after = repoState(repo);
    expect({ ...after, refs: undefined }).toEqual({ ...before, refs: undefined });
    // The only new ref is the new branch; main and every other ref are where they were.
    expect(after.refs.split('\n').filter((l) => !l.startsWith(`refs/heads/${name} `))).toEqual(before.refs.split('\n'));
    expect(git(repo, 'rev-parse', `${name}^`).trim()).toBe(before.headCommit.trim());
    expect(git(repo, 'rev-list', '--count', `main..${name}`).trim()).toBe('1');
    // The new branch holds the agent's result: the workspace's final parser.
    expect(git(repo, 'show', `${name}:src/parser.py`)).toBe(
      readFileSync(join(session.workspace, 'src', 'parser.py'), 'utf8'),
    );

    // Applying again under the same name is refused; so is a repository without the base.
    const again = await cli(['apply', id, '--repo', repo, '--project', server.config.output.path]);
    expect(again.code).toBe(2);
    expect(again.err).toContain('already exists');
    const other = mkdtempSync(join(tmpdir(), 'potato-other-'));
    git(other, 'init', '-q');
    const refused = await cli(['apply', id, '--repo', other, '--project', server.config.output.path]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/the commit session .* started from \([0-9a-f]{12}\) is not in/);
    expect(git(other, 'for-each-ref')).toBe('');
  });
});

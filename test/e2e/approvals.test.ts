/**
 * @module test/e2e/approvals.test
 * permission_mode ask in the browser: a claude_agent_sdk session (the SDK's bundled CLI and its
 * real Read, Edit and Bash tools, against the scripted Messages API on 127.0.0.1) asks for each
 * tool call; the annotator approves the Read, edits the Edit's new_string and approves it,
 * and denies `rm README.md` with a message. Checked where a user would look: the panel, the
 * workspace's files, the trace's approval lines and what the agent was told. Screenshots go
 * to test-artifacts/screenshots/approvals-*.png.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelServer, startModelServer } from '../model-server/server.js';
import { buildUi, launchBrowser, login, type RunningServer, screenshot, startDemoServer } from './harness.js';

const KEY_ENV = 'POTATO_E2E_SDK_KEY';
const OLD_LINE = '        key, value = line.split("=", 1)';
const PROPOSED = '        key, value = line.split(":", 1)';
const EDITED = '        key, value = line.replace(":", "=", 1).split("=", 1)';

/** Every approval line the trace renders, scrolling through it (rows off screen are not in the DOM). */
async function approvalLines(page: Page): Promise<string[]> {
  return page.getByTestId('trace').evaluate(async (el) => {
    const seen = new Set<string>();
    el.scrollTop = 0;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      for (const n of Array.from(el.querySelectorAll('[data-testid="approval-text"]')))
        seen.add((n as HTMLElement).innerText);
      if (el.scrollTop + el.clientHeight >= el.scrollHeight - 2) break;
      el.scrollTop += el.clientHeight * 0.5;
    }
    return [...seen];
  });
}

const card = (page: Page, tool: string) => page.locator(`[data-testid="approval"][data-tool="${tool}"]`);

describe('approving tool calls in the browser (claude_agent_sdk, permission_mode ask)', () => {
  let ui: string;
  let model: ModelServer;
  let server: RunningServer;
  let browser: BrowserContext;
  const savedHome = process.env.HOME;

  beforeAll(async () => {
    ui = buildUi();
    browser = await launchBrowser();
    model = await startModelServer();
    // The backend reads its key from the environment (a dummy: the model server checks none) and
    // gives the CLI this process's HOME, where it keeps its transcripts: a temp one.
    process.env[KEY_ENV] = 'sk-ant-e2e-dummy';
    process.env.HOME = mkdtempSync(join(tmpdir(), 'potato-sdk-home-'));
    server = await startDemoServer(ui, {
      overrides: {
        live_coding_agent: {
          backend: 'claude_agent_sdk',
          claude_agent_sdk: { api_key_env: KEY_ENV, base_url: model.anthropicUrl, permission_mode: 'ask' },
        },
      },
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await model?.close();
    process.env.HOME = savedHome;
    delete process.env[KEY_ENV];
  });

  it('approves a Read, edits and approves an Edit, denies an rm with a message', { timeout: 240_000 }, async () => {
    const page = await browser.newPage();
    await login(page, server.url);
    await page.getByTestId('task-input').fill('Accept `key: value` lines in parse_config');
    await page.getByTestId('start-agent').click();
    await page.getByTestId('session-page').waitFor();
    const id = decodeURIComponent(page.url().split('#/sessions/')[1]!);
    const ws = (await server.store.getSession(id))!.workspace;
    const parser = join(ws, 'src/parser.py');
    // The CLI boots far slower than this: the turns are queued before its first request, with
    // the absolute paths of the session's own workspace.
    model.enqueue(
      'anthropic',
      {
        text: 'Reading the parser first.',
        tool_calls: [{ id: 'toolu_read', name: 'Read', input: { file_path: parser } }],
      },
      {
        tool_calls: [
          {
            id: 'toolu_edit',
            name: 'Edit',
            input: { file_path: parser, old_string: OLD_LINE, new_string: PROPOSED },
          },
        ],
      },
      {
        tool_calls: [
          { id: 'toolu_rm', name: 'Bash', input: { command: 'git rm README.md', description: 'Remove the README' } },
        ],
      },
      { text: 'Understood: README.md stays.' },
    );

    // 1. The Read waits: the panel names the tool and the file relative to the workspace.
    await card(page, 'Read').waitFor({ timeout: 90_000 });
    expect(await card(page, 'Read').getByTestId('approval-target').innerText()).toBe('src/parser.py');
    expect(await page.getByTestId('status-text').innerText()).toBe('Waiting for approval...');
    await screenshot(page, 'approvals-01-read');
    await card(page, 'Read').getByTestId('approval-approve').click();

    // 2. The Edit waits, shown as a diff of old_string and new_string.
    await card(page, 'Edit').waitFor({ timeout: 60_000 });
    expect(await card(page, 'Read').count()).toBe(0);
    const edit = card(page, 'Edit');
    expect(await edit.locator('[data-testid="diff-line-del"]').innerText()).toContain('line.split("=", 1)');
    expect(await edit.locator('[data-testid="diff-line-add"]').innerText()).toContain('line.split(":", 1)');
    // A reload finds the call still waiting (the panel loads pending calls on open).
    await page.reload();
    await card(page, 'Edit').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('status-text').innerText()).toBe('Waiting for approval...');
    await screenshot(page, 'approvals-02-edit');

    // Edit & approve: bad JSON is refused in the page with a clear message, nothing is sent.
    await card(page, 'Edit').getByTestId('approval-edit').click();
    const editor = card(page, 'Edit').getByTestId('approval-edit-input');
    const proposed = JSON.parse(await editor.inputValue()) as Record<string, unknown>;
    expect(proposed).toMatchObject({ file_path: parser, old_string: OLD_LINE, new_string: PROPOSED });
    await editor.fill('{"file_path": ');
    await card(page, 'Edit').getByTestId('approval-edit-submit').click();
    expect(await card(page, 'Edit').getByTestId('approval-error').innerText()).toMatch(
      /^The input is not valid JSON \(.+\)\. Fix it, or cancel the edit\.$/,
    );
    await screenshot(page, 'approvals-03-bad-json');
    expect(readFileSync(parser, 'utf8')).toContain(OLD_LINE);
    await editor.fill(JSON.stringify({ ...proposed, new_string: EDITED }, null, 2));
    await card(page, 'Edit').getByTestId('approval-edit-submit').click();

    // 3. The Bash `git rm` waits (allowed by the command policy, so it is the annotator's call); by now the edited change is in the workspace, not the proposed one.
    await card(page, 'Bash').waitFor({ timeout: 60_000 });
    const source = readFileSync(parser, 'utf8');
    expect(source).toContain(EDITED);
    expect(source).not.toContain(PROPOSED);
    expect(await card(page, 'Bash').getByTestId('approval-command').innerText()).toBe('git rm README.md');
    await card(page, 'Bash').getByTestId('approval-deny').click();
    await card(page, 'Bash').getByTestId('approval-deny-message').fill('Never delete the README');
    await screenshot(page, 'approvals-04-deny');
    await card(page, 'Bash').getByTestId('approval-deny-submit').click();

    await page.locator('[data-testid="session-page"][data-status="finished"]').waitFor({ timeout: 90_000 });
    expect(await page.getByTestId('approval-panel').count()).toBe(0);
    expect(existsSync(join(ws, 'README.md'))).toBe(true);
    // The agent was told why: the denial is the Bash call's result in its next request.
    const last = JSON.stringify(model.modelRequests('anthropic').at(-1)!.body);
    expect(last).toContain('Never delete the README');

    // The trace says what the annotator decided, in words, between the steps.
    await expect
      .poll(() => approvalLines(page), { timeout: 15_000 })
      .toEqual([
        'Approved Read src/parser.py',
        'Approved Edit src/parser.py (input edited)',
        "Denied Bash: git rm README.md — 'Never delete the README'",
      ]);
    await page.getByTestId('trace').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    // The refused command says who refused it: the annotator, not the command policy.
    expect(await page.locator('[data-step-type="bash_command"]').getByTestId('terminal-exit').innerText()).toBe(
      'denied by the annotator: Never delete the README',
    );
    await screenshot(page, 'approvals-05-trace');
  });
});

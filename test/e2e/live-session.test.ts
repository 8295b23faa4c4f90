/**
 * @module test/e2e/live-session.test
 * An annotator's whole day in one session, in a real Chromium against the real server and
 * engine: log in, start the scripted agent, watch every kind of block arrive, pause, instruct,
 * resume, roll back with a reason into a new branch, compare the branches, label steps,
 * answer the schemes, reload and find it all still there. Screenshots of each state go to
 * test-artifacts/screenshots/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { HeldClock } from '../clock.js';
import {
  buildUi,
  DEMO,
  launchBrowser,
  login,
  type RunningServer,
  screenshot,
  startDemoServer,
  watchCsp,
} from './harness.js';

/** The demo script with extra turns in front, so every block type shows up in one run. */
function script(): object {
  const demo = parse(readFileSync(join(DEMO, 'agent-script.yaml'), 'utf8')) as { turns: object[] };
  return {
    ...demo,
    turns: [
      { thinking: 'First, a look at the layout of the repository.', tool_calls: [{ directory_list: { path: '.' } }] },
      { tool_calls: [{ file_search: { pattern: 'def parse', path: 'src' } }] },
      { tool_calls: [{ file_read: { path: 'src/missing.py' } }] },
      { tool_calls: [{ bash_command: { command: 'curl http://example.com' } }] },
      {
        tool_calls: [
          { file_edit: { path: 'README.md', old_text: '# settings parser', new_text: '# Settings parser' } },
        ],
      },
      ...demo.turns,
    ],
  };
}

/** Scroll the trace from top to bottom and collect the test ids of everything rendered on the way. */
async function scanTrace(page: Page): Promise<{ ids: Set<string>; texts: string }> {
  const found = await page.getByTestId('trace').evaluate(async (el) => {
    const ids = new Set<string>();
    let texts = '';
    el.scrollTop = 0;
    for (let i = 0; i < 400; i++) {
      await new Promise((r) => setTimeout(r, 50));
      for (const n of Array.from(el.querySelectorAll('[data-testid]'))) ids.add(n.getAttribute('data-testid') ?? '');
      texts += (el as HTMLElement).innerText;
      if (el.scrollTop + el.clientHeight >= el.scrollHeight - 2) break;
      el.scrollTop += el.clientHeight * 0.4;
    }
    return { ids: [...ids], texts };
  });
  return { ids: new Set(found.ids), texts: found.texts };
}

const stepCount = async (page: Page) => Number(await page.getByTestId('step-counter').innerText());

describe('live session in the browser', () => {
  let ui: string;
  let server: RunningServer;
  let browser: BrowserContext;
  // The scripted agent's turns wait on this clock: real time, except while the test holds it.
  const clock = new HeldClock();

  beforeAll(async () => {
    ui = buildUi();
    server = await startDemoServer(ui, {
      clock,
      script: script(),
      overrides: { live_coding_agent: { scripted: { script: './agent-script.yaml', turn_delay_ms: 900 } } },
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('runs, pauses, instructs, rolls back, branches, compares, labels and keeps everything', async () => {
    const page = await browser.newPage();
    const csp = await watchCsp(page);

    // A wrong password is refused with a message; the right one logs in.
    await page.goto(server.url);
    await page.getByTestId('login-username').fill('demo');
    await page.getByTestId('login-password').fill('not-the-password');
    await page.getByTestId('login-submit').click();
    await expect.poll(() => page.getByTestId('login-error').innerText()).not.toBe('');
    await screenshot(page, '01-login-error');
    await login(page, server.url);

    await page
      .getByTestId('task-input')
      .fill('Fix the failing test in tests/test_parser.py caused by the new config format');
    await page.getByTestId('start-agent').click();
    await page.getByTestId('session-page').waitFor();
    expect(page.url()).toMatch(/#\/sessions\//);

    // The first blocks arrive live.
    await page.getByTestId('dir-list').waitFor({ timeout: 30_000 });
    await page.getByTestId('search-results').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('status-text').innerText()).toMatch(/\.\.\.$/);
    await screenshot(page, '02-running');

    // Space pauses (config: pause_keyboard_shortcut); no step arrives while paused.
    await page.getByTestId('tree-file').first().waitFor();
    await page.keyboard.press('Space');
    await page.locator('[data-testid="session-page"][data-status="paused"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('status-text').innerText()).toBe('Paused');
    const pausedAt = await stepCount(page);
    // A minute passes on the engine's clock: the paused agent asks for no turn, and no step shows.
    clock.hold();
    await clock.advance(60_000);
    expect(clock.waiting).toBe(0);
    expect(await stepCount(page)).toBe(pausedAt);
    clock.release();
    await screenshot(page, '03-paused');

    // "i" opens the instruction input; Enter sends; the instruction shows in the trace.
    await page.keyboard.press('i');
    await page.getByTestId('instruction-input').waitFor();
    // Typing in the field never triggers a shortcut: the space stays in the text.
    await page.keyboard.type('Keep the change as small as you can');
    expect(await page.getByTestId('instruction-input').inputValue()).toBe('Keep the change as small as you can');
    expect(await page.locator('[data-testid="session-page"]').getAttribute('data-status')).toBe('paused');
    await page.keyboard.press('Enter');
    await page.getByTestId('intervention-instruction').waitFor();
    expect(await page.getByTestId('intervention-instruction').innerText()).toContain('as small as you can');
    await screenshot(page, '04-instruction');

    await page.getByTestId('control-resume').click();
    // The agent goes on to special-case the test input: pause there and roll back.
    await page.getByText('line.replace(":", "=", 1)').first().waitFor({ timeout: 60_000 });
    await page.keyboard.press('Space');
    await page.locator('[data-testid="session-page"][data-status="paused"]').waitFor({ timeout: 30_000 });
    await screenshot(page, '05-bad-edit-paused');

    // Roll back to the read of src/parser.py, with a reason: the trace rewinds, branch-B starts.
    await page.getByTestId('control-rollback').click();
    const target = await page.getByTestId('rollback-target').evaluate((sel: HTMLSelectElement) => {
      const opt = Array.from(sel.options).find((o) => o.text.includes('Read src/parser.py'))!;
      sel.value = opt.value;
      sel.dispatchEvent(new Event('change', { bubbles: true }));
      return opt.text;
    });
    const targetIdx = Number(/Step (\d+)/.exec(target)![1]);
    await page.getByTestId('rollback-submit').click();
    expect(await page.getByTestId('rollback-error').innerText()).toContain('reason is required');
    await page.getByTestId('rollback-reason').fill('It special-cased the test input instead of fixing the parser');
    await page.getByTestId('rollback-instruction').fill('Use a regex that accepts either separator');
    await screenshot(page, '06-rollback-dialog');
    await page.getByTestId('rollback-submit').click();
    await page.getByTestId('rollback-dialog').waitFor({ state: 'detached' });
    await expect.poll(() => page.getByTestId('branch-node').count()).toBe(2);
    expect(await page.getByTestId('branch-reason').innerText()).toContain('special-cased');
    await page.locator('[data-testid="session-page"][data-status="finished"]').waitFor({ timeout: 90_000 });
    expect(await page.getByTestId('status-text').innerText()).toBe('Finished');
    expect(await page.getByTestId('token-total').innerText()).toMatch(/in · .* out/);

    // Every block type came through: scan the (virtualised) trace from top to bottom.
    const { ids, texts } = await scanTrace(page);
    for (const id of [
      'thinking-block',
      'dir-list',
      'search-results',
      'code-block',
      'diff-block',
      'diff-line-add',
      'diff-line-del',
      'terminal-block',
      'terminal-exit',
      'intervention-instruction',
      'intervention-branch',
    ])
      expect([...ids], `trace shows ${id}`).toContain(id);
    expect(texts).toContain('refused by policy');
    expect(texts).toMatch(/exit 0/);
    expect(texts).toContain('re.split');
    // The trace rewound: the special-casing edit is not on the new branch.
    expect(texts).not.toContain('line.replace(":", "=", 1)');
    // The read of a missing file is marked as an error.
    expect(ids.has('error-text') || texts.includes('tool error')).toBe(true);
    // Highlighted source with line numbers.
    await page.getByTestId('trace').evaluate((el) => {
      el.scrollTop = 0;
    });
    const code = page.getByTestId('code-block').first();
    await code.waitFor();
    expect(await code.locator('.hljs-keyword, .hljs-string, .hljs-title').count()).toBeGreaterThan(0);
    expect(await code.locator('.gutter').innerText()).toMatch(/^1\n2\n3/);
    expect(await stepCount(page)).toBeGreaterThan(targetIdx);
    // The file tree marks what the agent read and changed; a click shows the current content.
    expect(await page.locator('[data-testid="tree-file"][data-path="src/parser.py"]').getAttribute('data-mark')).toBe(
      'modified',
    );
    expect(
      await page.locator('[data-testid="tree-file"][data-path="tests/test_parser.py"]').getAttribute('data-mark'),
    ).toBe('read');
    await page.locator('[data-testid="tree-file"][data-path="src/parser.py"]').click();
    await expect.poll(() => page.getByTestId('file-viewer').innerText()).toContain('re.split');
    await screenshot(page, '07-file-viewer');
    await page.getByTestId('file-viewer-close').click();
    await screenshot(page, '08-after-rollback-finished');

    // The compare view shows both branches from their branch point.
    await page.getByTestId('view-compare').click();
    await page.getByTestId('compare-view').waitFor();
    expect(await page.getByTestId('compare-fork').innerText()).toContain(`Step ${targetIdx}`);
    expect(await page.getByTestId('compare-col-0').innerText()).toContain('line.replace');
    expect(await page.getByTestId('compare-col-1').innerText()).toContain('re.split');
    await screenshot(page, '09-compare');
    await page.getByTestId('view-trace').click();

    // PRM labels and the annotation schemes, saved as they are clicked and typed.
    await page.getByTestId('trace').evaluate((el) => {
      el.scrollTop = 0;
    });
    const labelSaved = () => page.waitForResponse((r) => r.url().includes('/labels/') && r.status() === 200);
    let saved = labelSaved();
    await page.getByTestId('step-1').getByTestId('label-correct').click();
    await saved;
    saved = labelSaved();
    await page.getByTestId('step-2').getByTestId('label-unsure').click();
    await saved;
    saved = labelSaved();
    await page.getByTestId('step-2').getByTestId('label-first-error').click();
    await saved;
    await page.getByTestId('scheme-outcome-resolved').check();
    await page.getByTestId('scheme-notes').fill('Fixed on the second branch after a rollback.');
    await expect.poll(() => page.getByTestId('annotation-save-state').innerText()).toBe('All changes saved');
    await screenshot(page, '10-labelled');

    // Reload: everything is still there.
    await page.reload();
    await page.getByTestId('session-page').waitFor();
    await page.getByTestId('trace').evaluate((el) => {
      el.scrollTop = 0;
    });
    await page.getByTestId('step-1').waitFor();
    expect(await page.getByTestId('step-1').getByTestId('label-correct').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('step-2').getByTestId('label-incorrect').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('step-2').getByTestId('label-first-error').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('scheme-outcome-resolved').isChecked()).toBe(true);
    expect(await page.getByTestId('scheme-notes').inputValue()).toBe('Fixed on the second branch after a rollback.');
    expect(await page.getByTestId('branch-node').count()).toBe(2);
    await screenshot(page, '11-reloaded');

    // The old branch is still there, with the instruction given on it.
    await page.locator('[data-testid="branch-node"][data-branch="branch-A"]').click();
    await page.getByTestId('viewing-branch').waitFor();
    const old = await scanTrace(page);
    expect(old.ids).toContain('intervention-instruction');
    expect(old.texts).toContain('if ":" in line and "=" not in line');

    // The session list reopens it, with its two branches.
    await page.goto(`${server.url}/#/`);
    const row = page.getByTestId('session-row').first();
    await row.waitFor();
    await expect.poll(() => row.getByTestId('session-branches').innerText()).toBe('2');
    await screenshot(page, '12-session-list');
    // Every view above ran under the server's CSP without a refusal.
    expect(await csp.violations()).toEqual([]);
    expect(csp.console).toEqual([]);
    await page.close();
  });
});

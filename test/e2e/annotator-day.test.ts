/**
 * @module test/e2e/annotator-day.test
 * Issue 15 in a real Chromium against the real server and engine: every marker in words,
 * forking from a step of a branch that is no longer live, the preference marks in the compare
 * view, the branch limit said on hover, the notice when max_checkpoints is reached, and an
 * instruction's marker placed where the agent received it.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeldClock } from '../clock.js';
import { buildUi, launchBrowser, login, type RunningServer, screenshot, startDemoServer } from './harness.js';

const TASK = 'Fix the failing test in tests/test_parser.py caused by the new config format';

async function startSession(page: Page, url: string): Promise<string> {
  await login(page, url);
  await page.getByTestId('task-input').fill(TASK);
  await page.getByTestId('start-agent').click();
  await page.getByTestId('session-page').waitFor();
  return decodeURIComponent(/#\/sessions\/([^/?]+)/.exec(page.url())![1]!);
}

const waitStatus = (page: Page, status: string) =>
  page.locator(`[data-testid="session-page"][data-status="${status}"]`).waitFor({ timeout: 90_000 });

describe('the annotator’s day: words and forks', () => {
  let ui: string;
  let server: RunningServer;
  let browser: BrowserContext;

  beforeAll(async () => {
    ui = buildUi();
    server = await startDemoServer(ui, {
      overrides: {
        live_coding_agent: {
          scripted: { script: './agent-script.yaml', turn_delay_ms: 100 },
          branching: { max_branches_per_session: 3 },
        },
      },
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('forks from a step of a branch that is no longer live, and says every move in words', async () => {
    const page = await browser.newPage();
    const id = await startSession(page, server.url);
    await waitStatus(page, 'finished');

    // Fork from the read of src/parser.py on branch-A, the live branch (the outline brings it into view).
    await page.getByTestId('outline-item').filter({ hasText: 'Read src/parser.py' }).first().click();
    const readParser = page.locator('[data-step-type="file_read"]').filter({ hasText: 'src/parser.py' });
    await readParser.getByTestId('fork-here').click();
    const readId = await readParser.getAttribute('data-step-id');
    expect(await page.getByTestId('rollback-target').inputValue()).toBe(readId);
    await page.getByTestId('rollback-reason').fill('It special-cased the test input instead of fixing the parser');
    await page.getByTestId('rollback-instruction').fill('Use a regex that accepts either separator');
    await page.getByTestId('rollback-submit').click();
    await expect.poll(() => page.getByTestId('branch-node').count()).toBe(2);
    await waitStatus(page, 'finished');

    // branch-B is live now. View branch-A and fork from its bad edit, which is not on branch-B.
    await page.locator('[data-testid="branch-node"][data-branch="branch-A"]').click();
    await page.getByTestId('viewing-branch').waitFor();
    await page.getByTestId('outline-item').filter({ hasText: 'Edit src/parser.py' }).first().click();
    const badEdit = page.locator('[data-step-type="file_edit"]').filter({ hasText: 'src/parser.py' }).first();
    const badEditId = await badEdit.getAttribute('data-step-id');
    await badEdit.getByTestId('fork-here').click();
    expect(await page.getByTestId('rollback-branch').textContent()).toMatch(
      /Checkpoints of branch-A: the live branch is kept/,
    );
    // The dropdown lists branch-A's steps, with the bad edit chosen.
    expect(await page.getByTestId('rollback-target').inputValue()).toBe(badEditId);
    await page.getByTestId('rollback-reason').fill('Keep the special case but test it properly');
    await screenshot(page, '15-fork-from-other-branch');
    await page.getByTestId('rollback-submit').click();
    await expect.poll(() => page.getByTestId('branch-node').count()).toBe(3);

    const branches = await server.store.listBranches(id);
    const a = branches.find((b) => b.name === 'branch-A')!;
    const c = branches.find((b) => b.name === 'branch-C')!;
    expect(c.parent_branch_id).toBe(a.id);
    expect(c.fork_step_id).toBe(badEditId);

    // Every marker is a sentence; no JSON anywhere; the step numbers are links.
    await page.getByTestId('intervention-branch').first().waitFor();
    const markers = await page.locator('[data-testid^="intervention-"]').allTextContents();
    expect(markers.length).toBeGreaterThan(0);
    for (const m of markers) expect(m).not.toContain('{"');
    expect(markers.join('\n')).toMatch(/Branched at step \d+ into branch-C, leaving step \d+ on the old branch\./);
    expect(markers.join('\n')).toContain('Reason: “Keep the special case but test it properly”');
    const link = page.getByTestId('marker-sentence').getByTestId('step-link').first();
    const linked = Number(await link.getAttribute('data-step'));
    await link.click();
    await page.getByTestId(`step-${linked}`).waitFor();

    // Three branches is the limit: Branch is disabled and says why on hover.
    const branch = page.getByTestId('control-branch');
    expect(await branch.isDisabled()).toBe(true);
    expect(await branch.getAttribute('title')).toContain('branching.max_branches_per_session: 3');
    // The fork entries of the trace and the tree say the same, disabled.
    const forks = await page.locator('[data-testid="fork-here"], [data-testid="branch-fork"]').all();
    expect(forks.length).toBeGreaterThan(0);
    for (const fork of forks) {
      expect(await fork.isDisabled()).toBe(true);
      expect(await fork.getAttribute('title')).toContain('branching.max_branches_per_session: 3');
    }
    await screenshot(page, '15-branch-limit');

    // The compare view marks the live branch chosen over the branch it was forked from.
    await page.getByTestId('view-compare').click();
    await page.getByTestId('compare-view').waitFor();
    expect(await page.getByTestId('compare-select-0').inputValue()).toBe(a.id);
    expect(await page.getByTestId('compare-role-0').textContent()).toBe('rejected');
    expect(await page.getByTestId('compare-role-1').textContent()).toBe('chosen');
    expect(await page.getByTestId('compare-fork').textContent()).toContain('branch-C chosen over branch-A');
    await screenshot(page, '15-compare-chosen');
  });
});

describe('the annotator’s day: limits in words', () => {
  let ui: string;
  let server: RunningServer;
  let browser: BrowserContext;

  beforeAll(async () => {
    ui = buildUi();
    server = await startDemoServer(ui, {
      overrides: {
        live_coding_agent: {
          scripted: { script: './agent-script.yaml', turn_delay_ms: 100 },
          checkpoints: { max_checkpoints: 1 },
          branching: { enabled: false },
          controls: { branch_enabled: false },
        },
      },
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows the max_checkpoints notice, offers only checkpointed steps, hides Compare without branching', async () => {
    const page = await browser.newPage();
    await startSession(page, server.url);
    await waitStatus(page, 'finished');
    expect(await page.getByTestId('view-compare').count()).toBe(0);
    expect(await page.getByTestId('checkpoint-limit').textContent()).toMatch(
      /Checkpoints stopped at step \d+: checkpoints\.max_checkpoints was reached/,
    );
    expect(await page.getByTestId('step-counter').textContent()).not.toBe('–');

    await page.getByTestId('control-rollback').click();
    expect(await page.getByTestId('rollback-no-checkpoint').textContent()).toMatch(
      /no checkpoint and cannot be chosen/,
    );
    const options = await page
      .getByTestId('rollback-target')
      .evaluate((sel: HTMLSelectElement) =>
        Array.from(sel.options).map((o) => ({ text: o.text, disabled: o.disabled })),
      );
    const without = options.filter((o) => o.text.includes('(no checkpoint)'));
    expect(without.length).toBeGreaterThan(0);
    for (const o of without) expect(o.disabled).toBe(true);
    expect(options.some((o) => !o.disabled && o.text.startsWith('Step'))).toBe(true);
    await screenshot(page, '15-checkpoint-limit');
  });
});

describe('the annotator’s day: a command cut short', () => {
  let ui: string;
  let server: RunningServer;
  let browser: BrowserContext;

  beforeAll(async () => {
    ui = buildUi();
    server = await startDemoServer(ui, {
      script: {
        description: 'wait',
        turns: [{ tool_calls: [{ bash_command: { command: 'echo started; sleep 30' } }] }, { text: 'Done.' }],
      },
      overrides: {
        live_coding_agent: {
          scripted: { script: './agent-script.yaml', turn_delay_ms: 50 },
          sandbox: { allowed_commands: ['echo', 'sleep'] },
        },
      },
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows a stopped command with its partial output and "stopped by the annotator"', async () => {
    const page = await browser.newPage();
    page.on('dialog', (d) => void d.accept());
    await startSession(page, server.url);
    await page.getByText('started').first().waitFor({ timeout: 30_000 });
    await page.getByTestId('control-stop').click();
    await waitStatus(page, 'stopped');
    const block = page.getByTestId('terminal-block').first();
    await block.getByTestId('terminal-exit').getByText('stopped by the annotator').waitFor();
    expect(await block.getByTestId('terminal-output').textContent()).toContain('started');
    await screenshot(page, '15-command-stopped');
  });
});

describe('the annotator’s day: a marker where the control took effect', () => {
  let ui: string;
  let server: RunningServer;
  let browser: BrowserContext;
  // Each scripted turn waits on this clock: the test lets one turn through at a time.
  const clock = HeldClock.held();

  beforeAll(async () => {
    ui = buildUi();
    server = await startDemoServer(ui, {
      clock,
      overrides: { live_coding_agent: { scripted: { script: './agent-script.yaml', turn_delay_ms: 900 } } },
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    clock.release();
    await browser?.close();
    await server?.close();
  });

  it('moves an instruction sent mid-turn to after the step the agent received it after', async () => {
    const page = await browser.newPage();
    const id = await startSession(page, server.url);
    await expect.poll(() => clock.waiting).toBe(1);
    await clock.advance(900);
    // Steps 1 and 2 are shown and the second model request is under way, already sent.
    await page.getByTestId('step-2').waitFor();
    await expect.poll(() => clock.waiting).toBe(1);
    await page.keyboard.press('i');
    await page.getByTestId('instruction-input').fill('Read the parser before anything else');
    await page.keyboard.press('Enter');
    const marker = page.getByTestId('intervention-instruction');
    // Shown where it was given, until the agent gets it.
    await expect.poll(() => marker.innerText()).toContain('after step 2');

    // The turn under way makes steps 3 and 4; the next request carries the instruction.
    await clock.advance(900);
    await expect.poll(() => marker.innerText()).toContain('after step 4');
    const iv = (await server.store.listInterventions(id)).find((i) => i.type === 'instruction')!;
    expect(iv.after_step).toBe(4);
    // In the trace it sits right after step 4.
    const order = await page
      .locator('[data-testid="trace"] article[data-step-id], [data-testid="trace"] [data-testid^="intervention-"]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')));
    expect(order.slice(order.indexOf('step-4'), order.indexOf('step-4') + 2)).toEqual([
      'step-4',
      'intervention-instruction',
    ]);
    await screenshot(page, '15-instruction-where-received');
    clock.release();
    await waitStatus(page, 'finished');
    expect(await marker.innerText()).toContain('after step 4');
  });
});

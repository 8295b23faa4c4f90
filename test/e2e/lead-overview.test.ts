/**
 * @module test/e2e/lead-overview.test
 * The lead's overview (issue 15) in a real Chromium: a lead (annotators[].role: lead) sees
 * every annotator's sessions with counts, and downloads dpo.jsonl for the project and for one
 * annotator; the bytes equal `potato export`'s (for one annotator: its lines of that
 * annotator's sessions). An annotator gets 404 on the lead's routes.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExport } from '../../src/cli/export.js';
import { buildUi, launchBrowser, login, type RunningServer, screenshot, startDemoServer } from './harness.js';

/** One session of `annotator` with a branch pair: run to the end, branch from the read of the parser, run again. */
async function sessionWithBranch(server: RunningServer, annotator: string): Promise<string> {
  const first = await server.manager.start({ task: `Fix the parser (${annotator})`, annotator });
  await first.done;
  const read = (await server.store.listSteps(first.id)).find(
    (s) => s.payload.type === 'file_read' && s.payload.path === 'src/parser.py',
  )!;
  const controls = server.manager.get(first.id) ?? (await server.manager.reopen(first.id));
  await controls.rollback({
    toStepId: read.id,
    branch: true,
    reason: 'It special-cased the test input',
    instruction: 'Use a regex that accepts either separator',
    annotator,
  });
  await (server.manager.get(first.id) ?? controls).done;
  return first.id;
}

async function download(page: Page): Promise<string> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-download').click()]);
  const path = join(mkdtempSync(join(tmpdir(), 'potato-lead-')), file.suggestedFilename());
  await file.saveAs(path);
  return readFileSync(path, 'utf8');
}

describe('the lead’s overview', () => {
  let ui: string;
  let server: RunningServer;
  let browser: BrowserContext;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    ui = buildUi();
    server = await startDemoServer(ui, {
      overrides: {
        live_coding_agent: { scripted: { script: './agent-script.yaml', turn_delay_ms: 30 } },
        annotators: [
          { username: 'demo', password: 'potato' },
          { username: 'ana', password: 'potato-ana' },
          { username: 'lea', password: 'potato-lea', role: 'lead' },
        ],
      },
    });
    ids.demo = await sessionWithBranch(server, 'demo');
    ids.ana = await sessionWithBranch(server, 'ana');
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('an annotator gets 404 on the lead’s routes and sees only their own sessions', async () => {
    const login = await fetch(`${server.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.url },
      body: JSON.stringify({ username: 'ana', password: 'potato-ana' }),
    });
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    for (const path of ['/api/lead/sessions', '/api/lead/export?format=dpo']) {
      const res = await fetch(`${server.url}${path}`, { headers: { cookie } });
      expect(res.status).toBe(404);
    }
    const mine = (await (await fetch(`${server.url}/api/sessions`, { headers: { cookie } })).json()) as {
      id: string;
    }[];
    expect(mine.map((s) => s.id)).toEqual([ids.ana]);
  });

  it('a lead sees every annotator’s sessions and downloads dpo.jsonl equal to potato export', async () => {
    const page = await browser.newPage();
    await login(page, server.url, 'lea', 'potato-lea');
    await page.getByTestId('nav-lead').click();
    await page.getByTestId('annotator-counts').waitFor();
    const count = (who: string) =>
      page
        .locator(`[data-testid="annotator-row"][data-annotator="${who}"]`)
        .getByTestId('annotator-sessions')
        .textContent();
    expect(await count('demo')).toBe('1');
    expect(await count('ana')).toBe('1');
    expect(await count('lea')).toBe('0');
    await expect.poll(() => page.getByTestId('session-row').count()).toBe(2);

    const exported = join(mkdtempSync(join(tmpdir(), 'potato-export-')), 'dpo.jsonl');
    await runExport({
      format: 'dpo',
      project: server.config.output.path,
      output: exported,
      config: server.config.config_path,
    });
    const expected = readFileSync(exported, 'utf8');
    expect(expected.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);

    await page.getByTestId('export-format').selectOption('dpo');
    expect(await download(page)).toBe(expected);

    await page.getByTestId('filter-annotator').selectOption('demo');
    await expect.poll(() => page.getByTestId('session-row').count()).toBe(1);
    const demoOnly = await download(page);
    const demoLines = expected
      .split('\n')
      .filter((l) => l && (JSON.parse(l) as { session_id: string }).session_id === ids.demo);
    expect(demoLines.length).toBeGreaterThan(0);
    expect(demoOnly).toBe(`${demoLines.join('\n')}\n`);
    await screenshot(page, '15-lead-overview');
  });

  it('a lead opens an annotator’s session from the overview, reads its steps, and can change nothing', async () => {
    const page = await browser.newPage();
    await login(page, server.url, 'lea', 'potato-lea');
    await page.getByTestId('nav-lead').click();
    await page.locator(`[data-testid="session-row"][data-session-id="${ids.ana}"]`).click();
    await page.getByTestId('session-page').waitFor();
    await page.getByTestId('step-10').waitFor();
    expect(await page.getByTestId('read-only-notice').textContent()).toContain('only ana can');
    // Not one enabled control, label button or input: every change is the owner's.
    const enabled = page.locator(
      '[data-testid="control-bar"] button[data-testid^="control-"]:enabled, [data-testid="step-labels"], .sidebar-right :is(input, textarea, select, button):enabled',
    );
    expect(await enabled.count()).toBe(0);
    const controls = page.locator('[data-testid="control-bar"] button[data-testid^="control-"]');
    expect(await controls.count()).toBeGreaterThan(0);
    for (const title of await controls.evaluateAll((els) => els.map((e) => e.getAttribute('title')))) {
      expect(title).toContain('read-only: only ana can change this session');
    }
    // Fork entries of the branch tree and the trace are there, disabled, saying why.
    const forks = page.locator('[data-testid="branch-fork"], [data-testid="fork-here"]');
    await page.getByTestId('branch-fork').first().waitFor();
    expect(await page.getByTestId('fork-here').count()).toBeGreaterThan(0);
    for (const fork of await forks.all()) {
      expect(await fork.isDisabled()).toBe(true);
      expect(await fork.getAttribute('title')).toBe('Fork is unavailable: read-only: only ana can change this session');
    }
    // Every panel: each control that would change the session is disabled and says why on hover
    // (its own title or, as HTML has it, the nearest ancestor's). What stays usable only reads.
    const controlsNow = () =>
      page.locator('button, input, select, textarea').evaluateAll((els) =>
        els.map((e) => ({
          id: e.getAttribute('data-testid') ?? (e.textContent ?? '').trim().slice(0, 30),
          enabled: e.matches(':enabled'),
          why: e.closest('[title]')?.getAttribute('title') ?? '',
        })),
      );
    const reads =
      /^(logout|view-trace|view-compare|tree-file|branch-node|outline-item|shortcut-help-toggle|step-link|compare-select-\d|▾ .*|▸ .*)$/;
    const checkAll = (list: Awaited<ReturnType<typeof controlsNow>>) => {
      for (const c of list) {
        if (c.enabled) expect(c.id).toMatch(reads);
        else expect(c.why).toContain('only ana can change this session');
      }
    };
    // The compare view too.
    await page.getByTestId('view-compare').click();
    await page.getByTestId('compare-view').waitFor();
    checkAll(await controlsNow());
    await page.getByTestId('view-trace').click();
    await page.getByTestId('branch-fork').first().waitFor();
    const all = await controlsNow();
    checkAll(all);
    // The annotation panel's branch selector and answers are among them.
    expect(await page.getByTestId('annotation-scope').isDisabled()).toBe(true);
    expect(all.filter((c) => !c.enabled).map((c) => c.id)).toEqual(
      expect.arrayContaining(['annotation-scope', 'scheme-outcome-resolved', 'branch-fork', 'fork-here']),
    );
    // A label key says why nothing happened.
    await page.keyboard.press('j');
    await page.keyboard.press('1');
    await page.getByText('Not labelled: read-only: only ana can change this session').waitFor();
    expect(await server.store.listStepLabels(ids.ana!)).toEqual([]);
    await screenshot(page, '15-lead-reads-session');
  });
});

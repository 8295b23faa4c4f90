/**
 * @module test/e2e/label-keyboard.test
 * Labelling at speed (issue 15) in a real Chromium: a 12-step session labelled with the
 * keyboard alone (next step, a label key per step, first error), the progress line counting,
 * the `?` overlay listing the keys, and no key acting while the annotator types.
 */
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepLabelValue } from '../../src/store/types.js';
import { buildUi, launchBrowser, login, type RunningServer, screenshot, startDemoServer } from './harness.js';

/** Eleven listings and a closing message: twelve steps. */
const SCRIPT = {
  description: 'Look around',
  turns: [
    ...Array.from({ length: 11 }, () => ({ tool_calls: [{ directory_list: { path: '.' } }] })),
    { text: 'Done.' },
  ],
};

describe('labelling with the keyboard alone', () => {
  let ui: string;
  let server: RunningServer;
  let browser: BrowserContext;

  beforeAll(async () => {
    ui = buildUi();
    server = await startDemoServer(ui, {
      script: SCRIPT,
      overrides: { live_coding_agent: { scripted: { script: './agent-script.yaml', turn_delay_ms: 50 } } },
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('labels all 12 steps with j and 1/2/3, marks a first error with f, and counts them', async () => {
    const page = await browser.newPage();
    await login(page, server.url);
    await page.getByTestId('task-input').fill('Look around the repository');
    await page.getByTestId('start-agent').click();
    await page.getByTestId('session-page').waitFor();
    const id = decodeURIComponent(/#\/sessions\/([^/?]+)/.exec(page.url())![1]!);
    await page.locator('[data-testid="session-page"][data-status="finished"]').waitFor({ timeout: 60_000 });
    const steps = await server.store.listSteps(id);
    expect(steps).toHaveLength(12);
    expect(await page.getByTestId('label-progress').textContent()).toBe(
      '0 of 12 steps labelled · outcome not rated yet',
    );

    // The overlay lists the keys; Escape closes it.
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('?');
    const help = await page.getByTestId('shortcut-help').textContent();
    for (const text of ['Next step', 'Label the step correct', 'Mark the step as the first error', 'Pause']) {
      expect(help).toContain(text);
    }
    await screenshot(page, '15-shortcut-help');
    await page.keyboard.press('Escape');
    await page.getByTestId('shortcut-help').waitFor({ state: 'detached' });

    const keys: Record<StepLabelValue, string> = { correct: '1', incorrect: '2', unsure: '3' };
    const wanted: StepLabelValue[] = steps.map((_, i) =>
      i % 5 === 3 ? 'incorrect' : i % 7 === 6 ? 'unsure' : 'correct',
    );
    for (const label of wanted) {
      await page.keyboard.press('j');
      await page.keyboard.press(keys[label]);
    }
    // Back up to step 3 (the first incorrect one) and mark it as the first error.
    for (let i = 11; i > 3; i--) await page.keyboard.press('k');
    await page.keyboard.press('f');
    await expect
      .poll(() => page.getByTestId('label-progress').textContent())
      .toBe('12 of 12 steps labelled · outcome not rated yet');
    await expect.poll(async () => (await server.store.listStepLabels(id)).length).toBe(12);
    const saved = new Map((await server.store.listStepLabels(id)).map((l) => [l.step_id, l]));
    const byIdx = [...steps].sort((a, b) => a.step_idx - b.step_idx);
    expect(byIdx.map((s) => saved.get(s.id)?.label)).toEqual(wanted);
    expect(byIdx.filter((s) => saved.get(s.id)?.first_error).map((s) => s.step_idx)).toEqual([byIdx[3]!.step_idx]);

    // Typing in a field never labels: "1" and "j" stay in the notes.
    const notes = page.locator('textarea').last();
    await notes.click();
    await page.keyboard.type('j1');
    expect(await notes.inputValue()).toBe('j1');
    expect((await server.store.listStepLabels(id)).filter((l) => l.label === 'correct')).toHaveLength(
      wanted.filter((w) => w === 'correct').length,
    );
    await screenshot(page, '15-labelled-by-keyboard');

    // The session list shows the labelling progress, and filters on it.
    await page.goto(`${server.url}/#/`);
    const row = page.locator(`[data-testid="session-row"][data-session-id="${id}"]`);
    expect(await row.getByTestId('session-steps').textContent()).toBe('12');
    expect(await row.getByTestId('session-labelled').textContent()).toBe('12 of 12');
    expect(await row.getByTestId('session-rated').textContent()).toBe('—');
    await page.getByTestId('filter-labelled').selectOption('incomplete');
    expect(await page.getByTestId('session-row').count()).toBe(0);
    await page.getByTestId('filter-labelled').selectOption('complete');
    expect(await page.getByTestId('session-row').count()).toBe(1);
    await screenshot(page, '15-session-list-filters');
  });
});

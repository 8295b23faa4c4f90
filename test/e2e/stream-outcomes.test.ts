/**
 * @module test/e2e/stream-outcomes.test
 * What the annotator sees of the provider streams in test/model-server/fixtures, in a real
 * Chromium against the real server, engine and Anthropic client: redacted thinking shown as
 * "redacted", a web-search answer as one message whose citations are links, a retried attempt
 * and a refusal marked as such, and the token figure counting cached input.
 */
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ended, waitForEvent } from '../engine/harness.js';
import { type ModelServer, startModelServer } from '../model-server/server.js';
import { buildUi, launchBrowser, login, type RunningServer, screenshot, startDemoServer } from './harness.js';

const KEY_ENV = 'POTATO_E2E_STREAMS_KEY';

describe('provider stream outcomes in the browser', () => {
  let ui: string;
  let model: ModelServer;
  let server: RunningServer;
  let browser: BrowserContext;

  beforeAll(async () => {
    process.env[KEY_ENV] = 'sk-e2e-streams';
    ui = buildUi();
    model = await startModelServer();
    server = await startDemoServer(ui, {
      overrides: {
        live_coding_agent: {
          backend: 'anthropic',
          anthropic: { base_url: model.anthropicUrl, api_key_env: KEY_ENV, thinking_budget_tokens: 1024 },
        },
      },
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await model?.close();
  });

  it('shows redacted thinking, citations as links, a retried attempt, a refusal and the cached tokens', async () => {
    model.enqueue(
      'anthropic',
      { fixture: 'redacted-thinking' },
      { fixture: 'error-after-output' },
      { fixture: 'web-search-citations' },
    );
    const run = async (task: string) => {
      const s = await server.manager.start({ task, annotator: 'demo' });
      await waitForEvent(server, s.id, ended);
      return s.id;
    };
    const first = await run('Explain the config format');
    model.enqueue('anthropic', { fixture: 'usage-cache' });
    const cached = await run('Run the tests');
    model.enqueue('anthropic', { fixture: 'refusal' });
    const refused = await run('Do something the model declines');

    const page = await browser.newPage();
    await login(page, server.url);
    await page.goto(`${server.url}/#/sessions/${first}`);
    const thinking = page.getByTestId('step-1');
    await thinking.waitFor();
    expect(await thinking.getByTestId('thinking-redacted').textContent()).toContain('redacted by the provider');

    // The failed attempt's "Hello" stays, marked; the answer after it is one message with its sources.
    expect(await page.getByTestId('step-3').getByTestId('badge-retried').count()).toBe(1);
    const answer = page.getByTestId('step-4');
    expect(await answer.locator('.message-text').textContent()).toMatch(/^I'll check the documentation\./);
    const links = answer.getByTestId('citations').locator('a');
    expect(await links.evaluateAll((as) => as.map((a) => [a.textContent, a.getAttribute('href')]))).toEqual([
      ['configparser — Configuration file parser', 'https://docs.python.org/3/library/configparser.html'],
      ['PEP 8', 'https://peps.python.org/pep-0008/'],
    ]);
    await screenshot(page, 'stream-outcomes-citations');

    // Input counts cache reads and writes: 9,632 + 1,250 + 4,096.
    await page.goto(`${server.url}/#/sessions/${cached}`);
    await page.getByTestId('step-1').waitFor();
    await expect.poll(() => page.getByTestId('token-total').textContent()).toBe('15.0k in · 61 out');
    expect(await page.getByTestId('step-1').getByTestId('step-usage').getAttribute('title')).toBe(
      'Input tokens: 9,632 uncached + 4,096 read from cache + 1,250 written to cache; output tokens: 61',
    );

    await page.goto(`${server.url}/#/sessions/${refused}`);
    await page.getByTestId('step-1').waitFor();
    expect(await page.getByTestId('step-1').getByTestId('badge-refusal').count()).toBe(1);
    await page.close();
  });
});

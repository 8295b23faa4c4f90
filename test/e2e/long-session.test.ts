/**
 * @module test/e2e/long-session.test
 * A 2,000-step session with large diffs and long outputs opens and scrolls in a real Chromium.
 * The session is written into the real SQLite store before the real server starts (running
 * 2,000 agent steps would test the engine, not the page). Times are measured in the browser
 * and printed, with a 50-step session as the baseline of the same run; the assertions are
 * about what the annotator sees (first and last steps reachable, big blocks collapsed).
 */
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Step, StepPayload } from '../../src/steps/types.js';
import type { Store } from '../../src/store/types.js';
import { buildUi, launchBrowser, login, type RunningServer, screenshot, startDemoServer } from './harness.js';

function payload(i: number): StepPayload {
  switch (i % 4) {
    case 0:
      return { type: 'thinking', content: `Step ${i}: I should look at module ${i % 37} next. `.repeat(20) };
    case 1: {
      const content = Array.from({ length: 400 }, (_, n) => `def f${n}(x):\n    return x * ${n}  # line ${n}`).join(
        '\n',
      );
      return { type: 'file_read', path: `src/mod${i % 37}.py`, content, start_line: 1, truncated: false };
    }
    case 2: {
      const lines = Array.from({ length: 300 }, (_, n) => `-old_${n} = ${n}\n+new_${n} = ${n * 2}`).join('\n');
      const diff = `--- a/src/mod${i % 37}.py\n+++ b/src/mod${i % 37}.py\n@@ -1,300 +1,300 @@\n${lines}\n`;
      return { type: 'file_edit', path: `src/mod${i % 37}.py`, diff, modified_lines: [[1, 300]], created: false };
    }
    default: {
      const output = Array.from({ length: 3000 }, (_, n) => `\u001b[32mPASSED\u001b[0m test_${n} (${n} ms)`).join('\n');
      return {
        type: 'bash_command',
        command: 'pytest -v',
        output,
        exit_code: i % 8 === 3 ? 1 : 0,
        timed_out: false,
        truncated: false,
      };
    }
  }
}

async function seed(store: Store, annotator: string, id: string, steps: number): Promise<void> {
  await store.createSession({
    id,
    task: `A long session of ${steps} steps`,
    annotator,
    backend: 'scripted',
    backend_settings: {},
    status: 'finished',
    end_reason: 'the agent finished',
    workspace: '/nonexistent',
    base_commit: null,
    current_branch_id: `${id}-A`,
    usage: { input_tokens: steps * 1000, output_tokens: steps * 100 },
  });
  let parent: string | null = null;
  await store.transaction(async (tx) => {
    for (let i = 0; i < steps; i++) {
      const p = payload(i);
      const step: Step = {
        id: `${id}-s${i}`,
        session_id: id,
        parent_id: parent,
        step_idx: i,
        type: p.type,
        payload: p,
        author: 'agent',
        turn_id: `t${i}`,
        tool_call: null,
        tool_result: null,
        tool_is_error: false,
        checkpoint: null,
        changed_files: false,
        usage: { input_tokens: 1000, output_tokens: 100 },
        started_at: 1_700_000_000_000 + i * 1000,
        ended_at: 1_700_000_000_500 + i * 1000,
      };
      await tx.insertStep(step);
      parent = step.id;
    }
  });
  await store.insertBranch({
    id: `${id}-A`,
    session_id: id,
    name: 'branch-A',
    fork_step_id: null,
    parent_branch_id: null,
    reason: null,
    head_step_id: parent,
    git_ref: 'refs/heads/potato/branch-A',
    created_at: 1_700_000_000_000,
  });
  const session = (await store.getSession(id))!;
  await store.appendEvent(id, { type: 'session', session });
}

interface Measure {
  firstRenderMs: number;
  lastStepMs: number;
  frames: { p50: number; p95: number; max: number; count: number };
}

describe('a long session in the browser', () => {
  let server: RunningServer;
  let browser: BrowserContext;

  beforeAll(async () => {
    server = await startDemoServer(buildUi(), {
      seed: async (store, config) => {
        const annotator = config.annotators[0]!.username;
        await seed(store, annotator, 'long-2000', 2000);
        await seed(store, annotator, 'short-50', 50);
      },
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function measure(id: string, steps: number): Promise<Measure> {
    const page = await browser.newPage();
    await login(page, server.url);
    // A fresh document per measurement, so time 0 is the navigation.
    await page.goto(`${server.url}/#/sessions/${id}`);
    await page.reload();
    const firstRenderMs = await (
      await page.waitForFunction(
        () => (document.querySelector('[data-testid="trace"] [data-step-id]') ? performance.now() : 0),
        undefined,
        { polling: 'raf', timeout: 60_000 },
      )
    ).jsonValue();
    const lastStepMs = await (
      await page.waitForFunction(
        (last) => (document.querySelector(`[data-testid="step-${last}"]`) ? performance.now() : 0),
        steps - 1,
        { polling: 'raf', timeout: 60_000 },
      )
    ).jsonValue();
    // Scroll from the bottom to the top in 1,200 px steps, one per frame, timing each frame.
    const frames = await page.getByTestId('trace').evaluate(async (el) => {
      const deltas: number[] = [];
      let last = performance.now();
      for (let i = 0; i < 240 && el.scrollTop > 0; i++) {
        el.scrollTop = Math.max(0, el.scrollTop - 1200);
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        deltas.push(now - last);
        last = now;
      }
      deltas.sort((a, b) => a - b);
      const at = (q: number) => deltas[Math.min(deltas.length - 1, Math.floor(q * deltas.length))] ?? 0;
      return { p50: at(0.5), p95: at(0.95), max: deltas.at(-1) ?? 0, count: deltas.length };
    });
    // Jump to the very top: the first step is there, its big blocks collapsed.
    await page.getByTestId('trace').evaluate((el) => {
      el.scrollTop = 0;
    });
    await page.getByTestId('step-0').waitFor();
    if (steps > 10) {
      await page.getByTestId('step-2').waitFor();
      expect(await page.getByTestId('step-2').locator('[data-testid="diff-line-add"]').count()).toBeLessThan(40);
      expect(await page.getByTestId('step-2').getByTestId('show-all').innerText()).toMatch(
        /Show all \(\d[\d,]* more lines\)/,
      );
    }
    await screenshot(page, `long-session-${steps}`);
    // Rows are virtualised: only a handful of the steps are in the DOM.
    expect(await page.locator('[data-step-id]').count()).toBeLessThan(60);
    await page.close();
    return { firstRenderMs, lastStepMs, frames };
  }

  it('opens and scrolls 2,000 steps with large diffs and outputs', async () => {
    const base = await measure('short-50', 50);
    const long = await measure('long-2000', 2000);
    // "Show all" expands a collapsed output in place.
    const page = await browser.newPage();
    await page.goto(`${server.url}/#/sessions/long-2000`);
    await page.getByTestId('trace').waitFor();
    await page.getByTestId('trace').evaluate((el) => {
      el.scrollTop = 0;
    });
    const terminal = page.getByTestId('step-3').getByTestId('terminal-output');
    await terminal.waitFor();
    await page.getByTestId('step-3').getByTestId('show-all').click();
    await expect.poll(async () => (await terminal.innerText()).split('\n').length).toBeGreaterThan(2900);
    await page.close();

    const fmt = (m: Measure) =>
      `first render ${m.firstRenderMs.toFixed(0)} ms, last step shown ${m.lastStepMs.toFixed(0)} ms, scroll frames p50 ${m.frames.p50.toFixed(1)} ms p95 ${m.frames.p95.toFixed(1)} ms max ${m.frames.max.toFixed(1)} ms (${m.frames.count} frames)`;
    console.log(`[ui long session] 50 steps (baseline): ${fmt(base)}`);
    console.log(`[ui long session] 2000 steps: ${fmt(long)}`);
    console.log(
      `[ui long session] ratio 2000/50: first render ${(long.firstRenderMs / base.firstRenderMs).toFixed(2)}x, scroll p95 ${(long.frames.p95 / Math.max(base.frames.p95, 0.1)).toFixed(2)}x`,
    );
    expect(long.frames.count).toBeGreaterThan(20);
  }, 240_000); // two thousand big steps render slowly on a busy 2-core machine
});

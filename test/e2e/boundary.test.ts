/**
 * @module test/e2e/boundary.test
 * The web boundary in a real Chromium. The annotator is logged in and watching a running
 * session; a page served from ANOTHER port of 127.0.0.1 (same site: the SameSite=Strict cookie
 * goes along) tries to start a session, stop the running one and read its events, by fetch
 * (JSON, and text/plain "simple" requests that need no preflight), by an HTML form post and by
 * WebSocket. Every attempt must fail at the server, with the cookie attached; the app itself
 * keeps working under its security headers with no CSP violation, and a logout in one tab
 * sends the other tab's live view to the login page.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SECURITY_HEADERS } from '../../src/server/boundary.js';
import { buildUi, DEMO, launchBrowser, login, type RunningServer, startDemoServer, watchCsp } from './harness.js';

/** Enough turns that the session is still running while the attacks are made. */
function slowScript(): object {
  const demo = parse(readFileSync(join(DEMO, 'agent-script.yaml'), 'utf8')) as { turns: object[] };
  const look = { tool_calls: [{ directory_list: { path: '.' } }] };
  return { ...demo, turns: [...Array.from({ length: 40 }, () => look), ...demo.turns] };
}

/** A page on another port of the same host: only a blank page, the attacks run in its context. */
async function startAttacker(): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>another app on this machine</title><body></body>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

describe('the web boundary in the browser', () => {
  let server: RunningServer;
  let browser: BrowserContext;
  let attacker: { url: string; server: Server };

  beforeAll(async () => {
    const ui = buildUi();
    server = await startDemoServer(ui, {
      script: slowScript(),
      overrides: { live_coding_agent: { scripted: { script: './agent-script.yaml', turn_delay_ms: 800 } } },
    });
    attacker = await startAttacker();
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await new Promise((resolve) => attacker?.server.close(resolve));
  });

  it('keeps a page on another port from starting, stopping or reading a session, while the app works', async () => {
    // The annotator: log in, start the agent, watch its steps arrive live.
    const app = await browser.newPage();
    const csp = await watchCsp(app);
    const first = await app.goto(server.url);
    for (const [name, value] of Object.entries(SECURITY_HEADERS))
      expect(first?.headers()[name.toLowerCase()]).toBe(value);
    await login(app, server.url);
    await app.getByTestId('task-input').fill('Fix the failing test');
    await app.getByTestId('start-agent').click();
    await app.getByTestId('session-page').waitFor();
    await app.getByTestId('step-2').waitFor({ timeout: 30_000 });
    const sessionId = decodeURIComponent(/#\/sessions\/([^/?]+)/.exec(app.url())![1]!);
    expect((await server.store.getSession(sessionId))?.status).toBe('running');

    // The other app on this machine, in the same browser (same cookie jar).
    const evil = await browser.newPage();
    await evil.goto(attacker.url);
    const api = `${server.url}/api`;
    // Every request the page sends to the API, as the network saw it (DevTools protocol: opaque
    // and CORS-blocked answers included, with the cookie the browser attached).
    const seen = new Map<string, { what: string; cookie?: string; status?: number; failed?: string }>();
    const cdp = await browser.newCDPSession(evil);
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.request.url.startsWith(api))
        seen.set(e.requestId, {
          ...seen.get(e.requestId),
          what: `${e.request.method} ${new URL(e.request.url).pathname}`,
        });
    });
    cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
      const cookie = Object.entries(e.headers).find(([k]) => k.toLowerCase() === 'cookie')?.[1];
      const known = seen.get(e.requestId);
      seen.set(e.requestId, { what: known?.what ?? '', ...known, cookie });
    });
    cdp.on('Network.responseReceivedExtraInfo', (e) => {
      const known = seen.get(e.requestId);
      seen.set(e.requestId, { what: known?.what ?? '', ...known, status: e.statusCode });
    });
    cdp.on('Network.loadingFailed', (e) => {
      const known = seen.get(e.requestId);
      if (known) known.failed = e.errorText;
    });
    await cdp.send('Network.enable');

    const results = await evil.evaluate(
      async ({ api, sessionId }) => {
        const out: Record<string, string> = {};
        const attempt = async (name: string, run: () => Promise<unknown>) => {
          try {
            const res = await run();
            out[name] = res instanceof Response ? `${res.type} ${res.status} ${await res.text()}` : String(res);
          } catch (err) {
            out[name] = `failed: ${err instanceof Error ? err.message : String(err)}`;
          }
        };
        const s = `${api}/sessions/${encodeURIComponent(sessionId)}`;
        // "Simple" requests: no preflight, the browser sends them with the cookie.
        await attempt('start text/plain', () =>
          fetch(`${api}/sessions`, {
            method: 'POST',
            mode: 'no-cors',
            credentials: 'include',
            headers: { 'content-type': 'text/plain' },
            body: JSON.stringify({ task: 'attacker: fetch text/plain' }),
          }),
        );
        await attempt('stop no body', () =>
          fetch(`${s}/stop`, { method: 'POST', mode: 'no-cors', credentials: 'include' }),
        );
        await attempt('instruction text/plain', () =>
          fetch(`${s}/instruction`, {
            method: 'POST',
            mode: 'no-cors',
            credentials: 'include',
            body: JSON.stringify({ text: 'attacker: do something else' }),
          }),
        );
        // A JSON request needs a preflight that is never answered.
        await attempt('start json', () =>
          fetch(`${api}/sessions`, {
            method: 'POST',
            credentials: 'include',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ task: 'attacker: fetch json' }),
          }),
        );
        // Reads: the snapshot and the live socket.
        await attempt('read snapshot', () => fetch(s, { credentials: 'include' }));
        await attempt('read no-cors', () => fetch(s, { mode: 'no-cors', credentials: 'include' }));
        out.socket = await new Promise<string>((resolve) => {
          const ws = new WebSocket(`${s.replace(/^http/, 'ws')}/events?after=0`);
          let messages = 0;
          ws.onmessage = () => messages++;
          ws.onopen = () => setTimeout(() => ws.close(), 500);
          ws.onclose = (e) => resolve(`closed ${e.code} after ${messages} messages`);
        });
        return out;
      },
      { api, sessionId },
    );

    // Form posts (text/plain and urlencoded) into a hidden frame, as a page needs no script for.
    for (const [enctype, action, field, value] of [
      ['text/plain', `${api}/sessions`, '{"task": "attacker: form", "x": "', '"}'],
      ['application/x-www-form-urlencoded', `${api}/sessions/${sessionId}/stop`, 'x', 'y'],
    ] as const) {
      const posted = evil.waitForResponse((r) => r.url() === action && r.request().method() === 'POST');
      await evil.evaluate(
        ({ enctype, action, field, value }) => {
          const frame = document.createElement('iframe');
          frame.name = `sink-${Math.random()}`;
          document.body.append(frame);
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = action;
          form.enctype = enctype;
          form.target = frame.name;
          const input = document.createElement('input');
          input.name = field;
          input.value = value;
          form.append(input);
          document.body.append(form);
          form.submit();
        },
        { enctype, action, field, value },
      );
      await posted;
    }

    // What the page could see: nothing. The socket never opened, nothing was read.
    expect(results['read snapshot']).toMatch(/^failed:/);
    // Opaque, or blocked outright by the browser (ORB): either way no byte of the session.
    expect(results['read no-cors']).toMatch(/^(opaque 0 $|failed:)/);
    expect(results['start json']).toMatch(/^failed:/);
    expect(results.socket).toBe('closed 1006 after 0 messages');

    // What reached the server: every request carried the annotator's cookie and was refused.
    const sent = () => [...seen.values()].filter((r) => r.what !== '');
    await expect.poll(() => sent().every((r) => r.status !== undefined || r.failed !== undefined)).toBe(true);
    // A preflight carries no cookie; it is refused as well, so the JSON request never follows.
    const preflights = sent().filter((r) => r.what.startsWith('OPTIONS '));
    expect(preflights.map((r) => [r.what, r.status])).toEqual([['OPTIONS /api/sessions', 403]]);
    const answered = sent().filter((r) => r.status !== undefined && !r.what.startsWith('OPTIONS '));
    for (const r of answered) {
      expect(r.cookie, r.what).toMatch(/potato_sid=/);
      expect(r.status, r.what).toBe(403);
    }
    // The JSON start never left the browser (its preflight failed): the rest reached the server.
    expect(answered.map((r) => r.what).sort()).toEqual(
      [
        'POST /api/sessions',
        'POST /api/sessions',
        `POST /api/sessions/${sessionId}/stop`,
        `POST /api/sessions/${sessionId}/stop`,
        `POST /api/sessions/${sessionId}/instruction`,
        `GET /api/sessions/${sessionId}`,
        `GET /api/sessions/${sessionId}`,
      ].sort(),
    );

    // Nothing happened to the annotator's work.
    expect((await server.store.listSessions()).map((s) => s.task)).toEqual(['Fix the failing test']);
    expect((await server.store.getSession(sessionId))?.status).toBe('running');
    expect(await server.store.listInterventions(sessionId)).toEqual([]);

    // The app goes on: more steps arrive, and its own Stop works.
    await app.bringToFront();
    const before = Number(await app.getByTestId('step-counter').textContent());
    await expect
      .poll(async () => Number(await app.getByTestId('step-counter').textContent()), { timeout: 30_000 })
      .toBeGreaterThan(before);
    app.once('dialog', (d) => d.accept());
    await app.getByTestId('control-stop').click();
    await app.locator('[data-testid="session-page"][data-status="stopped"]').waitFor({ timeout: 30_000 });
    expect((await server.store.getSession(sessionId))?.status).toBe('stopped');

    expect(await csp.violations()).toEqual([]);
    expect(csp.console).toEqual([]);
    await evil.close();
    await app.close();
  });

  it('sends a live view to the login page when its login is logged out in another tab', async () => {
    const id = (await server.store.listSessions())[0]!.id;
    // The first test's tab has gone: its socket too.
    await expect.poll(() => server.server.live.viewerCount(id)).toBe(0);
    const watching = await browser.newPage();
    await login(watching, server.url);
    await watching.goto(`${server.url}/#/sessions/${encodeURIComponent(id)}`);
    await watching.getByTestId('session-page').waitFor();
    await expect.poll(() => server.server.live.viewerCount(id)).toBe(1);

    const other = await browser.newPage();
    await login(other, server.url);
    await other.getByTestId('logout').click();
    await other.getByTestId('login-username').waitFor();

    // The socket is closed by the server (code 4401): the watching tab shows the login form.
    await watching.getByTestId('login-username').waitFor({ timeout: 10_000 });
    expect(server.server.live.viewerCount(id)).toBe(0);
    await watching.close();
    await other.close();
  });
});

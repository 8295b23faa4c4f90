/**
 * @module test/e2e/harness
 * What the browser tests share: the UI built into a temp folder, the real server and engine
 * (`startServer`: SQLite store, git checkpoints, local sandbox, scripted agent) on a random
 * port over a temp copy of the demo, and Debian's Chromium driven by playwright-core.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { parse, stringify } from 'yaml';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config/load.js';
import type { PotatoConfig } from '../../src/config/types.js';
import type { PotatoServer } from '../../src/server/server.js';
import { startServer } from '../../src/server/start.js';
import type { SessionManager } from '../../src/session/types.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const DEMO = join(ROOT, 'examples/demo');
export const SCREENSHOTS = join(ROOT, 'test-artifacts/screenshots');

/** Build the UI once per test file into its own folder (never racing `npm run build`). */
export function buildUi(): string {
  const out = mkdtempSync(join(tmpdir(), 'potato-ui-'));
  execFileSync('npx', ['vite', 'build', '--config', 'src/web/vite.config.ts', '--outDir', out, '--emptyOutDir'], {
    cwd: ROOT,
    stdio: 'pipe',
  });
  return out;
}

export interface RunningServer {
  url: string;
  dir: string;
  config: PotatoConfig;
  store: Store;
  manager: SessionManager;
  server: PotatoServer;
  close(): Promise<void>;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/**
 * The demo config and repository copied to a temp folder, with `overrides` deep-merged into
 * the config and `script` (when given) replacing the agent script; then the real server on
 * a random port.
 */
export async function startDemoServer(
  staticDir: string,
  opts: {
    overrides?: Record<string, unknown>;
    script?: object;
    seed?: (store: Store, config: PotatoConfig) => void | Promise<void>;
    /** The engine's clock (test/clock.ts), to hold time instead of sleeping. */
    clock?: Clock;
  } = {},
): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'potato-e2e-'));
  // As root, the local sandbox's own user must pass through this folder to its workspace.
  chmodSync(dir, 0o711);
  cpSync(join(DEMO, 'repo'), join(dir, 'repo'), { recursive: true });
  if (opts.script) writeFileSync(join(dir, 'agent-script.yaml'), stringify(opts.script));
  else cpSync(join(DEMO, 'agent-script.yaml'), join(dir, 'agent-script.yaml'));
  const demo = parse(readFileSync(join(DEMO, 'config.yaml'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.yaml'), stringify(merge(demo, opts.overrides ?? {})));
  const config = loadConfig(join(dir, 'config.yaml'));
  mkdirSync(config.output.path, { recursive: true });
  if (opts.seed) {
    const seedStore = openSqliteStore(join(config.output.path, 'potato.db'));
    await opts.seed(seedStore, config);
    await seedStore.close();
  }
  const logs: string[] = [];
  const started = await startServer(config, {
    port: 0,
    host: '127.0.0.1',
    staticDir,
    handleSignals: false,
    log: (m) => logs.push(m),
    clock: opts.clock,
  });
  return {
    url: started.url,
    dir,
    config,
    store: started.store,
    manager: started.manager,
    server: started.server,
    close: () => started.close(),
  };
}

export async function launchBrowser(): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'potato-chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

export async function login(page: Page, url: string, username = 'demo', password = 'potato'): Promise<void> {
  await page.goto(url);
  // The browser profile keeps the cookie between pages: log in only when asked to.
  await page.locator('[data-testid="login-username"], [data-testid="current-user"]').first().waitFor();
  if (await page.getByTestId('current-user').count()) return;
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('current-user').waitFor();
}

/**
 * What the page's Content-Security-Policy refused, recorded from before the app's first script
 * runs (`securitypolicyviolation` events, and Chromium's "Refused to …" console lines).
 */
export async function watchCsp(page: Page): Promise<{ violations: () => Promise<string[]>; console: string[] }> {
  const consoleLines: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) consoleLines.push(m.text());
  });
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return {
    violations: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp),
    console: consoleLines,
  };
}

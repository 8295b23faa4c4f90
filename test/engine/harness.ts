/**
 * @module test/engine/harness
 * A real engine in a temp folder for the integration tests: a config file loaded by the real
 * loader, a real SQLite store, real git, the local sandbox and the scripted agent. The model
 * requests are recorded by wrapping the real backend, so tests can read what the model was sent.
 */
import { chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { TurnRequest } from '../../src/backends/types.js';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config/load.js';
import type { PotatoConfig } from '../../src/config/types.js';
import { defaultEngineParts } from '../../src/engine.js';
import type { SessionEvent } from '../../src/session/events.js';
import { createSessionManager, type EngineSessionManager } from '../../src/session/manager.js';
import type { SessionManager } from '../../src/session/types.js';
import type { Store } from '../../src/store/types.js';
import { openTestStore } from '../store/test-store.js';

export const DEMO = resolve(import.meta.dirname, '../../examples/demo');

export interface Engine {
  dir: string;
  config: PotatoConfig;
  store: Store;
  manager: EngineSessionManager;
  requests: TurnRequest[];
  close(): Promise<void>;
}

/** Deep-merge `over` into `base` (objects only; arrays and scalars replace). */
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

export async function startEngine(
  opts: { script?: object; config?: Record<string, unknown>; clock?: Clock } = {},
): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), 'potato-engine-'));
  // As root, the local sandbox's own user must pass through this folder to its workspace.
  chmodSync(dir, 0o711);
  cpSync(join(DEMO, 'repo'), join(dir, 'repo'), { recursive: true });
  if (opts.script) writeFileSync(join(dir, 'script.yaml'), stringify(opts.script));
  else cpSync(join(DEMO, 'agent-script.yaml'), join(dir, 'script.yaml'));
  const base = {
    project_name: 'engine test',
    live_coding_agent: {
      backend: 'scripted',
      scripted: { script: './script.yaml', turn_delay_ms: 0 },
      sandbox: { type: 'local', workspace: './repo', timeout: 120 },
      branching: { require_reason_on_rollback: true, max_branches_per_session: 3 },
    },
    annotation_schemes: [
      { annotation_type: 'radio', name: 'outcome', options: [{ value: 'resolved' }, { value: 'failed' }] },
    ],
    output: { path: './output/' },
    annotators: [{ username: 'ann', password: 'pw' }],
  };
  writeFileSync(join(dir, 'config.yaml'), stringify(merge(base, opts.config ?? {})));
  const config = loadConfig(join(dir, 'config.yaml'));
  const { store, dispose } = await openTestStore(join(config.output.path, 'potato.db'));
  const requests: TurnRequest[] = [];
  const parts = defaultEngineParts({ clock: opts.clock });
  const manager = createSessionManager({
    config,
    store,
    parts: {
      ...parts,
      createBackend: (cfg) => {
        const real = parts.createBackend(cfg);
        return {
          name: real.name,
          check: () => real.check(),
          turn: (req) => {
            requests.push(req);
            return real.turn(req);
          },
        };
      },
    },
  });
  return {
    dir,
    config,
    store,
    manager,
    requests,
    async close() {
      await manager.shutdown();
      await dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Resolve with the first event (already persisted) that matches, or reject after `ms`. It listens
 * before it reads the log: an event stored while the read is under way is not missed.
 */
export async function waitForEvent(
  engine: Pick<Engine, 'store'> & { manager: Pick<SessionManager, 'subscribe'> },
  sessionId: string,
  match: (e: SessionEvent) => boolean,
  ms = 15_000,
): Promise<SessionEvent> {
  let found!: (e: SessionEvent) => void;
  const heard = new Promise<SessionEvent>((resolve) => {
    found = resolve;
  });
  const off = engine.manager.subscribe(sessionId, (e) => {
    if (match(e)) found(e);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const stored = (await engine.store.eventsAfter(sessionId, 0)).find(match);
    if (stored) return stored;
    return await Promise.race([
      heard,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no matching event within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    off();
  }
}

export const ended = (e: SessionEvent) =>
  e.type === 'session' && ['finished', 'stopped', 'failed'].includes(e.session.status);

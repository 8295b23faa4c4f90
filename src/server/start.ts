/**
 * @module server/start
 * `startServer(config)`: everything `potato start` does to serve. Open the store at
 * `<output.path>/potato.db`, mark the sessions a dead process left running as `interrupted`,
 * remove its orphaned Docker containers, build the session manager, listen, and on
 * SIGINT/SIGTERM stop every session (saved), close every socket and exit 0.
 */
import path from 'node:path';
import type { Clock } from '../clock.js';
import type { PotatoConfig } from '../config/types.js';
import { defaultEngineParts } from '../engine.js';
import type { SessionStatus } from '../session/events.js';
import { createSessionManager } from '../session/manager.js';
import type { SessionManager } from '../session/types.js';
import { openSqliteStore } from '../store/sqlite/store.js';
import type { SessionRecord, Store } from '../store/types.js';
import { createServer, type PotatoServer } from './server.js';

export interface StartOptions {
  /** Default: config.port / config.host. */
  port?: number;
  host?: string;
  /** Default: dist/web of this package. */
  staticDir?: string;
  /** Install SIGINT/SIGTERM handlers that shut down and exit 0 (default true). */
  handleSignals?: boolean;
  log?: (message: string) => void;
  /** The engine's clock (default: the system's); tests hold it to show that nothing happens. */
  clock?: Clock;
}

export interface StartedServer {
  url: string;
  port: number;
  store: Store;
  manager: SessionManager;
  server: PotatoServer;
  /** Resolves once the server has shut down. */
  readonly closed: Promise<void>;
  /** Stop every running session, close every socket and the store. */
  close(): Promise<void>;
}

const LEFT_RUNNING: readonly SessionStatus[] = ['created', 'running', 'paused'];

/**
 * A process that died mid-session left its rows saying `running`: nothing is running them now.
 * Say so in the record and in the event log, so a browser replaying the log sees it too.
 */
export function markInterrupted(store: Store, now = Date.now()): SessionRecord[] {
  const marked: SessionRecord[] = [];
  for (const s of store.listSessions()) {
    if (!LEFT_RUNNING.includes(s.status)) continue;
    const message = `the server stopped while the session was ${s.status}: continue it or export it`;
    const updated = store.transaction(() => {
      const rec = store.updateSession(s.id, { status: 'interrupted', end_reason: message, updated_at: now });
      store.appendEvent(s.id, { type: 'session', session: rec });
      store.appendEvent(s.id, { type: 'status', status: 'interrupted', activity: 'idle', message });
      return rec;
    });
    marked.push(updated);
  }
  return marked;
}

export async function startServer(config: PotatoConfig, opts: StartOptions = {}): Promise<StartedServer> {
  const log = opts.log ?? ((m: string) => console.error(`[potato] ${m}`));
  const opened = openSqliteStore(path.join(config.output.path, 'potato.db'));
  const interrupted = markInterrupted(opened);
  if (interrupted.length > 0) {
    log(
      `${interrupted.length} session(s) were left running by a stopped server; marked interrupted: ${interrupted.map((s) => s.id).join(', ')}`,
    );
  }
  if (config.live_coding_agent.sandbox.type === 'docker') {
    try {
      const { removeOrphans } = await import('../sandbox/docker/index.js');
      const removed = await removeOrphans();
      if (removed.length > 0) log(`removed ${removed.length} container(s) left by a stopped server`);
    } catch (err) {
      // Sessions will say what is wrong with Docker when they start; the server itself can run.
      log(`could not clean up old containers: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const manager = createSessionManager({ config, store: opened, parts: defaultEngineParts({ clock: opts.clock }) });
  // Writes through the manager's store keep output/ equal to the store (labels, answers).
  const store = manager.store;
  const server = createServer({
    config,
    store,
    manager,
    staticDir: opts.staticDir ?? path.resolve(import.meta.dirname, '../../dist/web'),
    log,
  });
  let address: Awaited<ReturnType<PotatoServer['listen']>>;
  try {
    address = await server.listen(opts.port ?? config.port, opts.host ?? config.host);
  } catch (err) {
    await manager.shutdown();
    store.close();
    throw err;
  }

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        await manager.shutdown();
      } catch (err) {
        log(`stopping sessions: ${err instanceof Error ? err.message : String(err)}`);
      }
      await server.close();
      store.close();
      resolveClosed();
    })();
    return closing;
  };

  if (opts.handleSignals ?? true) {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        log(`${signal} again: exiting without waiting`);
        process.exit(1);
      }
      signalled = true;
      log(`${signal}: stopping every running session (saved), then exiting`);
      close().then(
        () => process.exit(0),
        (err: unknown) => {
          log(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    void closed.then(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
  }

  return { url: address.url, port: address.port, store, manager, server, closed, close };
}

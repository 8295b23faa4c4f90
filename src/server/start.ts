/**
 * @module server/start
 * `startServer(config)`: everything `potato start` does to serve. Open the store (store/open:
 * SQLite at `<output.path>/potato.db`, or PostgreSQL), let the engine clean up what a dead
 * process's sandboxes left, mark the sessions it left running as `interrupted`, build the
 * session manager, listen, and on
 * SIGINT/SIGTERM stop every session (saved), close every socket and exit 0.
 */

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../clock.js';
import type { PotatoConfig } from '../config/types.js';
import { defaultEngineParts } from '../engine.js';
import { setIgnoredSink } from '../errors.js';
import { createLogger, errField, type Logger, loggerTo, resolveLogLevel } from '../log/logger.js';
import { machineLimits } from '../process/limits.js';
import { recordCutCommands } from '../session/cut-commands.js';
import type { SessionStatus } from '../session/events.js';
import { leaseTimingsOf, liveLease, newOwnerId, sweepIntervalMs } from '../session/lease.js';
import { createSessionManager } from '../session/manager.js';
import type { SessionManager } from '../session/types.js';
import { describeStore, openStore } from '../store/open.js';
import type { SessionRecord, Store } from '../store/types.js';
import { guardProcess } from './process-guard.js';
import { createServer, type PotatoServer } from './server.js';

export interface StartOptions {
  /** Default: config.port / config.host. */
  port?: number;
  host?: string;
  /** Default: dist/web of this package. */
  staticDir?: string;
  /** Install SIGINT/SIGTERM handlers that shut down and exit 0 (default true). */
  handleSignals?: boolean;
  /** The structured log (default: pino on stdout, level from log_level / POTATO_LOG_LEVEL). */
  logger?: Logger;
  /** Instead of a logger: a function that gets each JSON log line. */
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
export async function markInterrupted(
  store: Store,
  now = Date.now(),
  runsElsewhere: (sessionId: string) => Promise<boolean> = async () => false,
): Promise<SessionRecord[]> {
  const marked: SessionRecord[] = [];
  for (const s of await store.listSessions()) {
    if (!LEFT_RUNNING.includes(s.status)) continue;
    // A live process holds its lease: it is running there, not interrupted.
    if (await runsElsewhere(s.id)) continue;
    const message = `the server stopped while the session was ${s.status}: continue it or export it`;
    const updated = await store.transaction(async (tx) => {
      // Another replica's sweep may have marked it first (its transaction won, this one runs again).
      const current = await tx.getSession(s.id);
      if (!current || !LEFT_RUNNING.includes(current.status)) return null;
      await recordCutCommands(tx, s.id, now);
      const rec = await tx.updateSession(s.id, { status: 'interrupted', end_reason: message, updated_at: now });
      await tx.appendEvent(s.id, { type: 'session', session: rec });
      await tx.appendEvent(s.id, { type: 'status', status: 'interrupted', activity: 'idle', message });
      return rec;
    });
    if (updated) marked.push(updated);
  }
  return marked;
}

export async function startServer(config: PotatoConfig, opts: StartOptions = {}): Promise<StartedServer> {
  const level = resolveLogLevel(config.log_level);
  const logger = opts.logger ?? (opts.log ? loggerTo(opts.log, level) : createLogger({ level }));
  const log = (m: string) => logger.info(m);
  // Errors the engine deliberately ignores (cleanup after a failure) land in the same log.
  setIgnoredSink((line) => logger.warn(line));
  // What bounds the number of live sessions here (docs/benchmarks.md, capacity): in the log, for whoever has to raise it.
  logger.info({ limits: machineLimits() }, 'machine limits');
  const opened = await openStore(config);
  log(`store: ${describeStore(config)}`);
  const sqliteFile = path.join(config.output.path, 'potato.db');
  if (config.output.database_url_env && existsSync(sqliteFile)) {
    // Sessions recorded before the switch stay in the file: say so rather than seem to lose them.
    logger.warn(
      `${sqliteFile} holds sessions recorded on SQLite; this server uses PostgreSQL and does not show them. To move them, stop the servers and run \`potato store copy --config ${config.config_path}\` while the database is empty (docs/deploy.md); once they are copied, move the file out of ${config.output.path}`,
    );
  }
  const parts = defaultEngineParts({ clock: opts.clock });
  // Whatever a dead server's sandboxes left running would go on writing into workspaces: ended first.
  await parts.cleanupSandboxes(config, logger);
  const owner = newOwnerId();
  const leased = async (id: string) => (await liveLease(opened, id, owner)) !== null;
  const interrupted = await markInterrupted(opened, Date.now(), leased);
  const others: { id: string; owner: string | undefined }[] = [];
  for (const x of await opened.listSessions()) {
    if (LEFT_RUNNING.includes(x.status) && (await leased(x.id))) {
      others.push({ id: x.id, owner: (await opened.getLease(x.id))?.owner });
    }
  }
  if (others.length > 0) {
    logger.warn(
      { sessions: others },
      `another server process runs ${others.length} session(s) on this output folder: they are left to it`,
    );
  }
  if (interrupted.length > 0) {
    log(
      `${interrupted.length} session(s) were left running by a stopped server; marked interrupted: ${interrupted.map((s) => s.id).join(', ')}`,
    );
  }
  const manager = createSessionManager({
    config,
    store: opened,
    logger,
    ownerId: owner,
    parts,
  });
  // Writes through the manager's store keep output/ equal to the store (labels, answers).
  const store = manager.store;
  const server = createServer({
    config,
    store,
    manager,
    ownerId: owner,
    staticDir: opts.staticDir ?? path.resolve(import.meta.dirname, '../../dist/web'),
    logger,
  });
  let address: Awaited<ReturnType<PotatoServer['listen']>>;
  try {
    address = await server.listen(opts.port ?? config.port, opts.host ?? config.host);
  } catch (err) {
    await manager.shutdown();
    await store.close();
    throw err;
  }

  // A process that died on another host leaves leases that only expire: its sessions are marked then
  // (within 1.5 × session_lease.ttl_ms of its death; sooner for a dead process of this host).
  const sweep = setInterval(
    () => {
      markInterrupted(store, Date.now(), leased)
        .then((late) => {
          if (late.length > 0)
            logger.warn({ sessions: late.map((x) => x.id) }, 'sessions whose owner stopped: interrupted');
        })
        .catch((err: unknown) =>
          logger.warn({ err: errField(err) }, 'could not sweep sessions left by a stopped server'),
        );
    },
    sweepIntervalMs(leaseTimingsOf(config)),
  );
  sweep.unref();

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  let closing: Promise<void> | undefined;
  let shutdownReason = 'the server shut down';
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(sweep);
      try {
        await manager.shutdown(shutdownReason);
      } catch (err) {
        logger.error({ err: errField(err) }, 'stopping sessions');
      }
      await server.close();
      await store.close();
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
      shutdownReason = `the server shut down (${signal}) while the session ran: continue it to go on`;
      log(`${signal}: stopping every running session (saved), then exiting`);
      close().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.fatal({ err: errField(err) }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const unguard = guardProcess(logger);
    void closed.then(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      unguard();
    });
  }

  return { url: address.url, port: address.port, store, manager, server, closed, close };
}

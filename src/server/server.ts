/**
 * @module server/server
 * The HTTP server: the API app, the built UI from `staticDir` with an SPA fallback, and the
 * WebSocket upgrade for live events (origin, cookie and ownership checked before the
 * handshake). The web boundary (server/boundary.ts) comes first on every request. A socket
 * belongs to the login that opened it and closes when that login ends.
 * `createServer` wires the parts; `listen` and `close` are the whole lifecycle.
 */
import { existsSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { createAdaptorServer } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { type WebSocket, WebSocketServer } from 'ws';
import type { PotatoConfig } from '../config/types.js';
import { createLogger, errField, type Logger, loggerTo } from '../log/logger.js';
import type { SessionManager } from '../session/types.js';
import type { Store } from '../store/types.js';
import { type ApiEnv, sessionAccess } from './access.js';
import { createApi, type ForwardedEnv } from './api.js';
import { Auth, type LoginEnd } from './auth.js';
import { boundary, OriginPolicy, SECURITY_HEADERS } from './boundary.js';
import { errorAnswer } from './errors.js';
import { LiveHub } from './live.js';
import type { WireOptions } from './wire.js';

export interface ServerDeps {
  config: PotatoConfig;
  store: Store;
  manager: SessionManager;
  /** The built UI (dist/web). Without it only the API is served. */
  staticDir?: string;
  /** The structured log (request errors, live stream faults). */
  logger?: Logger;
  /** Instead of a logger: a function that gets each JSON log line. */
  log?: (message: string) => void;
  /** Unsent bytes a live socket may hold before it is dropped (default 8 MiB). */
  maxBufferedBytes?: number;
  /** This process's lease owner id: on a shared store, other replicas forward controls to it. */
  ownerId?: string;
  /** How long a forwarded control waits for the owning replica (default 15 s). */
  forwardTimeoutMs?: number;
  /** The clock of logins and lockouts (default Date.now); tests move it instead of sleeping. */
  now?: () => number;
}

export interface PotatoServer {
  /** Listen; resolves with the bound address (port 0 picks a free one). */
  listen(port: number, host: string): Promise<{ port: number; host: string; url: string }>;
  /** Close every socket and stop listening. Does not stop sessions (the manager does). */
  close(): Promise<void>;
  readonly live: LiveHub;
  readonly app: Hono<ApiEnv>;
  readonly auth: Auth;
  /** What the heartbeat does with logins: end the expired, close the sockets of ended ones. */
  sweepLogins(): Promise<void>;
}

const EVENTS_PATH = /^\/api\/sessions\/([^/]+)\/events$/;
/** Also how often ended logins are swept, so a socket closes soon after its login expires. */
const HEARTBEAT_MS = 30_000;
/**
 * Pings a socket may leave unanswered in a row before it is cut. A ping waits behind whatever is
 * unsent to that socket, so a viewer that stopped reading for a while (a laptop asleep for 30 s,
 * issue 14) answers only after it has read that backlog: one missed pong is not a dead peer.
 */
const MISSED_PONGS = 2;

/**
 * Close code of a socket whose login ended (logout, expiry): the UI goes to the login page
 * instead of reconnecting. 4000–4999 are for applications; 4401 echoes HTTP 401.
 */
export const CLOSE_LOGIN_ENDED = 4401;

const RAW_SECURITY_HEADERS = Object.entries(SECURITY_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

function refuseUpgrade(socket: Duplex, status: number, text: string, error: string, code: string): void {
  const body = JSON.stringify({ error, code });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${RAW_SECURITY_HEADERS}Connection: close\r\n\r\n${body}`,
  );
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function createServer(deps: ServerDeps): PotatoServer {
  const { config, store, manager } = deps;
  const logger = deps.logger ?? (deps.log ? loggerTo(deps.log) : createLogger({ level: 'info' }));
  const streaming = config.live_coding_agent.streaming;
  const wire: WireOptions = {
    showThinking: streaming.show_thinking,
    showToolInputs: streaming.show_tool_inputs,
    bufferOutput: streaming.buffer_output,
  };
  const auth = new Auth(config.annotators, store, { now: deps.now });
  const access = sessionAccess(config.annotators, store);
  const policy = new OriginPolicy(config.allowed_origins);
  const live = new LiveHub(
    store,
    manager,
    {
      ...wire,
      intervalMs: streaming.update_interval_ms,
      maxBufferedBytes: deps.maxBufferedBytes,
    },
    (err) => logger.error({ err: errField(err) }, 'the live stream could not read the event log'),
  );
  // Events other replicas append reach this one's viewers through the shared store.
  const watching = store.watchEvents?.(
    (sessionId, seq) => live.appended(sessionId, seq),
    () => live.catchUpAll(),
  );
  watching?.catch((err: unknown) =>
    logger.error({ err: errField(err) }, 'cannot watch the event log of other replicas'),
  );
  const app = createApi({
    config,
    store,
    manager,
    auth,
    live,
    wire,
    logger,
    ownerId: deps.ownerId,
    forwardTimeoutMs: deps.forwardTimeoutMs,
  });
  // Controls other replicas forward for the sessions this one runs: through the same routes,
  // as the user the asking replica logged in.
  const serving =
    deps.ownerId && store.serveRequests
      ? store.serveRequests(deps.ownerId, async (r) => {
          const env: ForwardedEnv = { forwardedUser: r.user };
          const res = await app.request(
            r.path,
            { method: r.method, body: r.body || undefined, headers: { 'content-type': 'application/json' } },
            env,
          );
          return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') };
        })
      : undefined;
  serving?.catch((err: unknown) =>
    logger.error({ err: errField(err) }, 'cannot take controls other replicas forward to this one'),
  );

  const root = new Hono<ApiEnv>();
  root.use(
    '*',
    boundary(policy, (err, c) => {
      const answer = errorAnswer(err);
      return c.json(answer.body, answer.status);
    }),
  );
  root.route('/', app);
  if (deps.staticDir) {
    const dir = path.resolve(deps.staticDir);
    const index = path.join(dir, 'index.html');
    if (!existsSync(index)) logger.warn(`no UI at ${dir} (index.html missing): run npm run build`);
    // The UI bundle holds no data: it is public so the login page can load; the API guards the rest.
    root.use('/*', serveStatic({ root: dir }));
    root.get('/*', (c, next) => {
      // Client-side routes get the app shell; a missing asset (it has an extension) stays a 404.
      if (/\.[A-Za-z0-9]+$/.test(c.req.path)) return next();
      return serveStatic({ path: index })(c, next);
    });
  }
  root.notFound((c) => c.json({ error: `no page ${c.req.path}`, code: 'not_found' }, 404));

  const server = createAdaptorServer({ fetch: root.fetch }) as Server;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const missed = new WeakMap<object, number>();
  /** Open sockets by the login (session id of the cookie) that opened them. */
  const socketsOfLogin = new Map<string, Set<WebSocket>>();
  auth.onLoginEnd((sid: string, why: LoginEnd) => {
    for (const ws of socketsOfLogin.get(sid) ?? []) ws.close(CLOSE_LOGIN_ENDED, why);
    socketsOfLogin.delete(sid);
  });

  server.on('upgrade', (req, socket, head) => {
    upgrade(req, socket, head).catch((err: unknown) => {
      logger.error({ err: errField(err) }, 'a socket upgrade failed');
      refuseUpgrade(socket, 500, 'Internal Server Error', 'internal error', 'internal');
    });
  });

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = EVENTS_PATH.exec(url.pathname);
    if (!match) return refuseUpgrade(socket, 404, 'Not Found', `no socket at ${url.pathname}`, 'not_found');
    const refused = policy.refusal(
      {
        method: req.method ?? 'GET',
        host: req.headers.host,
        origin: header(req.headers.origin),
        secFetchSite: header(req.headers['sec-fetch-site']),
      },
      { api: true, upgrade: true },
    );
    if (refused) return refuseUpgrade(socket, 403, 'Forbidden', refused.message, refused.code);
    const sid = Auth.sidOfCookieHeader(req.headers.cookie);
    const user = await auth.userOf(sid);
    if (!user || !sid) {
      return refuseUpgrade(socket, 401, 'Unauthorized', 'not logged in: POST /api/login first', 'unauthorized');
    }
    const sessionId = decodeURIComponent(match[1]!);
    // A lead watches any session read-only; anyone else's session does not exist for the user.
    try {
      await access.see(sessionId, user);
    } catch {
      // Not the user's to see: answered as if it did not exist, like the HTTP routes.
      return refuseUpgrade(socket, 404, 'Not Found', `no session ${sessionId}`, 'not_found');
    }
    const afterRaw = url.searchParams.get('after') ?? '0';
    if (!/^\d+$/.test(afterRaw)) {
      return refuseUpgrade(
        socket,
        400,
        'Bad Request',
        `after must be a seq number (0 or more), got ${afterRaw}`,
        'bad_request',
      );
    }
    // A seq the session has not reached is a client's mistake: answering with nothing would leave it
    // waiting, and it must not decide where anyone else's stream starts.
    const last = await store.lastSeq(sessionId);
    if (Number(afterRaw) > last) {
      return refuseUpgrade(
        socket,
        400,
        'Bad Request',
        `after ${afterRaw} is beyond the last event of ${sessionId} (seq ${last}): reconnect with after=${last} or less`,
        'bad_request',
      );
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Counted among the login's sockets at once, so a logout from now on closes it too.
      let mine = socketsOfLogin.get(sid);
      if (!mine) {
        mine = new Set();
        socketsOfLogin.set(sid, mine);
      }
      mine.add(ws);
      ws.on('close', () => {
        mine.delete(ws);
        if (mine.size === 0 && socketsOfLogin.get(sid) === mine) socketsOfLogin.delete(sid);
      });
      missed.set(ws, 0);
      ws.on('pong', () => missed.set(ws, 0));
      const stream = async (): Promise<void> => {
        // The login may have ended while the handshake was under way.
        if ((await auth.userOf(sid)) !== user) return ws.close(CLOSE_LOGIN_ENDED, 'logged out');
        await live.attach(ws, sessionId, Number(afterRaw));
      };
      stream().catch((err: unknown) => {
        logger.error({ session: sessionId, err: errField(err) }, 'live stream failed');
        ws.terminate();
      });
    });
  };

  /** Expired logins end; sockets of logins ended here or on another replica close. */
  const sweepLogins = (): Promise<void> => auth.sweep(socketsOfLogin.keys());

  // A browser that vanished without a close frame is found by missed pongs (60–90 s).
  const heartbeat = setInterval(() => {
    sweepLogins().catch((err: unknown) => logger.error({ err: errField(err) }, 'sweeping ended logins failed'));
    for (const ws of wss.clients) {
      const n = missed.get(ws) ?? 0;
      if (n >= MISSED_PONGS) {
        ws.terminate();
        continue;
      }
      missed.set(ws, n + 1);
      ws.ping();
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  return {
    live,
    app: root,
    auth,
    sweepLogins,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          resolve({ port: addr.port, host: addr.address, url: `http://${shown}:${addr.port}` });
        });
      });
    },
    async close() {
      clearInterval(heartbeat);
      // A watch that never started was logged above; there is nothing to stop.
      const unwatch = await watching?.catch(() => undefined);
      await unwatch?.();
      // Likewise for a serve that never started.
      const unserve = await serving?.catch(() => undefined);
      await unserve?.();
      live.closeAll();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

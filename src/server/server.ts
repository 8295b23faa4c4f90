/**
 * @module server/server
 * The HTTP server: the API app, the built UI from `staticDir` with an SPA fallback, and the
 * WebSocket upgrade for live events (cookie and ownership checked before the handshake).
 * `createServer` wires the parts; `listen` and `close` are the whole lifecycle.
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { createAdaptorServer } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { WebSocketServer } from 'ws';
import type { PotatoConfig } from '../config/types.js';
import type { SessionManager } from '../session/types.js';
import type { Store } from '../store/types.js';
import { type ApiEnv, createApi } from './api.js';
import { Auth } from './auth.js';
import { LiveHub } from './live.js';
import type { WireOptions } from './wire.js';

export interface ServerDeps {
  config: PotatoConfig;
  store: Store;
  manager: SessionManager;
  /** The built UI (dist/web). Without it only the API is served. */
  staticDir?: string;
  /** Where internal errors are written (default: stderr). */
  log?: (message: string) => void;
  /** Unsent bytes a live socket may hold before it is dropped (default 8 MiB). */
  maxBufferedBytes?: number;
}

export interface PotatoServer {
  /** Listen; resolves with the bound address (port 0 picks a free one). */
  listen(port: number, host: string): Promise<{ port: number; host: string; url: string }>;
  /** Close every socket and stop listening. Does not stop sessions (the manager does). */
  close(): Promise<void>;
  readonly live: LiveHub;
  readonly app: Hono<ApiEnv>;
}

const EVENTS_PATH = /^\/api\/sessions\/([^/]+)\/events$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
const HEARTBEAT_MS = 30_000;

function refuseUpgrade(socket: Duplex, status: number, text: string, error: string, code: string): void {
  const body = JSON.stringify({ error, code });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** A page on another site must not open a socket with the annotator's cookie. */
function sameHost(origin: string | undefined, host: string | undefined): boolean {
  if (!origin) return true;
  if (!host) return false;
  let originHost: string;
  try {
    originHost = new URL(origin).hostname;
  } catch {
    return false;
  }
  const hostName = host.replace(/:\d+$/, '');
  return originHost === hostName || (LOOPBACK.has(originHost) && LOOPBACK.has(hostName));
}

export function createServer(deps: ServerDeps): PotatoServer {
  const { config, store, manager } = deps;
  const log = deps.log ?? ((m: string) => console.error(`[potato server] ${m}`));
  const streaming = config.live_coding_agent.streaming;
  const wire: WireOptions = {
    showThinking: streaming.show_thinking,
    showToolInputs: streaming.show_tool_inputs,
    bufferOutput: streaming.buffer_output,
  };
  const auth = new Auth(config.annotators);
  const live = new LiveHub(store, manager, {
    ...wire,
    intervalMs: streaming.update_interval_ms,
    maxBufferedBytes: deps.maxBufferedBytes,
  });
  const app = createApi({ config, store, manager, auth, live, wire, log });

  const root = new Hono<ApiEnv>();
  root.route('/', app);
  if (deps.staticDir) {
    const dir = path.resolve(deps.staticDir);
    const index = path.join(dir, 'index.html');
    if (!existsSync(index)) log(`no UI at ${dir} (index.html missing): run npm run build`);
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
  const alive = new WeakMap<object, boolean>();

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = EVENTS_PATH.exec(url.pathname);
    if (!match) return refuseUpgrade(socket, 404, 'Not Found', `no socket at ${url.pathname}`, 'not_found');
    if (!sameHost(req.headers.origin, req.headers.host)) {
      return refuseUpgrade(socket, 403, 'Forbidden', 'cross-site socket refused', 'forbidden');
    }
    const user = auth.userOfCookieHeader(req.headers.cookie);
    if (!user) {
      return refuseUpgrade(socket, 401, 'Unauthorized', 'not logged in: POST /api/login first', 'unauthorized');
    }
    const sessionId = decodeURIComponent(match[1]!);
    const session = store.getSession(sessionId);
    if (!session || session.annotator !== user) {
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
    wss.handleUpgrade(req, socket, head, (ws) => {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      live.attach(ws, sessionId, Number(afterRaw)).catch((err: unknown) => {
        log(`live stream of ${sessionId}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        ws.terminate();
      });
    });
  });

  // A browser that vanished without a close frame is found by a missed pong.
  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  return {
    live,
    app: root,
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
    close() {
      clearInterval(heartbeat);
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

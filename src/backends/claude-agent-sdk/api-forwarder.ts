/**
 * @module backends/claude-agent-sdk/api-forwarder
 * The only way out of a Docker session for Claude Code: an HTTP server on a Unix socket (its
 * folder is bind-mounted into the container; as the local sandbox's user, Claude Code reaches it
 * through a folder only that user's group may pass; the CLI sends its API requests there through
 * ANTHROPIC_UNIX_SOCKET) that forwards the Messages API calls, and nothing else, to the configured
 * API base URL. The API key is added here, on the host: the container holds only a placeholder,
 * so neither the CLI's environment nor anything the agent runs can read the real key.
 */
import { chmod, chown, lstat, unlink } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';

/** What the CLI needs (count_tokens only for its context accounting). */
const FORWARDED_PATHS = new Set(['/v1/messages', '/v1/messages/count_tokens']);

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the credentials this forwarder replaces. */
const DROPPED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'x-api-key',
  'authorization',
  'cookie',
]);

export interface ApiForwarderOptions {
  /** Host path of the Unix socket to listen on (its folder must exist). */
  socketPath: string;
  /** The API base URL requests go to, e.g. https://api.anthropic.com. */
  upstream: string;
  apiKey: string;
  /**
   * Members of this group may connect (the local sandbox's user, the server being root); without
   * it only the server's user may. The socket's folder decides who reaches it at all.
   */
  group?: number;
}

export interface ApiForwarder {
  close(): Promise<void>;
}

function errorBody(message: string): string {
  return JSON.stringify({ type: 'error', error: { type: 'permission_error', message } });
}

/** Listens on `socketPath` (replacing a stale socket left by a killed server) until close(). */
export async function startApiForwarder(opts: ApiForwarderOptions): Promise<ApiForwarder> {
  const base = new URL(opts.upstream);
  const prefix = base.pathname.replace(/\/+$/, '');
  const client = base.protocol === 'https:' ? https : http;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://socket');
    if (req.method !== 'POST' || !FORWARDED_PATHS.has(url.pathname)) {
      req.resume();
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end(
          errorBody(
            `Potato Live forwards only POST ${[...FORWARDED_PATHS].join(' and ')} to the model API, not ${req.method} ${url.pathname}`,
          ),
        );
      return;
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !DROPPED_HEADERS.has(name)) headers[name] = value;
    }
    headers['x-api-key'] = opts.apiKey;
    const upstream = client.request(
      {
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port || undefined,
        method: 'POST',
        path: `${prefix}${url.pathname}${url.search}`,
        headers,
      },
      (answer) => {
        const back: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (value !== undefined && !DROPPED_HEADERS.has(name)) back[name] = value;
        }
        res.writeHead(answer.statusCode ?? 502, back);
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (res.headersSent) return void res.destroy();
      res
        .writeHead(502, { 'content-type': 'application/json' })
        .end(errorBody(`the model API at ${base.origin} could not be reached: ${err.message}`));
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });

  await removeStaleSocket(opts.socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (opts.group !== undefined) {
    await chown(opts.socketPath, process.getuid?.() ?? 0, opts.group);
    await chmod(opts.socketPath, 0o660);
  }

  return {
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Already gone (or never made): nothing left to remove.
      await unlink(opts.socketPath).catch(() => undefined);
    },
  };
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  // Nothing at that path: no stale socket to remove.
  const st = await lstat(socketPath).catch(() => null);
  if (st?.isSocket()) await unlink(socketPath);
}

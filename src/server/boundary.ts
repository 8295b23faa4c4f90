/**
 * @module server/boundary
 * What keeps other pages from driving the API with the annotator's cookie. The cookie is
 * SameSite=Strict, but "same site" includes every other port of the host (a dev server, a
 * notebook, anything on 127.0.0.1), so the browser alone does not separate them. Here:
 *
 * - `Origin` must be this server's own origin (scheme, host and port exactly, taken from
 *   `Host`) or one of `allowed_origins` on every state-changing request and socket upgrade;
 * - `Sec-Fetch-Site`, where the browser sends it, must say `same-origin` for the API;
 * - a state-changing API request may carry only `application/json`, which a form cannot send
 *   and a page on another origin can send only after a CORS preflight that this server never
 *   answers;
 * - every answer carries security headers (CSP without inline script, no framing, nosniff).
 *
 * A request with neither `Origin` nor `Sec-Fetch-Site` comes from a program (curl, the tests),
 * not a browser page: every browser this UI runs in sends `Origin` on POST, PUT, PATCH, DELETE
 * and WebSocket requests. It passes the origin check; the JSON rule still holds for it, which
 * also covers an old browser's form post (a form always has a non-JSON content type).
 */
import type { MiddlewareHandler } from 'hono';
import { type ApiError, ForbiddenError, UnsupportedMediaTypeError } from './errors.js';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Scripts and styles only from this origin (Vite emits no inline script; React sets `style`
 * through the CSSOM, which CSP allows); sockets and fetches only to this origin (`'self'`
 * covers ws: and wss: of the same host); never framed.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Sent with every answer: pages, API, assets, errors and refused socket upgrades. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export function setSecurityHeaders(headers: Headers): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers.set(name, value);
}

export interface RequestFacts {
  method: string;
  /** The request's `Host` header. */
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
}

/**
 * Decides whether a request may act for the logged-in annotator. `allowed` holds extra
 * origins (config `allowed_origins`, already in the form a browser sends).
 */
export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>;

  constructor(allowed: readonly string[]) {
    this.allowed = new Set(allowed);
  }

  /** The origin a browser shows for a page of this server reached through `host`. */
  private ownOrigin(host: string | undefined): string | undefined {
    if (!host) return undefined;
    try {
      return new URL(`http://${host}`).origin;
    } catch {
      // A Host header that is not a host: no own origin, so a cross-site check cannot pass on it.
      return undefined;
    }
  }

  private trusted(origin: string, host: string | undefined): boolean {
    return origin === this.ownOrigin(host) || this.allowed.has(origin);
  }

  /**
   * Undefined when the request may go on, else why not. `upgrade` marks the WebSocket
   * handshake, which is checked like a state-changing request.
   */
  refusal(req: RequestFacts, opts: { api: boolean; upgrade?: boolean }): ForbiddenError | undefined {
    const changing = opts.upgrade === true || STATE_CHANGING.has(req.method.toUpperCase());
    const { origin, secFetchSite: site } = req;
    if (changing && origin !== undefined && !this.trusted(origin, req.host)) {
      const own = this.ownOrigin(req.host) ?? 'unknown (no Host header)';
      return new ForbiddenError(
        `cross-origin request refused: Origin ${origin} is not this site (${own}); a reverse proxy's public origin goes in allowed_origins`,
      );
    }
    if ((opts.api || changing) && site !== undefined && site !== 'same-origin') {
      // A navigation typed by the user (`none`) may open a page, never act; an extra origin was
      // allowed on purpose by the config, so its requests may be same-site or cross-site.
      const navigation = site === 'none' && !changing;
      const allowedOrigin = origin !== undefined && this.trusted(origin, req.host);
      if (!navigation && !allowedOrigin) {
        return new ForbiddenError(`cross-origin request refused: Sec-Fetch-Site is ${site}, not same-origin`);
      }
    }
    return undefined;
  }
}

/** The media type of a Content-Type header, lower case, without parameters. */
function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

/**
 * The JSON API reads only JSON: a state-changing request with a body, or with any content
 * type, must say `application/json`. Undefined when it does.
 */
export function jsonBodyRefusal(req: {
  method: string;
  contentType: string | undefined;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
}): UnsupportedMediaTypeError | undefined {
  if (!STATE_CHANGING.has(req.method.toUpperCase())) return undefined;
  const hasBody = (req.contentLength !== undefined && req.contentLength !== '0') || req.transferEncoding !== undefined;
  if (req.contentType === undefined) {
    return hasBody ? new UnsupportedMediaTypeError('no Content-Type') : undefined;
  }
  return mediaType(req.contentType) === 'application/json' ? undefined : new UnsupportedMediaTypeError(req.contentType);
}

/** The hono middleware that applies the boundary to every request and answer. */
export function boundary(
  policy: OriginPolicy,
  refuse: (err: ApiError, c: Parameters<MiddlewareHandler>[0]) => Response,
): MiddlewareHandler {
  return async (c, next) => {
    const api = c.req.path === '/api' || c.req.path.startsWith('/api/');
    const err =
      policy.refusal(
        {
          method: c.req.method,
          host: c.req.header('host'),
          origin: c.req.header('origin'),
          secFetchSite: c.req.header('sec-fetch-site'),
        },
        { api },
      ) ??
      (api
        ? jsonBodyRefusal({
            method: c.req.method,
            contentType: c.req.header('content-type'),
            contentLength: c.req.header('content-length'),
            transferEncoding: c.req.header('transfer-encoding'),
          })
        : undefined);
    if (err) {
      const res = refuse(err, c);
      setSecurityHeaders(res.headers);
      return res;
    }
    await next();
    setSecurityHeaders(c.res.headers);
  };
}

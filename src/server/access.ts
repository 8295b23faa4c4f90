/**
 * @module server/access
 * Who may read and who may change a session. The owner does both; a lead (`role: lead`) reads
 * every session but changes none but their own; anyone else is told the session does not exist.
 * `sessionGuard` checks it once for every route under /api/sessions/:id: reads (GET, HEAD) need
 * `see`, every other method `own`; the route then takes the session from the context.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { PotatoConfig } from '../config/types.js';
import type { SessionRecord, Store } from '../store/types.js';
import { ForbiddenError, NotFoundError } from './errors.js';

export interface SessionAccess {
  isLead(user: string): boolean;
  /** The session if `user` may read it (owner or lead), else NotFoundError. */
  see(id: string, user: string): Promise<SessionRecord>;
  /** The session if `user` owns it; a lead gets ForbiddenError (read-only), anyone else NotFoundError. */
  own(id: string, user: string): Promise<SessionRecord>;
}

export function sessionAccess(annotators: PotatoConfig['annotators'], store: Store): SessionAccess {
  const leads = new Set(annotators.filter((a) => a.role === 'lead').map((a) => a.username));
  const isLead = (user: string): boolean => leads.has(user);
  const see = async (id: string, user: string): Promise<SessionRecord> => {
    const s = await store.getSession(id);
    if (!s || (s.annotator !== user && !isLead(user))) throw new NotFoundError(`no session ${id}`);
    return s;
  };
  return {
    isLead,
    see,
    async own(id, user) {
      const s = await see(id, user);
      if (s.annotator !== user) throw new ForbiddenError(`read-only: only ${s.annotator} can change this session`);
      return s;
    },
  };
}

/** What the API's routes find in their context: the user, and under /api/sessions/:id the session. */
export type ApiEnv = { Variables: { user: string; session?: SessionRecord } };

const READS = new Set(['GET', 'HEAD']);

/** For /api/sessions/:id and below: the session, if the user may read it (GET) or change it (other methods). */
export function sessionGuard(access: SessionAccess): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const check = READS.has(c.req.method) ? access.see : access.own;
    c.set('session', await check(c.req.param('id') ?? '', c.get('user')));
    await next();
  };
}

/** The session sessionGuard let through (a route outside /api/sessions/:id has none). */
export function guardedSession(c: Context<ApiEnv>): SessionRecord {
  const s = c.get('session');
  if (!s) throw new Error(`${c.req.method} ${c.req.path} reads a session, but sessionGuard does not cover it`);
  return s;
}

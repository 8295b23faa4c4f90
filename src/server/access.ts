/**
 * @module server/access
 * Who may read and who may change a session. The owner does both; a lead (`role: lead`) reads
 * every session but changes none but their own; anyone else is told the session does not exist.
 */
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

/**
 * @module server/approvals
 * permission_mode ask (and restricted) for a backend that runs its own loop: the tool calls waiting
 * for the annotator, and the route that approves, edits or denies one. Registered by the API
 * after its login middleware, so `user` is set.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import type { Approvals } from '../session/driver.js';
import { ControlError, type SessionManager } from '../session/types.js';
import type { SessionAccess } from './access.js';
import { BadRequestError, NotFoundError } from './errors.js';

const decisionBody = z.object({
  allow: z.boolean(),
  input: z.record(z.string(), z.unknown()).optional(),
  message: z.string().optional(),
});

export interface ApprovalDeps {
  access: SessionAccess;
  manager: SessionManager;
}

export function registerApprovals(app: Hono<{ Variables: { user: string } }>, deps: ApprovalDeps): void {
  /** `check` is access.see for reading the waiting calls, access.own for deciding one. */
  const approvalsOf = async (id: string, user: string, check: SessionAccess['see']): Promise<Approvals> => {
    const s = await check(id, user);
    const controls = deps.manager.get(id);
    if (!controls) throw new ControlError(`session ${id} is not running (it is ${s.status})`, 'invalid_state');
    const capability = controls.capability;
    if (capability.kind !== 'own-loop') {
      throw new NotFoundError(
        `session ${id} has no tool calls waiting: approvals exist only for a backend that runs its own loop (${s.backend} does not)`,
      );
    }
    return capability.approvals;
  };

  app.get('/api/sessions/:id/approvals', async (c) =>
    c.json((await approvalsOf(c.req.param('id'), c.get('user'), deps.access.see)).pending()),
  );

  app.post('/api/sessions/:id/approvals/:callId', async (c) => {
    const approvals = await approvalsOf(c.req.param('id'), c.get('user'), deps.access.own);
    let raw: unknown;
    try {
      const text = await c.req.text();
      raw = text ? JSON.parse(text) : {};
    } catch (err) {
      throw new BadRequestError('the request body is not valid JSON', { cause: err });
    }
    const decision = decisionBody.parse(raw);
    await approvals.approve(c.req.param('callId'), decision, c.get('user'));
    return c.body(null, 204);
  });
}

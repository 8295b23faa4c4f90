/**
 * @module server/results
 * Taking a session's result home: where its workspace is and the `git log` that shows its
 * checkpoints (GET /api/sessions/:id/result), and any branch's patch from the session's base
 * as a download (GET /api/sessions/:id/branches/:name/patch). Its owner or a lead (the API's
 * sessionGuard checks).
 */
import { Hono } from 'hono';
import type { CheckpointReader } from '../checkpoints/types.js';
import { branchResult, ResultError, resultPatch } from '../results/branch-result.js';
import type { SessionRecord, Store } from '../store/types.js';
import { type ApiEnv, guardedSession } from './access.js';
import { BadRequestError, NotFoundError } from './errors.js';

/** A shell word: the path as it is when it is plain, else single-quoted. */
const shellWord = (s: string) => (/^[\w./@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export function resultRoutes(deps: {
  store: Store;
  /** The session's checkpoints, read-only (the engine's: manager.checkpoints). */
  checkpointsOf: (session: SessionRecord) => CheckpointReader;
}): Hono<ApiEnv> {
  const { store, checkpointsOf } = deps;
  const app = new Hono<ApiEnv>();

  app.get('/api/sessions/:id/result', async (c) => {
    const session = guardedSession(c);
    const branches = await store.listBranches(session.id);
    return c.json({
      workspace: session.workspace,
      base_commit: session.base_commit,
      branches: branches.map((b) => ({
        name: b.name,
        git_log: `git -C ${shellWord(session.workspace)} log --oneline ${shellWord(`potato/${session.id}/${b.git_ref}`)}`,
        patch_url: `/api/sessions/${encodeURIComponent(session.id)}/branches/${encodeURIComponent(b.name)}/patch`,
        apply_command: `potato apply ${shellWord(session.id)} --branch ${shellWord(b.name)} --repo PATH`,
      })),
    });
  });

  app.get('/api/sessions/:id/branches/:name/patch', async (c) => {
    const session = guardedSession(c);
    let result: Awaited<ReturnType<typeof branchResult>>;
    try {
      result = await branchResult(store, session, checkpointsOf(session), c.req.param('name'));
    } catch (err) {
      if (err instanceof ResultError) {
        throw session.base_commit ? new NotFoundError(err.message) : new BadRequestError(err.message);
      }
      throw err;
    }
    const patch = await resultPatch(result);
    const file = `${session.id}-${result.branch.name}.patch`.replace(/[^\w.-]/g, '_');
    c.header('Content-Type', 'text/x-diff; charset=utf-8');
    c.header('Content-Disposition', `attachment; filename="${file}"`);
    return c.body(patch);
  });

  return app;
}

/**
 * @module server/api
 * The JSON routes of docs/api.md as a hono app: login, the UI's config, sessions and their
 * controls, annotations, step labels, and the workspace at a checkpoint. Every route but login
 * needs a logged-in annotator, who sees and steers only their own sessions.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import { getCookie } from 'hono/cookie';
import { z } from 'zod';
import type { PotatoConfig } from '../config/types.js';
import { errField, type Logger } from '../log/logger.js';
import { liveLease } from '../session/lease.js';
import { ControlError, type SessionControls, type SessionManager } from '../session/types.js';
import { type SessionRecord, STEP_LABEL_VALUES, type Store } from '../store/types.js';
import { type ApiEnv, guardedSession, sessionAccess, sessionGuard } from './access.js';
import { registerApprovals } from './approvals.js';
import { type Auth, COOKIE_NAME, clearedCookie, sessionCookie } from './auth.js';
import { BadRequestError, errorAnswer, NotFoundError, TooManyAttemptsError, UnauthorizedError } from './errors.js';
import { leadRoutes } from './lead.js';
import type { LiveHub } from './live.js';
import { resultRoutes } from './results.js';
import { ratingScheme, summarize } from './summaries.js';
import { type WireOptions, wirePreview, wireStep } from './wire.js';
import { readFileAt, resolveCheckpoint } from './workspace-files.js';

export type { ApiEnv } from './access.js';

export interface ApiDeps {
  config: PotatoConfig;
  store: Store;
  manager: SessionManager;
  auth: Auth;
  live: LiveHub;
  wire: WireOptions;
  logger: Logger;
  /**
   * This process's lease owner id, on a store several replicas share: a control for a session
   * another live replica runs is forwarded to it (Store.forwardRequest).
   */
  ownerId?: string;
  /** How long to wait for the owning replica's answer (default FORWARD_TIMEOUT_MS). */
  forwardTimeoutMs?: number;
}

/** The routes that need the process running the session (its agent, its pending approvals). */
const OWNER_ROUTES = /^\/api\/sessions\/[^/]+\/(pause|resume|stop|instruction|rollback|continue|approvals(\/[^/]+)?)$/;
/** How long a replica waits for the one running the session to answer a forwarded control. */
export const FORWARD_TIMEOUT_MS = 15_000;

/** The env of a request the owning replica runs for another (never set by a network request). */
export interface ForwardedEnv {
  forwardedUser: string;
}
const forwardedUser = (env: unknown): string | undefined =>
  typeof env === 'object' && env !== null && typeof (env as ForwardedEnv).forwardedUser === 'string'
    ? (env as ForwardedEnv).forwardedUser
    : undefined;

const loginBody = z.object({ username: z.string(), password: z.string() });
const startBody = z.object({ task: z.string().trim().min(1, 'describe the task for the agent') });
const instructionBody = z.object({ text: z.string().trim().min(1, 'the instruction is empty') });
const rollbackBody = z.object({
  to_step_id: z.string().nullable(),
  reason: z.string().optional(),
  instruction: z.string().optional(),
  edited_tool_call: z.object({ name: z.string().min(1), input: z.record(z.string(), z.unknown()) }).optional(),
  branch: z.boolean().optional(),
});
const continueBody = z.object({ instruction: z.string().optional() });
const annotationsBody = z.object({
  branch_id: z.string().nullable(),
  answers: z.record(z.string(), z.unknown()),
});
const labelBody = z.object({ label: z.enum(STEP_LABEL_VALUES), first_error: z.boolean() });

/** Parse a JSON body; a missing or malformed body is the client's error, not ours. */
async function body<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  let raw: unknown;
  const text = await req.text();
  try {
    raw = text.length === 0 ? {} : JSON.parse(text);
  } catch (err) {
    throw new BadRequestError('the request body is not valid JSON', { cause: err });
  }
  return schema.parse(raw);
}

export function createApi(deps: ApiDeps): Hono<ApiEnv> {
  const { config, store, manager, auth, live, wire, logger } = deps;
  const app = new Hono<ApiEnv>();
  /** Highest seq seen per session, so last_seq reads only the events since the previous call. */

  app.onError((err, c) => {
    const answer = errorAnswer(err);
    // Method and path only: bodies and headers (passwords, cookies) stay out of the log.
    const fields = { method: c.req.method, path: c.req.path, status: answer.status, code: answer.body.code };
    if (answer.internal) logger.error({ ...fields, err: errField(err) }, 'request failed');
    else logger.info(fields, `request refused: ${answer.body.error}`);
    if (err instanceof TooManyAttemptsError) c.header('Retry-After', String(err.retryAfterSeconds));
    return c.json(answer.body, answer.status);
  });

  // A session snapshot is megabytes of JSON text: gzip makes it a fraction of that on the wire.
  app.use('/api/*', compress());

  // Tasks, instructions and notes are text a person typed: 1 MiB is far more than enough.
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) => c.json({ error: 'the request body is over 1 MiB', code: 'too_large' }, 413),
    }),
  );

  app.post('/api/login', async (c) => {
    const { username, password } = await body(c.req.raw, loginBody);
    const address = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket
      ?.remoteAddress;
    const sid = await auth.login(username, password, address);
    if (!sid) throw new UnauthorizedError('wrong username or password');
    c.header('Set-Cookie', sessionCookie(sid));
    return c.json({ username });
  });

  app.use('/api/*', async (c, next) => {
    // A request forwarded by another replica comes with the user that replica logged in.
    const user = forwardedUser(c.env) ?? (await auth.userOf(getCookie(c, COOKIE_NAME)));
    if (!user) throw new UnauthorizedError();
    c.set('user', user);
    await next();
  });

  app.post('/api/logout', async (c) => {
    await auth.logout(getCookie(c, COOKIE_NAME));
    c.header('Set-Cookie', clearedCookie());
    return c.body(null, 204);
  });

  app.get('/api/me', (c) => {
    const user = c.get('user');
    const role = config.annotators.find((a) => a.username === user)?.role ?? 'annotator';
    return c.json({ username: user, role });
  });

  app.get('/api/config', (c) => {
    const lca = config.live_coding_agent;
    return c.json({
      project_name: config.project_name,
      backend: lca.backend,
      controls: lca.controls,
      branching: lca.branching,
      streaming: lca.streaming,
      annotation_schemes: config.annotation_schemes,
    });
  });

  // Reads accept the owner or a lead; every change only the owner (a lead gets 403, others 404).
  const access = sessionAccess(config.annotators, store);
  app.use('/api/sessions/:id/*', sessionGuard(access));

  // A control for a session another live replica runs goes to that replica, and its answer back.
  const { ownerId } = deps;
  const forwardTimeoutMs = deps.forwardTimeoutMs ?? FORWARD_TIMEOUT_MS;
  const forward = store.forwardRequest?.bind(store);
  app.use('/api/sessions/:id/*', async (c, next) => {
    if (!forward || !ownerId || forwardedUser(c.env) || !OWNER_ROUTES.test(c.req.path)) return next();
    const id = c.req.param('id') ?? '';
    if (manager.get(id)) return next();
    const lease = await liveLease(store, id, ownerId);
    if (!lease || lease.owner === ownerId) return next();
    const request = { method: c.req.method, path: c.req.path, body: await c.req.text(), user: c.get('user') };
    const answer = await forward(lease.owner, request, forwardTimeoutMs);
    if (!answer) {
      return c.json(
        {
          error: `the server running session ${id} did not answer within ${forwardTimeoutMs / 1000} s; if it stopped, the session is marked interrupted once its lease expires, and can be continued then`,
          code: 'unavailable',
        },
        503,
      );
    }
    return new Response(answer.status === 204 ? null : answer.body, {
      status: answer.status,
      headers: answer.contentType ? { 'content-type': answer.contentType } : {},
    });
  });

  const controlsOf = (s: SessionRecord): SessionControls => {
    const controls = manager.get(s.id);
    if (!controls) {
      throw new ControlError(
        `session ${s.id} is not running (it is ${s.status}): continue it with POST /api/sessions/${s.id}/continue`,
        'invalid_state',
      );
    }
    return controls;
  };

  app.get('/api/sessions', async (c) => {
    const sessions = (await store.listSessions({ annotator: c.get('user') })).reverse();
    return c.json(await Promise.all(sessions.map((s) => summarize(store, s, ratingScheme(config)))));
  });

  app.post('/api/sessions', async (c) => {
    const { task } = await body(c.req.raw, startBody);
    let id: string;
    try {
      id = (await manager.start({ task, annotator: c.get('user') })).id;
    } catch (err) {
      // The engine records a session that could not start (no Docker, a bad workspace) as failed,
      // with the reason: the annotator sees it like any other session.
      const failed = (err as { session?: SessionRecord }).session;
      if (failed?.id && failed.annotator === c.get('user'))
        return c.json((await store.getSession(failed.id)) ?? failed, 201);
      throw err;
    }
    live.resubscribe(id);
    const session = await store.getSession(id);
    if (!session) throw new Error(`manager.start returned session ${id}, which is not in the store`);
    return c.json(session, 201);
  });

  app.get('/api/sessions/:id', async (c) => {
    const seen = guardedSession(c);
    // All reads in one transaction: last_seq matches the snapshot exactly.
    const snapshot = await store.transaction(async (tx) => {
      const session = (await tx.getSession(seen.id)) ?? seen;
      const [steps, branches, interventions, annotations, labels, status_changes, last_seq] = await Promise.all([
        tx.listSteps(session.id),
        tx.listBranches(session.id),
        tx.listInterventions(session.id),
        tx.listAnnotations(session.id),
        tx.listStepLabels(session.id),
        tx.statusChanges(session.id),
        tx.lastSeq(session.id),
      ]);
      return { session, steps, branches, interventions, annotations, labels, status_changes, last_seq };
    });
    return c.json({ ...snapshot, steps: snapshot.steps.map((s) => wirePreview(s, wire)) });
  });

  app.get('/api/sessions/:id/steps/:stepId', async (c) => {
    const session = guardedSession(c);
    const stepId = c.req.param('stepId');
    const step = await store.getStep(stepId);
    if (!step || step.session_id !== session.id) throw new NotFoundError(`session ${session.id} has no step ${stepId}`);
    return c.json(wireStep(step, wire));
  });

  app.get('/api/sessions/:id/events', async (c) => {
    return c.json({ error: 'connect to this URL with a WebSocket', code: 'bad_request' }, 426);
  });

  app.post('/api/sessions/:id/pause', async (c) => {
    await controlsOf(guardedSession(c)).pause(c.get('user'));
    return c.body(null, 204);
  });

  app.post('/api/sessions/:id/resume', async (c) => {
    await controlsOf(guardedSession(c)).resume(c.get('user'));
    return c.body(null, 204);
  });

  app.post('/api/sessions/:id/stop', async (c) => {
    await controlsOf(guardedSession(c)).stop(c.get('user'));
    return c.body(null, 204);
  });

  app.post('/api/sessions/:id/instruction', async (c) => {
    const controls = controlsOf(guardedSession(c));
    const { text } = await body(c.req.raw, instructionBody);
    await controls.instruct(text, c.get('user'));
    return c.body(null, 204);
  });

  app.post('/api/sessions/:id/rollback', async (c) => {
    const session = guardedSession(c);
    const b = await body(c.req.raw, rollbackBody);
    // A finished or stopped session can be rolled back too: its controller is rebuilt first.
    const controls = manager.get(session.id) ?? (await manager.reopen(session.id));
    live.resubscribe(session.id);
    await controls.rollback({
      toStepId: b.to_step_id,
      reason: b.reason,
      instruction: b.instruction,
      editedToolCall: b.edited_tool_call,
      branch: b.branch,
      annotator: c.get('user'),
    });
    return c.body(null, 204);
  });

  app.post('/api/sessions/:id/continue', async (c) => {
    const session = guardedSession(c);
    const { instruction } = await body(c.req.raw, continueBody);
    await manager.resumeSession(session.id, c.get('user'), instruction);
    live.resubscribe(session.id);
    return c.body(null, 204);
  });

  registerApprovals(app, { access, manager });

  app.put('/api/sessions/:id/annotations', async (c) => {
    const { branch_id, answers } = await body(c.req.raw, annotationsBody);
    const mine = await manager.saveAnswers({
      sessionId: guardedSession(c).id,
      annotator: c.get('user'),
      branchId: branch_id,
      answers,
    });
    return c.json(mine);
  });

  app.put('/api/sessions/:id/labels/:stepId', async (c) => {
    const { label, first_error } = await body(c.req.raw, labelBody);
    const record = await manager.setLabel({
      sessionId: guardedSession(c).id,
      stepId: c.req.param('stepId'),
      annotator: c.get('user'),
      label,
      firstError: first_error,
    });
    return c.json(record);
  });

  app.delete('/api/sessions/:id/labels/:stepId', async (c) => {
    await manager.removeLabel({
      sessionId: guardedSession(c).id,
      stepId: c.req.param('stepId'),
      annotator: c.get('user'),
    });
    return c.body(null, 204);
  });

  app.get('/api/sessions/:id/tree', async (c) => {
    const session = guardedSession(c);
    const checkpoints = manager.checkpoints(session);
    const commit = await resolveCheckpoint(store, session, checkpoints, c.req.query('commit') || undefined);
    return c.json({ commit, files: await checkpoints.listFiles(commit) });
  });

  app.get('/api/sessions/:id/file', async (c) => {
    const session = guardedSession(c);
    const path = c.req.query('path');
    if (!path) throw new BadRequestError('give the file with ?path=');
    const checkpoints = manager.checkpoints(session);
    const commit = await resolveCheckpoint(store, session, checkpoints, c.req.query('commit') || undefined);
    return c.json(await readFileAt(checkpoints, commit, path));
  });

  app.route('/', resultRoutes({ store, checkpointsOf: (s) => manager.checkpoints(s) }));
  app.route('/', leadRoutes({ config, store }));

  app.all('/api/*', (c) => c.json({ error: `no route ${c.req.method} ${c.req.path}`, code: 'not_found' }, 404));

  return app;
}

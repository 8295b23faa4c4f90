/**
 * @module server/lead
 * The lead's overview: every annotator's sessions with their counts, read-only, and any export
 * format for the project or a filter of it, streamed as the same bytes `potato export --config`
 * writes.
 * For anyone whose role is not `lead` these routes do not exist (404), like another
 * annotator's session.
 */
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { z } from 'zod';
import { EXPORT_FORMATS } from '../config/schema.js';
import type { PotatoConfig } from '../config/types.js';
import { ExportError, FLATTENABLE, parseFormat, sessionLines } from '../export/index.js';
import { exportOptionsOf } from '../export/types.js';
import type { Store } from '../store/types.js';
import { type ApiEnv, sessionAccess } from './access.js';
import { BadRequestError, NotFoundError } from './errors.js';
import { ratingScheme, type SessionSummary, summarize } from './summaries.js';

const STATUSES = ['created', 'running', 'paused', 'stopped', 'finished', 'failed', 'interrupted'] as const;

/** The overview's filters, as query parameters (all optional). */
const filterQuery = z.strictObject({
  annotator: z.string().min(1).optional(),
  status: z.enum(STATUSES).optional(),
  rated: z.enum(['true', 'false']).optional(),
  labelled: z.enum(['complete', 'incomplete']).optional(),
  format: z.enum(EXPORT_FORMATS).optional(),
  flatten_branches: z.enum(['true', 'false']).optional(),
});
type FilterQuery = z.output<typeof filterQuery>;

function parseQuery(raw: Record<string, string>): FilterQuery {
  const r = filterQuery.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = issue.path.join('.') || 'query';
    throw new BadRequestError(`${key}: ${issue.message}`);
  }
  return r.data;
}

function matches(s: SessionSummary, q: FilterQuery): boolean {
  const complete = s.step_count > 0 && s.labelled_count === s.step_count;
  return (
    (!q.annotator || s.annotator === q.annotator) &&
    (!q.status || s.status === q.status) &&
    (!q.rated || (q.rated === 'true') === s.rated) &&
    (!q.labelled || (q.labelled === 'complete') === complete)
  );
}

export function leadRoutes(deps: { config: PotatoConfig; store: Store }): Hono<ApiEnv> {
  const { config, store } = deps;
  const { isLead } = sessionAccess(config.annotators, store);
  const app = new Hono<ApiEnv>();

  app.use('/api/lead/*', async (c, next) => {
    if (!isLead(c.get('user'))) throw new NotFoundError(`no route ${c.req.method} ${c.req.path}`);
    await next();
  });

  /** Sessions in store order (as `potato export` reads them), summarised, with the filter applied. */
  const selected = async (q: FilterQuery): Promise<SessionSummary[]> => {
    const rating = ratingScheme(config);
    const sessions = await store.listSessions();
    const summaries = await Promise.all(sessions.map((s) => summarize(store, s, rating)));
    return summaries.filter((s) => matches(s, q));
  };

  app.get('/api/lead/sessions', async (c) => {
    const q = parseQuery(c.req.query());
    const all = await selected({});
    const per = new Map<string, { annotator: string; sessions: number; rated: number; fully_labelled: number }>();
    for (const a of config.annotators)
      per.set(a.username, { annotator: a.username, sessions: 0, rated: 0, fully_labelled: 0 });
    for (const s of all) {
      const row = per.get(s.annotator) ?? { annotator: s.annotator, sessions: 0, rated: 0, fully_labelled: 0 };
      row.sessions++;
      if (s.rated) row.rated++;
      if (s.step_count > 0 && s.labelled_count === s.step_count) row.fully_labelled++;
      per.set(s.annotator, row);
    }
    return c.json({
      annotators: [...per.values()],
      sessions: all.filter((s) => matches(s, q)).reverse(),
      export_formats: EXPORT_FORMATS,
    });
  });

  app.get('/api/lead/export', async (c) => {
    const q = parseQuery(c.req.query());
    if (!q.format) throw new BadRequestError(`format: give one of ${EXPORT_FORMATS.join(', ')}`);
    let format: ReturnType<typeof parseFormat>;
    try {
      format = parseFormat(q.format);
      if (q.flatten_branches !== undefined && !FLATTENABLE.includes(format)) {
        throw new ExportError(`flatten_branches applies only to ${FLATTENABLE.join(', ')}`);
      }
    } catch (err) {
      if (err instanceof ExportError) throw new BadRequestError(err.message);
      throw err;
    }
    const sessions = await selected(q);
    // The project's export options, as `potato export --config` applies them.
    const opts = { ...exportOptionsOf(config), flattenBranches: q.flatten_branches === 'true' };
    const name = [format, q.annotator]
      .filter(Boolean)
      .join('-')
      .replace(/[^\w.-]/g, '_');
    c.header('Content-Type', 'application/x-ndjson; charset=utf-8');
    c.header('Content-Disposition', `attachment; filename="${name}.jsonl"`);
    // One session at a time, so a large project never sits whole in memory.
    return stream(c, async (out) => {
      for (const s of sessions) {
        let chunk = '';
        for await (const line of sessionLines(store, s.id, format, opts, s)) chunk += `${line}\n`;
        if (chunk) await out.write(chunk);
      }
    });
  });

  return app;
}

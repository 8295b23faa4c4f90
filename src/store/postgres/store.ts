/**
 * @module store/postgres/store
 * The Store on PostgreSQL (node-postgres `pg`): a connection pool, migrations applied at open in
 * one transaction under an advisory lock, and per-session event numbers from a counter row.
 *
 * Concurrency, which SQLite gets from its single writer:
 * - `appendEvent` is one statement that bumps the session's row in `event_counters` and inserts
 *   the event: the row stays locked until the transaction ends, so concurrent writers (in this
 *   process or another) queue behind it, and a rollback gives the number back. No gaps, no
 *   duplicates. Other replicas hear of it after it commits (`EventNotifier`).
 * - `transaction(fn)` checks one client out of the pool (the `tx` handle runs on it) and runs at
 *   REPEATABLE READ, so the reads in it see one snapshot (a session page's steps and its
 *   `last_seq` agree). When a concurrent transaction wrote a row this one then writes,
 *   PostgreSQL refuses it (serialization failure) and fn runs again from the start, on a fresh
 *   snapshot: fn must do nothing but store calls.
 * - The outer store used inside fn (from fn's own async flow) joins the transaction, as on SQLite.
 * - `acquireLease` inserts the lease or locks the existing row (`FOR UPDATE`) before deciding,
 *   so of two processes asking at once exactly one wins. `chargeLoginAttempt` does the same with a
 *   name's failed-login count, so parallel tries on several replicas are counted one by one.
 * The URL (and its password) is never logged or put in an error message.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { causeChain, reportIgnored } from '../../errors.js';
import type { SessionEvent, SessionEventBody, SessionStatus } from '../../session/events.js';
import type { Step } from '../../steps/types.js';
import { StoreError } from '../errors.js';
import { bodyOf, eventRow, restoreProblem } from '../event-row.js';
import type {
  Annotation,
  BranchRecord,
  ForwardedAnswer,
  ForwardedRequest,
  Intervention,
  LoginFailures,
  LoginRecord,
  SessionLease,
  SessionRecord,
  SessionRecords,
  StepLabel,
  Store,
} from '../types.js';
import { MIGRATIONS } from './migrations.js';

export interface PostgresStoreOptions {
  /** Put and look for the tables in this schema (it must exist); default: the server's search_path. */
  schema?: string;
  /** Most connections the pool opens (default 10). */
  maxConnections?: number;
}

/** The PostgreSQL Store, plus the schema version for diagnostics. */
export interface PostgresStore extends Store {
  schemaVersion(): Promise<number>;
}

type Row = Record<string, unknown>;
/** Runs one statement, on the pool or on a transaction's client. */
type Query = (text: string, values?: unknown[]) => Promise<pg.QueryResult<Row>>;

/**
 * Statements by name: PostgreSQL parses and plans a named statement once per connection and then
 * only binds and runs it, where an unnamed one is parsed and planned on every call (a good part of
 * the database's CPU for the store's small inserts and reads). Texts are the store's own,
 * a fixed set; past `NAMED_MAX` distinct texts (multi-row inserts of every size) they go unnamed.
 */
const named = new Map<string, string>();
const NAMED_MAX = 500;
function statement(text: string, values?: unknown[]): pg.QueryConfig {
  let name = named.get(text);
  if (name === undefined && named.size < NAMED_MAX) {
    name = `potato_${named.size}`;
    named.set(text, name);
  }
  return name === undefined ? { text, values } : { name, text, values };
}

/**
 * A transaction's statements, one after another on its client even when fn starts several at
 * once (`Promise.all` of reads): pg queues them itself today but deprecates relying on it.
 */
function serial(client: pg.PoolClient): Query {
  let last: Promise<unknown> = Promise.resolve();
  return (text, values) => {
    const run = last.then(() => client.query<Row>(statement(text, values)));
    // The caller gets this statement's failure; the next statement still runs after it.
    last = run.catch(() => undefined);
    return run;
  };
}

/**
 * How each column of a record is written: `json` columns (structured values, and free text, which
 * may hold a NUL: see migrations.ts) get JSON text (null stays SQL NULL),
 * the rest go as they are. Reading needs nothing: bigint comes back as a number (see `types`),
 * json parsed, boolean as boolean.
 */
type Columns<T> = Record<keyof T, 'json' | 'plain'>;

const SESSION: Columns<SessionRecord> = {
  id: 'plain',
  task: 'json',
  annotator: 'plain',
  backend: 'plain',
  backend_settings: 'json',
  status: 'plain',
  end_reason: 'json',
  workspace: 'plain',
  base_commit: 'plain',
  current_branch_id: 'plain',
  usage: 'json',
  created_at: 'plain',
  updated_at: 'plain',
};
const STEP: Columns<Step> = {
  id: 'plain',
  session_id: 'plain',
  parent_id: 'plain',
  step_idx: 'plain',
  type: 'plain',
  payload: 'json',
  author: 'plain',
  turn_id: 'plain',
  tool_call: 'json',
  tool_result: 'json',
  tool_is_error: 'plain',
  checkpoint: 'plain',
  changed_files: 'plain',
  usage: 'json',
  started_at: 'plain',
  ended_at: 'plain',
};
const BRANCH: Columns<BranchRecord> = {
  id: 'plain',
  session_id: 'plain',
  name: 'plain',
  fork_step_id: 'plain',
  parent_branch_id: 'plain',
  reason: 'json',
  head_step_id: 'plain',
  git_ref: 'plain',
  created_at: 'plain',
};
const INTERVENTION: Columns<Intervention> = {
  id: 'plain',
  session_id: 'plain',
  branch_id: 'plain',
  type: 'plain',
  after_step_id: 'plain',
  after_step: 'plain',
  content: 'json',
  annotator: 'plain',
  created_at: 'plain',
  followed_by: 'plain',
};
const ANNOTATION: Columns<Annotation> = {
  session_id: 'plain',
  annotator: 'plain',
  branch_id: 'plain',
  scheme: 'plain',
  value: 'json',
  updated_at: 'plain',
};
const LABEL: Columns<StepLabel> = {
  session_id: 'plain',
  step_id: 'plain',
  annotator: 'plain',
  label: 'plain',
  first_error: 'plain',
  updated_at: 'plain',
};
const LEASE: Columns<SessionLease> = {
  session_id: 'plain',
  owner: 'plain',
  heartbeat_at: 'plain',
  expires_at: 'plain',
};

const LOGIN: Columns<LoginRecord> = {
  id_hash: 'plain',
  username: 'plain',
  created_at: 'plain',
  last_seen_at: 'plain',
  expires_at: 'plain',
};

/** An events row as it is written (see store/event-row.ts). */
interface EventColumns {
  session_id: string;
  seq: number;
  at: number;
  body: Record<string, unknown>;
  step_id: string | null;
}
const EVENT: Columns<EventColumns> = {
  session_id: 'plain',
  seq: 'plain',
  at: 'plain',
  body: 'json',
  step_id: 'plain',
};
const LOGIN_FAILURES: Columns<LoginFailures> = {
  username: 'plain',
  address: 'plain',
  count: 'plain',
  last_at: 'plain',
  locked_until: 'plain',
};

const names = <T>(cols: Columns<T>): string[] => Object.keys(cols);
const list = <T>(cols: Columns<T>, prefix = ''): string =>
  names(cols)
    .map((c) => `${prefix}${c}`)
    .join(', ');
const param = (kind: 'json' | 'plain', v: unknown): unknown =>
  kind === 'json' ? (v === null || v === undefined ? null : JSON.stringify(v)) : (v ?? null);
const params = <T>(cols: Columns<T>, record: T): unknown[] =>
  (Object.entries(cols) as [keyof T, 'json' | 'plain'][]).map(([c, kind]) => param(kind, record[c]));
const fromRow = <T>(cols: Columns<T>, r: Row): T => Object.fromEntries(names(cols).map((c) => [c, r[c] ?? null])) as T;
const insertSql = <T>(table: string, cols: Columns<T>): string =>
  `INSERT INTO ${table} (${list(cols)}) VALUES (${names(cols)
    .map((_, i) => `$${i + 1}`)
    .join(', ')})`;

/** Most parameters one statement may carry (the protocol counts them in 16 bits). */
const MAX_PARAMS = 65_535;

/** Insert `records` with as few statements as the parameter limit allows, rows in their order. */
async function insertMany<T>(query: Query, table: string, cols: Columns<T>, records: readonly T[]): Promise<void> {
  const width = names(cols).length;
  const per = Math.floor(MAX_PARAMS / width);
  for (let at = 0; at < records.length; at += per) {
    const chunk = records.slice(at, at + per);
    const rows = chunk.map(
      (_, r) =>
        `(${names(cols)
          .map((_, c) => `$${r * width + c + 1}`)
          .join(', ')})`,
    );
    await query(
      `INSERT INTO ${table} (${list(cols)}) VALUES ${rows.join(', ')}`,
      chunk.flatMap((record) => params(cols, record)),
    );
  }
}

/** Builds `SET a = $2, b = $3` for the keys of `patch` that are columns (`$1` is the id). */
function setClause<T>(cols: Columns<T>, patch: Partial<T>): { sql: string; values: unknown[] } {
  const keys = (Object.keys(patch) as (keyof T & string)[]).filter(
    (k) => k in cols && k !== 'id' && patch[k] !== undefined,
  );
  return {
    sql: keys.map((k, i) => `${k} = $${i + 2}`).join(', '),
    values: keys.map((k) => param(cols[k], patch[k])),
  };
}

const annotationFromRow = (r: Row): Annotation => {
  const a = fromRow(ANNOTATION, r);
  return { ...a, branch_id: a.branch_id === '' ? null : a.branch_id };
};

/** Errors that mean "a concurrent transaction got there first": run the transaction again. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 20;
/** Random back-off before attempt n+1, growing to 250 ms, so writers that collided spread out. */
const backoffMs = (attempt: number): number => Math.random() * Math.min(250, 2 ** attempt);
/** Also when fn wrapped the failure in an error of its own (as the store copy does). */
const isRetryable = (err: unknown): boolean =>
  causeChain(err).some(
    (e) => typeof e === 'object' && e !== null && RETRYABLE.has((e as { code?: unknown }).code as string),
  );

/** bigint (oid 20) as a number: every bigint here is a millisecond time, a seq or a count, far below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** The NOTIFY channel of appended events; the payload is `session_id:seq`. */
const EVENTS_CHANNEL = 'potato_events';
/** A forwarded request waits in session_commands; the payload is `owner id`. */
const COMMANDS_CHANNEL = 'potato_commands';
/** A forwarded request was answered; the payload is its id. */
const ANSWERS_CHANNEL = 'potato_answers';
/** What a forwarded request that failed in the owner's hands answers (the details go to its log). */
const INTERNAL_ANSWER = { error: 'internal error: see the server log', code: 'internal' };
/** A forwarded request this old belongs to an asker that died (the wait is seconds): its row goes. */
const STALE_REQUEST_MS = 10 * 60 * 1000;
/** How often a waiting asker reads its answer's row besides the notification (one may be lost). */
const ANSWER_POLL_MS = 1000;
/** Wait before listening again after the listening connection broke. */
const RELISTEN_MS = 500;

const MIGRATION_LOCK = 0x706f7461; // 'pota': the advisory lock class of potato's migrations

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Two processes opening a fresh database at once: the second waits here, then finds it done.
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS potato_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at bigint NOT NULL
    )`);
    const applied = new Set(
      (await client.query<{ version: number }>('SELECT version FROM potato_migrations')).rows.map((r) => r.version),
    );
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO potato_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        Date.now(),
      ]);
    }
    await client.query('COMMIT');
    const newest = Math.max(0, ...applied);
    const known = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
    if (newest > known) {
      throw new StoreError(
        `the database was written by a newer version of potato (schema ${newest}, this one knows ${known}): upgrade potato`,
      );
    }
  } catch (err) {
    await client.query('ROLLBACK').catch((e: unknown) => reportIgnored(e, 'rolling back a failed migration'));
    throw err;
  } finally {
    client.release();
  }
}

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to others), shared by every
 * channel this process listens on. When the connection breaks it connects again and calls each
 * `onGap`: what was notified meanwhile is lost, and only the tables have it.
 */
class Listener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private stopped = false;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private readonly gaps = new Set<() => void>();

  constructor(
    private readonly url: string,
    /** Shown in pg_stat_activity, so an operator (or a test) can tell whose listener it is. */
    private readonly applicationName: string,
  ) {}

  async on(channel: string, handler: (payload: string) => void, onGap?: () => void): Promise<() => Promise<void>> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    if (onGap) this.gaps.add(onGap);
    const client = await this.connected();
    // Twice is harmless: LISTEN on a channel already listened to does nothing.
    await client.query(`LISTEN ${channel}`);
    return async () => {
      set.delete(handler);
      if (onGap) this.gaps.delete(onGap);
    };
  }

  private connected(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: this.url, types, application_name: this.applicationName });
    c.on('notification', (msg) => {
      for (const h of this.handlers.get(msg.channel) ?? []) h(msg.payload ?? '');
    });
    c.on('error', (err) => {
      reportIgnored(err, 'the PostgreSQL listening connection broke; listening again');
      void c.end().catch((e: unknown) => reportIgnored(e, 'closing a broken listening connection'));
      if (this.client === c) this.client = undefined;
      if (!this.stopped) setTimeout(() => this.again(), RELISTEN_MS).unref();
    });
    await c.connect();
    for (const channel of this.handlers.keys()) await c.query(`LISTEN ${channel}`);
    this.client = c;
    return c;
  }

  private again(): void {
    if (this.stopped) return;
    this.connected().then(
      () => {
        for (const g of this.gaps) g();
      },
      (err: unknown) => {
        reportIgnored(err, 'listening again on PostgreSQL failed; trying again');
        setTimeout(() => this.again(), RELISTEN_MS).unref();
      },
    );
  }

  async close(): Promise<void> {
    this.stopped = true;
    // A connection that failed to open has nothing to close (its failure went to whoever waited).
    const c = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await c?.end();
  }
}

/**
 * Tells the listening replicas which sessions have new events, after those events committed and
 * outside their transaction. PostgreSQL makes every transaction that notifies hold one lock, shared
 * by the whole cluster, until its commit is flushed to disk: notifying from the append itself let
 * one durable append commit at a time across all replicas. Here a notification is its own
 * transaction on its own connection with synchronous_commit off (the events it names are durable
 * already, so it holds that lock for microseconds), and it names each session once with its
 * highest seq: whatever is appended while one notification is on the wire goes in the next.
 * A notification that cannot be sent is tried again; if this process dies first, the session's next
 * event (its `interrupted`, written by the replica that finds the lease expired) wakes the watchers,
 * who read everything after what they have.
 */
class EventNotifier {
  private pending = new Map<string, number>();
  private sending: Promise<void> | null = null;
  private client: pg.Client | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    /** Shown in pg_stat_activity, like the listener's. */
    private readonly applicationName: string,
  ) {}

  appended(sessionId: string, seq: number): void {
    if (seq > (this.pending.get(sessionId) ?? 0)) this.pending.set(sessionId, seq);
    this.sending ??= this.drain().finally(() => {
      this.sending = null;
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const batch = this.pending;
      this.pending = new Map();
      try {
        const client = await this.connected();
        await client.query(
          statement(`SELECT pg_notify('${EVENTS_CHANNEL}', x) FROM unnest($1::text[]) AS x`, [
            [...batch].map(([sessionId, seq]) => `${sessionId}:${seq}`),
          ]),
        );
      } catch (err) {
        reportIgnored(err, 'notifying other replicas of new events failed; trying again');
        const c = this.client;
        this.client = undefined;
        void c?.end().catch((e: unknown) => reportIgnored(e, 'closing a broken notifying connection'));
        for (const [sessionId, seq] of batch) {
          if (seq > (this.pending.get(sessionId) ?? 0)) this.pending.set(sessionId, seq);
        }
        if (this.closed) return;
        await sleep(RELISTEN_MS);
      }
    }
  }

  private async connected(): Promise<pg.Client> {
    if (this.client) return this.client;
    const c = new pg.Client({ connectionString: this.url, types, application_name: this.applicationName });
    // A broken idle connection is found by the next query; without a listener it would end the process.
    c.on('error', (err) => reportIgnored(err, 'the PostgreSQL notifying connection broke'));
    await c.connect();
    await c.query('SET synchronous_commit TO off');
    this.client = c;
    return c;
  }

  /** Send what is pending (one try when the database is gone), then close the connection. */
  async close(): Promise<void> {
    this.closed = true;
    await this.sending;
    await this.client?.end();
    this.client = undefined;
  }
}

/** A message for an error from the driver that names where, never the URL. */
function openFailure(err: unknown, schema: string | undefined): StoreError {
  const why = err instanceof Error ? err.message : String(err);
  const where = schema ? ` (schema ${schema})` : '';
  return new StoreError(`cannot open the PostgreSQL store${where}: ${why}`, 'store_failed', { cause: err });
}

/** Put the request in for `owner`, wait for its answer (or the time), and remove the row. */
async function forwardRequest(
  pool: pg.Pool,
  listener: Listener,
  owner: string,
  request: ForwardedRequest,
  timeoutMs: number,
): Promise<ForwardedAnswer | null> {
  const id = randomUUID();
  let wake: () => void = () => undefined;
  const off = await listener.on(ANSWERS_CHANNEL, (payload) => {
    if (payload === id) wake();
  });
  const answerOf = async (): Promise<ForwardedAnswer | null> => {
    const r = await pool.query<{ answer: ForwardedAnswer | null }>(
      'SELECT answer FROM session_commands WHERE id = $1',
      [id],
    );
    return r.rows[0]?.answer ?? null;
  };
  try {
    await pool.query('DELETE FROM session_commands WHERE created_at < $1', [Date.now() - STALE_REQUEST_MS]);
    await pool.query(
      `WITH put AS (
        INSERT INTO session_commands (id, owner, request, created_at) VALUES ($1, $2, $3, $4) RETURNING owner
      ) SELECT pg_notify('${COMMANDS_CHANNEL}', owner) FROM put`,
      [id, owner, JSON.stringify(request), Date.now()],
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, ANSWER_POLL_MS));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      const answer = await answerOf();
      if (answer) return answer;
    }
  } finally {
    await off();
    // Answered, or withdrawn: a request nobody took is not run later.
    await pool.query('DELETE FROM session_commands WHERE id = $1', [id]);
  }
}

/** Take each request put in for `owner` (at once when notified, and those already waiting), run it, answer. */
async function serveRequests(
  pool: pg.Pool,
  listener: Listener,
  owner: string,
  run: (r: ForwardedRequest) => Promise<ForwardedAnswer>,
): Promise<() => Promise<void>> {
  let serving = Promise.resolve();
  let again = false;
  const takeAll = async (): Promise<void> => {
    // Claimed in one statement: a request is run once even if two wake-ups race.
    const taken = await pool.query<{ id: string; request: ForwardedRequest }>(
      `UPDATE session_commands SET claimed_at = $2 WHERE owner = $1 AND claimed_at IS NULL RETURNING id, request`,
      [owner, Date.now()],
    );
    await Promise.all(
      taken.rows.map(async ({ id, request }) => {
        const answer = await run(request).catch((err: unknown): ForwardedAnswer => {
          reportIgnored(err, 'a forwarded request failed; the asker is told so');
          return { status: 500, body: JSON.stringify(INTERNAL_ANSWER), contentType: 'application/json' };
        });
        await pool.query(
          `WITH done AS (UPDATE session_commands SET answer = $2 WHERE id = $1 RETURNING id)
            SELECT pg_notify('${ANSWERS_CHANNEL}', id) FROM done`,
          [id, JSON.stringify(answer)],
        );
      }),
    );
  };
  const wake = (): void => {
    if (again) return;
    again = true;
    serving = serving.then(() => {
      again = false;
      return takeAll().catch((err: unknown) => reportIgnored(err, 'running forwarded requests failed'));
    });
  };
  const off = await listener.on(
    COMMANDS_CHANNEL,
    (payload) => {
      if (payload === owner) wake();
    },
    wake,
  );
  // Requests put in before this listened.
  wake();
  return async () => {
    await off();
    await serving;
  };
}

/**
 * Connect to the database at `url`, apply any migrations it lacks and return the Store.
 * Never logs or throws the URL: it may hold a password.
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
  if (opts.schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(opts.schema)) {
    throw new StoreError(`schema ${JSON.stringify(opts.schema)}: expected letters, digits and _ only`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxConnections ?? 10,
    types,
    application_name: 'potato-live',
    // Set at connect, before any statement. Options in the URL replace these (say search_path there).
    ...(opts.schema !== undefined ? { options: `-c search_path=${opts.schema}` } : {}),
  });
  // An idle client whose connection breaks (the server restarted) is dropped by the pool; the
  // next query opens a new one. Without a listener the error would end the process.
  pool.on('error', (err) => reportIgnored(err, 'an idle PostgreSQL connection broke; the pool opens a new one'));
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end();
    throw err instanceof StoreError ? err : openFailure(err, opts.schema);
  }

  const sql = {
    insertSession: insertSql('sessions', SESSION),
    insertStep: insertSql('steps', STEP),
    insertBranch: insertSql('branches', BRANCH),
    insertIntervention: insertSql('interventions', INTERVENTION),
    upsertAnnotation: `${insertSql('annotations', ANNOTATION)}
      ON CONFLICT (session_id, annotator, branch_id, scheme)
      DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    upsertLabel: `${insertSql('step_labels', LABEL)}
      ON CONFLICT (session_id, step_id, annotator)
      DO UPDATE SET label = excluded.label, first_error = excluded.first_error, updated_at = excluded.updated_at`,
    // One statement: the counter row is locked until the transaction ends, the event goes in
    // with the number, and if the insert fails the counter's bump goes with it.
    appendEvent: `WITH next AS (
        INSERT INTO event_counters (session_id, last_seq) VALUES ($1, 1)
        ON CONFLICT (session_id) DO UPDATE SET last_seq = event_counters.last_seq + 1
        RETURNING last_seq
      )
      INSERT INTO events (session_id, seq, at, body, step_id) SELECT $1, last_seq, $2, $3, $4 FROM next
      RETURNING seq`,
    eventsAfter: `SELECT e.seq, e.at, e.body, ${list(STEP, 's.')}
      FROM events AS e LEFT JOIN steps AS s ON s.id = e.step_id
      WHERE e.session_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`,
  };

  /** Insert one event with the session's next seq (committed with whatever `query`'s transaction is). */
  const insertEvent = async (query: Query, sessionId: string, body: SessionEventBody, at: number) => {
    const { stored, stepId } = eventRow(body);
    const r = (await query(sql.appendEvent, [sessionId, at, JSON.stringify(stored), stepId])).rows[0];
    return { ...body, seq: r?.seq as number, session_id: sessionId, at } as SessionEvent;
  };

  /** The data operations on `db` (the pool, or a transaction's client); `atomic` runs fn as one unit on it. */
  const operations = (
    query: Query,
    atomic: <T>(fn: (query: Query) => Promise<T>) => Promise<T>,
    /** An event was appended: called once it is committed (at once outside a transaction). */
    appended: (sessionId: string, seq: number) => void,
  ): Omit<Store, 'transaction' | 'close'> => {
    const rows = async (text: string, values: unknown[] = []): Promise<Row[]> => (await query(text, values)).rows;
    const one = async (text: string, values: unknown[] = []): Promise<Row | null> =>
      (await rows(text, values))[0] ?? null;

    return {
      async createSession(s) {
        const now = Date.now();
        const rec: SessionRecord = { ...s, created_at: now, updated_at: now };
        await query(sql.insertSession, params(SESSION, rec));
        return rec;
      },
      async updateSession(id, patch) {
        const set = setClause(SESSION, { ...patch, created_at: undefined, updated_at: patch.updated_at ?? Date.now() });
        const r = await one(`UPDATE sessions SET ${set.sql} WHERE id = $1 RETURNING ${list(SESSION)}`, [
          id,
          ...set.values,
        ]);
        if (!r) throw new StoreError(`cannot update session ${id}: no such session`, 'not_found');
        return fromRow(SESSION, r);
      },
      async getSession(id) {
        const r = await one(`SELECT ${list(SESSION)} FROM sessions WHERE id = $1`, [id]);
        return r ? fromRow(SESSION, r) : null;
      },
      async listSessions(filter) {
        const found = filter?.annotator
          ? await rows(`SELECT ${list(SESSION)} FROM sessions WHERE annotator = $1 ORDER BY created_at, ord`, [
              filter.annotator,
            ])
          : await rows(`SELECT ${list(SESSION)} FROM sessions ORDER BY created_at, ord`);
        return found.map((r) => fromRow(SESSION, r));
      },

      async insertStep(step) {
        await query(sql.insertStep, params(STEP, step));
      },
      async getStep(id) {
        const r = await one(`SELECT ${list(STEP)} FROM steps WHERE id = $1`, [id]);
        return r ? fromRow(STEP, r) : null;
      },
      async listSteps(sessionId) {
        return (await rows(`SELECT ${list(STEP)} FROM steps WHERE session_id = $1 ORDER BY ord`, [sessionId])).map(
          (r) => fromRow(STEP, r),
        );
      },
      async listStepLinks(sessionId) {
        return (await rows('SELECT id, parent_id FROM steps WHERE session_id = $1 ORDER BY ord', [sessionId])).map(
          (r) => ({ id: r.id as string, parent_id: (r.parent_id as string | null) ?? null }),
        );
      },
      async countSteps(sessionId) {
        return (await one('SELECT COUNT(*) AS n FROM steps WHERE session_id = $1', [sessionId]))?.n as number;
      },
      async stepAtCheckpoint(sessionId, sha) {
        const r = await one(
          `SELECT ${list(STEP)} FROM steps WHERE session_id = $1 AND checkpoint = $2 ORDER BY ord LIMIT 1`,
          [sessionId, sha],
        );
        return r ? fromRow(STEP, r) : null;
      },

      async insertBranch(b) {
        await query(sql.insertBranch, params(BRANCH, b));
      },
      async updateBranch(id, patch) {
        const set = setClause(BRANCH, { head_step_id: patch.head_step_id, reason: patch.reason });
        const r = await query(`UPDATE branches SET ${set.sql || 'id = id'} WHERE id = $1`, [id, ...set.values]);
        if (r.rowCount === 0) throw new StoreError(`cannot update branch ${id}: no such branch`, 'not_found');
      },
      async getBranch(id) {
        const r = await one(`SELECT ${list(BRANCH)} FROM branches WHERE id = $1`, [id]);
        return r ? fromRow(BRANCH, r) : null;
      },
      async listBranches(sessionId) {
        return (
          await rows(`SELECT ${list(BRANCH)} FROM branches WHERE session_id = $1 ORDER BY created_at, ord`, [sessionId])
        ).map((r) => fromRow(BRANCH, r));
      },

      async insertIntervention(i) {
        await query(sql.insertIntervention, params(INTERVENTION, { ...i, followed_by: i.followed_by ?? null }));
      },
      async listInterventions(sessionId) {
        return (
          await rows(`SELECT ${list(INTERVENTION)} FROM interventions WHERE session_id = $1 ORDER BY created_at, ord`, [
            sessionId,
          ])
        ).map((r) => fromRow(INTERVENTION, r));
      },
      async settleInstructions(sessionId, followedBy) {
        await query(
          `UPDATE interventions SET followed_by = $2
            WHERE session_id = $1 AND type = 'instruction' AND followed_by IS NULL`,
          [sessionId, followedBy],
        );
      },
      async placeIntervention(id, at) {
        await query('UPDATE interventions SET after_step_id = $2, after_step = $3, followed_by = NULL WHERE id = $1', [
          id,
          at.after_step_id,
          at.after_step,
        ]);
      },

      async upsertAnnotation(a) {
        await query(sql.upsertAnnotation, params(ANNOTATION, { ...a, branch_id: a.branch_id ?? '' }));
      },
      async listAnnotations(sessionId) {
        return (
          await rows(`SELECT ${list(ANNOTATION)} FROM annotations WHERE session_id = $1 ORDER BY updated_at, ord`, [
            sessionId,
          ])
        ).map(annotationFromRow);
      },
      async upsertStepLabel(l) {
        await query(sql.upsertLabel, params(LABEL, l));
      },
      async deleteStepLabel(sessionId, stepId, annotator) {
        await query('DELETE FROM step_labels WHERE session_id = $1 AND step_id = $2 AND annotator = $3', [
          sessionId,
          stepId,
          annotator,
        ]);
      },
      async listStepLabels(sessionId) {
        return (
          await rows(`SELECT ${list(LABEL)} FROM step_labels WHERE session_id = $1 ORDER BY updated_at, ord`, [
            sessionId,
          ])
        ).map((r) => fromRow(LABEL, r));
      },

      async appendEvent(sessionId, body) {
        const event = await insertEvent(query, sessionId, body, Date.now());
        appended(sessionId, event.seq);
        return event;
      },
      async appendEvents(sessionId, bodies) {
        if (bodies.length === 0) return [];
        // Most batches hold one event: one statement, without BEGIN and COMMIT round trips.
        const at = Date.now();
        const events =
          bodies.length === 1
            ? [await insertEvent(query, sessionId, bodies[0]!, at)]
            : await atomic(async (q) => {
                const out: SessionEvent[] = [];
                for (const body of bodies) out.push(await insertEvent(q, sessionId, body, at));
                return out;
              });
        appended(sessionId, events[events.length - 1]!.seq);
        return events;
      },
      async eventsAfter(sessionId, seq, limit) {
        const found = await rows(sql.eventsAfter, [sessionId, seq, limit ?? null]);
        return found.map((r) => {
          const event = {
            ...(r.body as SessionEventBody),
            seq: r.seq,
            session_id: sessionId,
            at: r.at,
          } as SessionEvent;
          if (event.type === 'step') event.step = fromRow(STEP, r);
          return event;
        });
      },
      async statusChanges(sessionId) {
        // Kept by a trigger on events (migration 4): a range of the primary key, whatever the log's length.
        const found = await rows('SELECT at, status FROM status_changes WHERE session_id = $1 ORDER BY seq', [
          sessionId,
        ]);
        return found.map((r) => ({ at: r.at as number, status: r.status as SessionStatus }));
      },
      async lastSeq(sessionId) {
        const r = await one('SELECT last_seq FROM event_counters WHERE session_id = $1', [sessionId]);
        return (r?.last_seq as number | undefined) ?? 0;
      },

      async now() {
        const r = await one('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now');
        return Number(r?.now);
      },
      acquireLease: (sessionId, owner, now, expiresAt, ownerDead) =>
        atomic(async (q) => {
          const lease = [sessionId, owner, now, expiresAt];
          for (;;) {
            // Waits for a concurrent insert of the same lease to end, then does nothing if it committed.
            const inserted = await q(`${insertSql('session_leases', LEASE)} ON CONFLICT DO NOTHING`, lease);
            if (inserted.rowCount === 1) return { acquired: true as const };
            const r = (
              await q(`SELECT ${list(LEASE)} FROM session_leases WHERE session_id = $1 FOR UPDATE`, [sessionId])
            ).rows[0];
            // Released between the two statements: try the insert again.
            if (!r) continue;
            const held = fromRow(LEASE, r);
            if (held.owner !== owner && held.expires_at > now && !ownerDead(held.owner)) {
              return { acquired: false as const, held };
            }
            await q(
              'UPDATE session_leases SET owner = $2, heartbeat_at = $3, expires_at = $4 WHERE session_id = $1',
              lease,
            );
            return { acquired: true as const };
          }
        }),
      async renewLeases(owner, now, expiresAt) {
        return (
          await rows(
            'UPDATE session_leases SET heartbeat_at = $2, expires_at = $3 WHERE owner = $1 RETURNING session_id',
            [owner, now, expiresAt],
          )
        ).map((r) => r.session_id as string);
      },
      async releaseLease(sessionId, owner) {
        await query('DELETE FROM session_leases WHERE session_id = $1 AND owner = $2', [sessionId, owner]);
      },
      async getLease(sessionId) {
        const r = await one(`SELECT ${list(LEASE)} FROM session_leases WHERE session_id = $1`, [sessionId]);
        return r ? fromRow(LEASE, r) : null;
      },

      async createLogin(l) {
        await query(insertSql('logins', LOGIN), params(LOGIN, l));
      },
      async getLogin(idHash) {
        const r = await one(`SELECT ${list(LOGIN)} FROM logins WHERE id_hash = $1`, [idHash]);
        return r ? fromRow(LOGIN, r) : null;
      },
      async touchLogin(idHash, now, expiresAt) {
        await query('UPDATE logins SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1', [
          idHash,
          now,
          expiresAt,
        ]);
      },
      async deleteLogin(idHash) {
        return ((await query('DELETE FROM logins WHERE id_hash = $1', [idHash])).rowCount ?? 0) > 0;
      },
      async deleteExpiredLogins(now) {
        return (await rows('DELETE FROM logins WHERE expires_at <= $1 RETURNING id_hash', [now])).map(
          (r) => r.id_hash as string,
        );
      },
      async listLogins() {
        return (await rows(`SELECT ${list(LOGIN)} FROM logins`)).map((r) => fromRow(LOGIN, r));
      },

      restoreSession: (r: SessionRecords) =>
        atomic(async (q) => {
          await q(sql.insertSession, params(SESSION, r.session));
          await insertMany(q, 'steps', STEP, r.steps);
          await insertMany(q, 'branches', BRANCH, r.branches);
          await insertMany(
            q,
            'interventions',
            INTERVENTION,
            r.interventions.map((i) => ({ ...i, followed_by: i.followed_by ?? null })),
          );
          await insertMany(
            q,
            'annotations',
            ANNOTATION,
            r.annotations.map((a) => ({ ...a, branch_id: a.branch_id ?? '' })),
          );
          await insertMany(q, 'step_labels', LABEL, r.labels);
        }),
      restoreEvents: (sessionId, events) =>
        atomic(async (q) => {
          // The counter row is locked until the end, as appendEvent locks it.
          const counter = (await q('SELECT last_seq FROM event_counters WHERE session_id = $1 FOR UPDATE', [sessionId]))
            .rows[0];
          const problem = restoreProblem(sessionId, (counter?.last_seq as number | undefined) ?? 0, events);
          if (problem) throw new StoreError(problem);
          const last = events.at(-1);
          if (!last) return;
          await insertMany(
            q,
            'events',
            EVENT,
            events.map((e) => {
              const { stored, stepId } = eventRow(bodyOf(e));
              return { session_id: sessionId, seq: e.seq, at: e.at, body: stored, step_id: stepId };
            }),
          );
          await q(
            `INSERT INTO event_counters (session_id, last_seq) VALUES ($1, $2)
              ON CONFLICT (session_id) DO UPDATE SET last_seq = excluded.last_seq`,
            [sessionId, last.seq],
          );
        }),
      async tableCounts() {
        // Every table the migrations made in this schema; potato_migrations records them and is no content.
        const tables = await rows(
          `SELECT table_name AS name FROM information_schema.tables
            WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'potato_migrations'
            ORDER BY table_name`,
        );
        const counts: Record<string, number> = {};
        for (const { name } of tables) {
          const n = await one(`SELECT COUNT(*) AS n FROM "${String(name).replaceAll('"', '""')}"`);
          counts[String(name)] = n?.n as number;
        }
        return counts;
      },

      chargeLoginAttempt: (username, address, charge) =>
        atomic(async (q) => {
          const key = [username, address];
          for (;;) {
            // The row stays locked until the transaction ends: a concurrent charge waits, then reads this one's.
            const r = (
              await q(
                `SELECT ${list(LOGIN_FAILURES)} FROM login_failures WHERE username = $1 AND address = $2 FOR UPDATE`,
                key,
              )
            ).rows[0];
            const current = r ? fromRow(LOGIN_FAILURES, r) : null;
            const next = charge(current);
            if (!next) return { charged: false, failures: current };
            const failures = { ...next, username, address };
            if (current) {
              await q(
                'UPDATE login_failures SET count = $3, last_at = $4, locked_until = $5 WHERE username = $1 AND address = $2',
                params(LOGIN_FAILURES, failures),
              );
              return { charged: true, failures };
            }
            // Waits for a concurrent first charge of the same pair, and does nothing if it committed.
            const inserted = await q(
              `${insertSql('login_failures', LOGIN_FAILURES)} ON CONFLICT DO NOTHING`,
              params(LOGIN_FAILURES, failures),
            );
            if (inserted.rowCount === 1) return { charged: true, failures };
            // Another charge made the row first: decide again on it.
          }
        }),
      async clearLoginFailures(username, address) {
        await query('DELETE FROM login_failures WHERE username = $1 AND address = $2', [username, address]);
      },
      async forgetLoginFailures(before) {
        return (await query('DELETE FROM login_failures WHERE last_at < $1', [before])).rowCount ?? 0;
      },
    };
  };

  /** Run fn on one client between BEGIN and COMMIT; ROLLBACK and rethrow when anything fails. */
  const onClient = async <T>(begin: string, fn: (query: Query) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(begin);
      const value = await fn(serial(client));
      const done = await client.query('COMMIT');
      // COMMIT of a transaction a failed statement aborted answers ROLLBACK: fn caught that failure.
      if (done.command === 'ROLLBACK') {
        throw new StoreError('the transaction was rolled back: a statement in it failed and the failure was caught');
      }
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        // The connection itself is gone: the server ended the transaction; drop the client.
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  };

  const notifier = new EventNotifier(url, `potato-live notifier${opts.schema ? ` ${opts.schema}` : ''}`);
  const pooled = operations(
    (text, values) => pool.query<Row>(statement(text, values)),
    (fn) => onClient('BEGIN', fn),
    (sessionId, seq) => notifier.appended(sessionId, seq),
  );

  const listener = new Listener(url, `potato-live listener${opts.schema ? ` ${opts.schema}` : ''}`);
  let closed = false;
  return {
    ...pooled,
    watchEvents: (onAppend, onGap) =>
      listener.on(
        EVENTS_CHANNEL,
        (payload) => {
          const at = payload.lastIndexOf(':');
          const seq = Number(payload.slice(at + 1));
          if (at > 0 && Number.isInteger(seq)) onAppend(payload.slice(0, at), seq);
        },
        onGap,
      ),
    forwardRequest: (owner, request, timeoutMs) => forwardRequest(pool, listener, owner, request, timeoutMs),
    serveRequests: (owner, run) => serveRequests(pool, listener, owner, run),
    async schemaVersion() {
      const r = await pool.query<{ v: number | null }>('SELECT MAX(version) AS v FROM potato_migrations');
      return r.rows[0]?.v ?? 0;
    },
    async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          // Told to the other replicas only once committed (an attempt that fails appended nothing).
          const appended: [string, number][] = [];
          const value = await onClient('BEGIN ISOLATION LEVEL REPEATABLE READ', async (query) => {
            const tx: Store = {
              // Already in this transaction: statements on its client are atomic with the rest.
              ...operations(
                query,
                (inner) => inner(query),
                (sessionId, seq) => appended.push([sessionId, seq]),
              ),
              transaction: (inner) => inner(tx),
              close: async () => {
                throw new StoreError('cannot close the store inside a transaction');
              },
            };
            return await fn(tx);
          });
          for (const [sessionId, seq] of appended) notifier.appended(sessionId, seq);
          return value;
        } catch (err) {
          if (!isRetryable(err) || attempt >= MAX_ATTEMPTS) throw err;
          await sleep(backoffMs(attempt));
        }
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await notifier.close();
      await listener.close();
      await pool.end();
    },
  };
}

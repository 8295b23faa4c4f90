/**
 * @module store/sqlite/store
 * The Store on an embedded SQLite file (better-sqlite3): WAL journal, foreign keys on, every
 * statement prepared once at open, migrations applied in one transaction at open.
 *
 * Durability: in WAL mode a committed transaction is in the WAL file (the OS page cache) when
 * the call returns, so a crash of the process (SIGKILL, OOM, an uncaught error) loses nothing
 * at either `synchronous` level. What NORMAL gives up is the last transactions on a power loss
 * or kernel panic, because the WAL is only fsynced at checkpoints. The default is NORMAL, since
 * the server writes an event every `update_interval_ms` per live session and an fsync per event
 * would cost more than the rest of the write; pass `{ synchronous: 'FULL' }` to fsync the WAL on
 * every commit (survives power loss). See docs/exports.md, "Store durability".
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SessionEvent, SessionEventBody, SessionStatus } from '../../session/events.js';
import type { Step, StepPayload, TokenUsage, ToolCall } from '../../steps/types.js';
import { StoreError } from '../errors.js';
import { bodyOf, eventRow, restoreProblem } from '../event-row.js';
import type {
  Annotation,
  BranchRecord,
  Intervention,
  LoginFailures,
  LoginRecord,
  NewIntervention,
  SessionLease,
  SessionRecord,
  SessionRecords,
  StepLabel,
  StepLink,
  Store,
} from '../types.js';
import { MIGRATIONS } from './migrations.js';

/** How long a call waits for another transaction to end before it reports a misuse. */
const TX_WAIT_MS = 30_000;

export interface SqliteStoreOptions {
  /** NORMAL (default): survives any process crash. FULL: also survives power loss, slower writes. */
  synchronous?: 'NORMAL' | 'FULL';
  readonly?: boolean;
}

export { StoreError };

type Row = Record<string, unknown>;

const json = (v: unknown): string => JSON.stringify(v);
const parse = <T>(s: unknown): T => JSON.parse(s as string) as T;
const parseOrNull = <T>(s: unknown): T | null => (s == null ? null : (JSON.parse(s as string) as T));

function sessionFromRow(r: Row): SessionRecord {
  return {
    id: r.id as string,
    task: r.task as string,
    annotator: r.annotator as string,
    backend: r.backend as string,
    backend_settings: parse(r.backend_settings),
    status: r.status as SessionRecord['status'],
    end_reason: (r.end_reason as string | null) ?? null,
    workspace: r.workspace as string,
    base_commit: (r.base_commit as string | null) ?? null,
    current_branch_id: (r.current_branch_id as string | null) ?? null,
    usage: parse<TokenUsage>(r.usage),
    created_at: r.created_at as number,
    updated_at: r.updated_at as number,
  };
}

function sessionParams(s: SessionRecord): Row {
  return {
    ...s,
    backend_settings: json(s.backend_settings),
    usage: json(s.usage),
  };
}

export function stepFromRow(r: Row): Step {
  return {
    id: r.id as string,
    session_id: r.session_id as string,
    parent_id: (r.parent_id as string | null) ?? null,
    step_idx: r.step_idx as number,
    type: r.type as Step['type'],
    payload: parse<StepPayload>(r.payload),
    author: r.author as Step['author'],
    turn_id: (r.turn_id as string | null) ?? null,
    tool_call: parseOrNull<ToolCall>(r.tool_call),
    tool_result: (r.tool_result as string | null) ?? null,
    tool_is_error: r.tool_is_error === 1,
    checkpoint: (r.checkpoint as string | null) ?? null,
    changed_files: r.changed_files === 1,
    usage: parseOrNull<TokenUsage>(r.usage),
    started_at: r.started_at as number,
    ended_at: r.ended_at as number,
  };
}

function branchFromRow(r: Row): BranchRecord {
  return {
    id: r.id as string,
    session_id: r.session_id as string,
    name: r.name as string,
    fork_step_id: (r.fork_step_id as string | null) ?? null,
    parent_branch_id: (r.parent_branch_id as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    head_step_id: (r.head_step_id as string | null) ?? null,
    git_ref: r.git_ref as string,
    created_at: r.created_at as number,
  };
}

function interventionFromRow(r: Row): Intervention {
  return {
    id: r.id as string,
    session_id: r.session_id as string,
    branch_id: (r.branch_id as string | null) ?? null,
    type: r.type as Intervention['type'],
    after_step_id: (r.after_step_id as string | null) ?? null,
    after_step: (r.after_step as number | null) ?? null,
    content: (r.content as string | null) ?? null,
    annotator: r.annotator as string,
    created_at: r.created_at as number,
    followed_by: (r.followed_by as string | null) ?? null,
  };
}

function annotationFromRow(r: Row): Annotation {
  return {
    session_id: r.session_id as string,
    annotator: r.annotator as string,
    branch_id: r.branch_id === '' ? null : (r.branch_id as string),
    scheme: r.scheme as string,
    value: parse(r.value),
    updated_at: r.updated_at as number,
  };
}

function labelFromRow(r: Row): StepLabel {
  return {
    session_id: r.session_id as string,
    step_id: r.step_id as string,
    annotator: r.annotator as string,
    label: r.label as StepLabel['label'],
    first_error: r.first_error === 1,
    updated_at: r.updated_at as number,
  };
}

function migrate(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const applied = new Set(
    (db.prepare('SELECT version FROM migrations').all() as { version: number }[]).map((r) => r.version),
  );
  const record = db.prepare('INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)');
  // IMMEDIATE: two processes opening a fresh file at once must not both apply migration 1.
  db.transaction(() => {
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      if (db.prepare('SELECT 1 FROM migrations WHERE version = ?').get(m.version)) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }
  }).immediate();
  const newest = db.prepare('SELECT MAX(version) AS v FROM migrations').get() as { v: number | null };
  const known = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
  if ((newest.v ?? 0) > known) {
    throw new StoreError(
      `the database was written by a newer version of potato (schema ${newest.v}, this one knows ${known}): upgrade potato`,
    );
  }
}

/** The SQLite Store, plus the schema version for diagnostics. */
export interface SqliteStore extends Store {
  readonly path: string;
  schemaVersion(): number;
}

/**
 * Open (creating if needed) the store at dbPath — `<output.path>/potato.db` in a project.
 * The folder is created when missing.
 */
export function openSqliteStore(dbPath: string, opts: SqliteStoreOptions = {}): SqliteStore {
  if (!opts.readonly) fs.mkdirSync(path.dirname(path.resolve(dbPath)), { recursive: true });
  const db = new Database(dbPath, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  // Another process (the exporter, a second server) may hold the write lock for a moment.
  db.pragma('busy_timeout = 5000');
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
  }
  db.pragma('foreign_keys = ON');
  if (!opts.readonly) migrate(db);

  const q = {
    insertSession: db.prepare(`INSERT INTO sessions (id, task, annotator, backend, backend_settings, status,
        end_reason, workspace, base_commit, current_branch_id, usage, created_at, updated_at)
      VALUES (@id, @task, @annotator, @backend, @backend_settings, @status, @end_reason, @workspace,
        @base_commit, @current_branch_id, @usage, @created_at, @updated_at)`),
    updateSession: db.prepare(`UPDATE sessions SET task = @task, annotator = @annotator, backend = @backend,
        backend_settings = @backend_settings, status = @status, end_reason = @end_reason, workspace = @workspace,
        base_commit = @base_commit, current_branch_id = @current_branch_id, usage = @usage, updated_at = @updated_at
      WHERE id = @id`),
    getSession: db.prepare('SELECT * FROM sessions WHERE id = ?'),
    listSessions: db.prepare('SELECT * FROM sessions ORDER BY created_at, rowid'),
    listSessionsBy: db.prepare('SELECT * FROM sessions WHERE annotator = ? ORDER BY created_at, rowid'),

    insertStep: db.prepare(`INSERT INTO steps (id, session_id, parent_id, step_idx, type, payload, author, turn_id,
        tool_call, tool_result, tool_is_error, checkpoint, changed_files, usage, started_at, ended_at)
      VALUES (@id, @session_id, @parent_id, @step_idx, @type, @payload, @author, @turn_id, @tool_call, @tool_result,
        @tool_is_error, @checkpoint, @changed_files, @usage, @started_at, @ended_at)`),
    getStep: db.prepare('SELECT * FROM steps WHERE id = ?'),
    listSteps: db.prepare('SELECT * FROM steps WHERE session_id = ? ORDER BY rowid'),
    countSteps: db.prepare('SELECT COUNT(*) FROM steps WHERE session_id = ?').pluck(),
    listStepLinks: db.prepare('SELECT id, parent_id FROM steps WHERE session_id = ? ORDER BY rowid'),
    stepAtCheckpoint: db.prepare('SELECT * FROM steps WHERE session_id = ? AND checkpoint = ? ORDER BY rowid LIMIT 1'),

    insertBranch: db.prepare(`INSERT INTO branches (id, session_id, name, fork_step_id, parent_branch_id, reason,
        head_step_id, git_ref, created_at)
      VALUES (@id, @session_id, @name, @fork_step_id, @parent_branch_id, @reason, @head_step_id, @git_ref, @created_at)`),
    getBranch: db.prepare('SELECT * FROM branches WHERE id = ?'),
    updateBranch: db.prepare('UPDATE branches SET head_step_id = @head_step_id, reason = @reason WHERE id = @id'),
    listBranches: db.prepare('SELECT * FROM branches WHERE session_id = ? ORDER BY created_at, rowid'),

    insertIntervention: db.prepare(`INSERT INTO interventions (id, session_id, branch_id, type, after_step_id,
        after_step, content, annotator, created_at, followed_by)
      VALUES (@id, @session_id, @branch_id, @type, @after_step_id, @after_step, @content, @annotator, @created_at,
        @followed_by)`),
    settleInstructions: db.prepare(`UPDATE interventions SET followed_by = ?
      WHERE session_id = ? AND type = 'instruction' AND followed_by IS NULL`),
    listInterventions: db.prepare('SELECT * FROM interventions WHERE session_id = ? ORDER BY created_at, rowid'),
    placeIntervention: db.prepare(`UPDATE interventions
      SET after_step_id = @after_step_id, after_step = @after_step, followed_by = NULL WHERE id = @id`),

    upsertAnnotation: db.prepare(`INSERT INTO annotations (session_id, annotator, branch_id, scheme, value, updated_at)
      VALUES (@session_id, @annotator, @branch_id, @scheme, @value, @updated_at)
      ON CONFLICT (session_id, annotator, branch_id, scheme)
      DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
    listAnnotations: db.prepare('SELECT * FROM annotations WHERE session_id = ? ORDER BY updated_at'),

    upsertLabel: db.prepare(`INSERT INTO step_labels (session_id, step_id, annotator, label, first_error, updated_at)
      VALUES (@session_id, @step_id, @annotator, @label, @first_error, @updated_at)
      ON CONFLICT (session_id, step_id, annotator)
      DO UPDATE SET label = excluded.label, first_error = excluded.first_error, updated_at = excluded.updated_at`),
    deleteLabel: db.prepare('DELETE FROM step_labels WHERE session_id = ? AND step_id = ? AND annotator = ?'),
    listLabels: db.prepare('SELECT * FROM step_labels WHERE session_id = ? ORDER BY updated_at'),

    lastSeq: db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE session_id = ?').pluck(),
    getLease: db.prepare('SELECT * FROM session_leases WHERE session_id = ?'),
    putLease: db.prepare(`INSERT INTO session_leases (session_id, owner, heartbeat_at, expires_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at`),
    renewLeases: db.prepare(
      'UPDATE session_leases SET heartbeat_at = ?, expires_at = ? WHERE owner = ? RETURNING session_id',
    ),
    releaseLease: db.prepare('DELETE FROM session_leases WHERE session_id = ? AND owner = ?'),
    createLogin: db.prepare(`INSERT INTO logins (id_hash, username, created_at, last_seen_at, expires_at)
      VALUES (@id_hash, @username, @created_at, @last_seen_at, @expires_at)`),
    getLogin: db.prepare('SELECT * FROM logins WHERE id_hash = ?'),
    touchLogin: db.prepare('UPDATE logins SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?'),
    deleteLogin: db.prepare('DELETE FROM logins WHERE id_hash = ?'),
    deleteExpiredLogins: db.prepare('DELETE FROM logins WHERE expires_at <= ? RETURNING id_hash').pluck(),
    getLoginFailures: db.prepare('SELECT * FROM login_failures WHERE username = ? AND address = ?'),
    putLoginFailures: db.prepare(`INSERT INTO login_failures (username, address, count, last_at, locked_until)
      VALUES (@username, @address, @count, @last_at, @locked_until)
      ON CONFLICT (username, address) DO UPDATE SET count = excluded.count, last_at = excluded.last_at,
        locked_until = excluded.locked_until`),
    clearLoginFailures: db.prepare('DELETE FROM login_failures WHERE username = ? AND address = ?'),
    forgetLoginFailures: db.prepare('DELETE FROM login_failures WHERE last_at < ?'),
    insertEvent: db.prepare('INSERT INTO events (session_id, seq, at, body, step_id) VALUES (?, ?, ?, ?, ?)'),
    // Kept by a trigger on events (migration 6): a range of the primary key, whatever the log's length.
    statusChanges: db.prepare('SELECT at, status FROM status_changes WHERE session_id = ? ORDER BY seq'),
    eventsAfter: db.prepare(`SELECT e.seq, e.at, e.body, s.* FROM events AS e LEFT JOIN steps AS s ON s.id = e.step_id
      WHERE e.session_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`),
    schemaVersion: db.prepare('SELECT COALESCE(MAX(version), 0) FROM migrations').pluck(),
    listLogins: db.prepare('SELECT * FROM logins'),
    // Every table the migrations made; `migrations` records them and is no content.
    tables: db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'migrations' ORDER BY name",
      )
      .pluck(),
  };

  const getSession = (id: string): SessionRecord | null => {
    const r = q.getSession.get(id) as Row | undefined;
    return r ? sessionFromRow(r) : null;
  };

  const updateSession = db.transaction(
    (id: string, patch: Partial<Omit<SessionRecord, 'id' | 'created_at'>>): SessionRecord => {
      const cur = getSession(id);
      if (!cur) throw new StoreError(`cannot update session ${id}: no such session`, 'not_found');
      const next: SessionRecord = { ...cur, ...patch, id, created_at: cur.created_at };
      if (patch.updated_at === undefined) next.updated_at = Date.now();
      q.updateSession.run(sessionParams(next));
      return next;
    },
  );

  const updateBranch = db.transaction(
    (id: string, patch: Partial<Pick<BranchRecord, 'head_step_id' | 'reason'>>): void => {
      const r = q.getBranch.get(id) as Row | undefined;
      if (!r) throw new StoreError(`cannot update branch ${id}: no such branch`, 'not_found');
      const cur = branchFromRow(r);
      q.updateBranch.run({
        id,
        head_step_id: patch.head_step_id !== undefined ? patch.head_step_id : cur.head_step_id,
        reason: patch.reason !== undefined ? patch.reason : cur.reason,
      });
    },
  );

  // The seq is read and written inside one IMMEDIATE transaction: no other writer can take the
  // same number, and a failed insert leaves no gap. A step event keeps only its step's id.
  const insertEvent = (sessionId: string, body: SessionEventBody): SessionEvent => {
    const seq = (q.lastSeq.get(sessionId) as number) + 1;
    const at = Date.now();
    const row = eventRow(body);
    q.insertEvent.run(sessionId, seq, at, json(row.stored), row.stepId);
    return { ...body, seq, session_id: sessionId, at } as SessionEvent;
  };
  const appendEvent = db.transaction(insertEvent);
  // One transaction around the inserts (not one nested per event: a savepoint each).
  const appendEvents = db.transaction((sessionId: string, bodies: readonly SessionEventBody[]): SessionEvent[] =>
    bodies.map((body) => insertEvent(sessionId, body)),
  );

  const insertStep = (step: Step): void => {
    q.insertStep.run({
      ...step,
      payload: json(step.payload),
      tool_call: step.tool_call ? json(step.tool_call) : null,
      tool_is_error: step.tool_is_error ? 1 : 0,
      changed_files: step.changed_files ? 1 : 0,
      usage: step.usage ? json(step.usage) : null,
    });
  };
  const insertIntervention = (i: NewIntervention): void =>
    void q.insertIntervention.run({ ...i, followed_by: i.followed_by ?? null });
  const upsertAnnotation = (a: Annotation): void =>
    void q.upsertAnnotation.run({ ...a, branch_id: a.branch_id ?? '', value: json(a.value ?? null) });
  const upsertStepLabel = (l: StepLabel): void => void q.upsertLabel.run({ ...l, first_error: l.first_error ? 1 : 0 });

  const restoreSession = db.transaction((r: SessionRecords): void => {
    q.insertSession.run(sessionParams(r.session));
    for (const step of r.steps) insertStep(step);
    for (const b of r.branches) q.insertBranch.run(b);
    for (const i of r.interventions) insertIntervention(i);
    for (const a of r.annotations) upsertAnnotation(a);
    for (const l of r.labels) upsertStepLabel(l);
  });
  const restoreEvents = db.transaction((sessionId: string, events: SessionEvent[]): void => {
    const problem = restoreProblem(sessionId, q.lastSeq.get(sessionId) as number, events);
    if (problem) throw new StoreError(problem);
    for (const e of events) {
      const row = eventRow(bodyOf(e));
      q.insertEvent.run(sessionId, e.seq, e.at, json(row.stored), row.stepId);
    }
  });

  const eventFromRow = (sessionId: string, r: Row): SessionEvent => {
    const body = parse<SessionEventBody>(r.body);
    const event = { ...body, seq: r.seq as number, session_id: sessionId, at: r.at as number } as SessionEvent;
    if (event.type === 'step') event.step = stepFromRow(r);
    return event;
  };

  /** Every operation, synchronous; the Store below hands each out as a promise. */
  const ops: SyncOps = {
    createSession(s) {
      const now = Date.now();
      const rec: SessionRecord = { ...s, created_at: now, updated_at: now };
      q.insertSession.run(sessionParams(rec));
      return rec;
    },
    updateSession: (id, patch) => updateSession.immediate(id, patch),
    getSession,
    listSessions(filter) {
      const rows = (filter?.annotator ? q.listSessionsBy.all(filter.annotator) : q.listSessions.all()) as Row[];
      return rows.map(sessionFromRow);
    },

    insertStep,
    getStep(id) {
      const r = q.getStep.get(id) as Row | undefined;
      return r ? stepFromRow(r) : null;
    },
    listSteps: (sessionId) => (q.listSteps.all(sessionId) as Row[]).map(stepFromRow),
    countSteps: (sessionId) => q.countSteps.get(sessionId) as number,
    listStepLinks: (sessionId) => q.listStepLinks.all(sessionId) as StepLink[],
    stepAtCheckpoint(sessionId, sha) {
      const r = q.stepAtCheckpoint.get(sessionId, sha) as Row | undefined;
      return r ? stepFromRow(r) : null;
    },

    insertBranch: (b) => void q.insertBranch.run(b),
    updateBranch: (id, patch) => updateBranch.immediate(id, patch),
    getBranch(id) {
      const r = q.getBranch.get(id) as Row | undefined;
      return r ? branchFromRow(r) : null;
    },
    listBranches: (sessionId) => (q.listBranches.all(sessionId) as Row[]).map(branchFromRow),

    insertIntervention,
    listInterventions: (sessionId) => (q.listInterventions.all(sessionId) as Row[]).map(interventionFromRow),
    settleInstructions: (sessionId, followedBy) => void q.settleInstructions.run(followedBy, sessionId),
    placeIntervention: (id, at) =>
      void q.placeIntervention.run({ id, after_step_id: at.after_step_id, after_step: at.after_step }),

    upsertAnnotation,
    listAnnotations: (sessionId) => (q.listAnnotations.all(sessionId) as Row[]).map(annotationFromRow),
    upsertStepLabel,
    deleteStepLabel: (sessionId, stepId, annotator) => void q.deleteLabel.run(sessionId, stepId, annotator),
    listStepLabels: (sessionId) => (q.listLabels.all(sessionId) as Row[]).map(labelFromRow),

    appendEvent: (sessionId, body) => appendEvent.immediate(sessionId, body),
    appendEvents: (sessionId, bodies) => appendEvents.immediate(sessionId, bodies),
    eventsAfter: (sessionId, seq, limit) =>
      (q.eventsAfter.all(sessionId, seq, limit ?? -1) as Row[]).map((r) => eventFromRow(sessionId, r)),
    lastSeq: (sessionId) => q.lastSeq.get(sessionId) as number,
    statusChanges: (sessionId) => q.statusChanges.all(sessionId) as { at: number; status: SessionStatus }[],

    now: () => Date.now(),
    acquireLease: (sessionId, owner, now, expiresAt, ownerDead) =>
      db
        .transaction(() => {
          const held = q.getLease.get(sessionId) as SessionLease | undefined;
          if (held && held.owner !== owner && held.expires_at > now && !ownerDead(held.owner)) {
            return { acquired: false as const, held };
          }
          q.putLease.run(sessionId, owner, now, expiresAt);
          return { acquired: true as const };
        })
        .immediate(),
    renewLeases: (owner, now, expiresAt) =>
      (q.renewLeases.all(now, expiresAt, owner) as { session_id: string }[]).map((r) => r.session_id),
    releaseLease: (sessionId, owner) => void q.releaseLease.run(sessionId, owner),
    getLease: (sessionId) => (q.getLease.get(sessionId) as SessionLease | undefined) ?? null,

    createLogin: (l) => void q.createLogin.run(l),
    getLogin: (idHash) => (q.getLogin.get(idHash) as LoginRecord | undefined) ?? null,
    touchLogin: (idHash, now, expiresAt) => void q.touchLogin.run(now, expiresAt, idHash),
    deleteLogin: (idHash) => q.deleteLogin.run(idHash).changes > 0,
    deleteExpiredLogins: (now) => q.deleteExpiredLogins.all(now) as string[],
    listLogins: () => q.listLogins.all() as LoginRecord[],

    restoreSession: (records) => restoreSession.immediate(records),
    restoreEvents: (sessionId, events) => restoreEvents.immediate(sessionId, events),
    tableCounts() {
      const tables = q.tables.all() as string[];
      // Names from the schema itself, quoted as identifiers.
      return Object.fromEntries(
        tables.map((t) => [
          t,
          db
            .prepare(`SELECT COUNT(*) FROM "${t.replaceAll('"', '""')}"`)
            .pluck()
            .get() as number,
        ]),
      );
    },
    // Read, decide and write in one IMMEDIATE transaction: no other writer (process) comes between.
    chargeLoginAttempt: (username, address, charge) =>
      db
        .transaction(() => {
          const current = (q.getLoginFailures.get(username, address) as LoginFailures | undefined) ?? null;
          const next = charge(current);
          if (!next) return { charged: false, failures: current };
          const failures = { ...next, username, address };
          q.putLoginFailures.run(failures);
          return { charged: true, failures };
        })
        .immediate(),
    clearLoginFailures: (username, address) => void q.clearLoginFailures.run(username, address),
    forgetLoginFailures: (before) => q.forgetLoginFailures.run(before).changes,
  };

  // One connection: while a transaction is open (it may await between its statements), every
  // other call waits for it to end, so nothing outside it lands inside it. A call on this outer
  // store from inside fn (instead of its tx) would wait for itself: after TX_WAIT_MS it gives up
  // saying so. (No AsyncLocalStorage to tell the two apart: on Node 20 it makes every promise in
  // the process about twice as costly.)
  let open: Promise<void> | null = null;
  const overdue = (since: number) => {
    if (Date.now() - since < TX_WAIT_MS) return;
    throw new StoreError(
      `a store call waited ${TX_WAIT_MS / 1000} s for a transaction to end: inside a transaction, use its tx handle, not the store`,
    );
  };
  const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1000).unref());
  // Each waiter checks `open` again in the same turn as it goes on (no `await idle()` hop between):
  // several waiters wake when a transaction ends, and only the first may begin the next one.
  const handle = (waits: boolean): Store => {
    const store = {} as Record<string, unknown>;
    for (const [name, op] of Object.entries(ops) as [string, (...args: unknown[]) => unknown][]) {
      store[name] = waits
        ? async (...args: unknown[]) => {
            const since = Date.now();
            while (open !== null) {
              await Promise.race([open, tick()]);
              overdue(since);
            }
            return op(...args);
          }
        : async (...args: unknown[]) => op(...args);
    }
    return store as unknown as Store;
  };
  const outer = handle(true);
  const inner = handle(false);
  // Inside a transaction a nested one simply joins it.
  inner.transaction = (fn) => fn(inner);
  inner.close = async () => {
    throw new StoreError('cannot close the store inside a transaction');
  };

  let closed = false;
  return Object.assign(outer, {
    path: dbPath,
    schemaVersion: () => q.schemaVersion.get() as number,
    async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
      const since = Date.now();
      while (open !== null) {
        await Promise.race([open, tick()]);
        overdue(since);
      }
      let end!: () => void;
      open = new Promise<void>((r) => {
        end = r;
      });
      db.exec('BEGIN IMMEDIATE');
      try {
        const value = await fn(inner);
        db.exec('COMMIT');
        return value;
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      } finally {
        open = null;
        end();
      }
    },
    async close() {
      while (open !== null) await open;
      if (closed) return;
      closed = true;
      db.close();
    },
  });
}

/** The Store's data operations with their results unwrapped: what SQLite runs synchronously. */
type SyncOps = {
  [K in Exclude<
    keyof Store,
    'transaction' | 'close' | 'watchEvents' | 'forwardRequest' | 'serveRequests'
  >]: Store[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
};

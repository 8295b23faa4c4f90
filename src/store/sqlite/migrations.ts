/**
 * @module store/sqlite/migrations
 * Numbered schema migrations for the SQLite store. Each runs once, in the same transaction as
 * the row that records it in `migrations`; append new ones, never edit an applied one.
 */

import type { Migration } from '../types.js';

export type { Migration };

/**
 * Which stored events are session events and the status each holds: the test the store's
 * `statusChanges` ran over a session's whole log before migration 6 (a plain text search first,
 * so only the few candidate bodies are parsed as JSON). Migration 6 keeps it for the
 * `status_changes` trigger and backfill, so both take exactly what the scan took; `e` is the
 * events row. Part of an applied migration: never edit.
 */
const isSessionEvent = (e: string) =>
  `instr(${e}.body, '"type":"session"') > 0 AND json_extract(${e}.body, '$.type') = 'session'`;
const statusOf = (e: string) => `json_extract(${e}.body, '$.session.status')`;

/**
 * The query `statusChanges` ran before migration 6, word for word: every event of the session,
 * parsed where the text search matches. Kept as the reference the tests and the store benchmark
 * compare the `status_changes` table against.
 */
export const STATUS_SCAN_BEFORE_6 = `SELECT at, json_extract(body, '$.session.status') AS status FROM events
      WHERE session_id = ? AND instr(body, '"type":"session"') > 0 AND json_extract(body, '$.type') = 'session'
      ORDER BY seq`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        annotator TEXT NOT NULL,
        backend TEXT NOT NULL,
        backend_settings TEXT NOT NULL,
        status TEXT NOT NULL,
        end_reason TEXT,
        workspace TEXT NOT NULL,
        base_commit TEXT,
        current_branch_id TEXT,
        usage TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX sessions_annotator ON sessions(annotator, created_at);

      CREATE TABLE steps (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        parent_id TEXT REFERENCES steps(id),
        step_idx INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        author TEXT NOT NULL,
        turn_id TEXT,
        tool_call TEXT,
        tool_result TEXT,
        tool_is_error INTEGER NOT NULL,
        checkpoint TEXT,
        changed_files INTEGER NOT NULL,
        usage TEXT,
        started_at INTEGER NOT NULL,
        ended_at INTEGER NOT NULL
      );
      CREATE INDEX steps_session ON steps(session_id);
      CREATE INDEX steps_parent ON steps(parent_id);

      CREATE TABLE branches (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        name TEXT NOT NULL,
        fork_step_id TEXT REFERENCES steps(id),
        parent_branch_id TEXT REFERENCES branches(id),
        reason TEXT,
        head_step_id TEXT REFERENCES steps(id),
        git_ref TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (session_id, name)
      );

      CREATE TABLE interventions (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        branch_id TEXT REFERENCES branches(id),
        type TEXT NOT NULL,
        after_step_id TEXT REFERENCES steps(id),
        after_step INTEGER,
        content TEXT,
        annotator TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX interventions_session ON interventions(session_id);

      -- branch_id is '' for a session-level answer: NULLs are never equal in a UNIQUE key.
      CREATE TABLE annotations (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        annotator TEXT NOT NULL,
        branch_id TEXT NOT NULL,
        scheme TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, annotator, branch_id, scheme)
      ) WITHOUT ROWID;

      CREATE TABLE step_labels (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        step_id TEXT NOT NULL REFERENCES steps(id),
        annotator TEXT NOT NULL,
        label TEXT NOT NULL CHECK (label IN ('correct', 'incorrect', 'unsure')),
        first_error INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, step_id, annotator)
      ) WITHOUT ROWID;

      CREATE TABLE events (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'what followed each instruction',
    // Sessions recorded before this knew only where an instruction was given, not which path it
    // belongs to. The best reading of their log: the first step taken from that position after
    // it, unless a rollback or branch came first; else the first rollback or branch after it.
    sql: `
      ALTER TABLE interventions ADD COLUMN followed_by TEXT;

      UPDATE interventions AS iv SET followed_by = (
        SELECT s.id FROM steps AS s
        WHERE s.session_id = iv.session_id AND s.parent_id IS iv.after_step_id AND s.ended_at >= iv.created_at
          AND NOT EXISTS (
            SELECT 1 FROM interventions AS rb
            WHERE rb.session_id = iv.session_id AND rb.type IN ('rollback', 'branch')
              AND rb.rowid > iv.rowid AND rb.created_at <= s.ended_at
          )
        ORDER BY s.rowid LIMIT 1
      )
      WHERE iv.type = 'instruction';

      UPDATE interventions AS iv SET followed_by = (
        SELECT rb.id FROM interventions AS rb
        WHERE rb.session_id = iv.session_id AND rb.type IN ('rollback', 'branch') AND rb.rowid > iv.rowid
        ORDER BY rb.rowid LIMIT 1
      )
      WHERE iv.type = 'instruction' AND iv.followed_by IS NULL;
    `,
  },
  {
    version: 3,
    name: 'session leases: which server process runs a session',
    sql: `
      CREATE TABLE session_leases (
        session_id TEXT PRIMARY KEY REFERENCES sessions(id),
        owner TEXT NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX session_leases_owner ON session_leases (owner);
    `,
  },
  {
    version: 4,
    name: 'a step payload stored once; checkpoint lookups by index',
    // A step event keeps only its step's id: the step row is the one copy of the payload, and
    // the event is put back together on read (see eventsAfter).
    sql: `
      ALTER TABLE events ADD COLUMN step_id TEXT;
      UPDATE events SET step_id = json_extract(body, '$.step.id'), body = json_remove(body, '$.step')
        WHERE json_extract(body, '$.type') = 'step';
      CREATE INDEX steps_checkpoint ON steps(session_id, checkpoint);
    `,
  },
  {
    version: 5,
    name: 'logins: the SHA-256 of each cookie, so every replica and a restart keep them',
    sql: `
      CREATE TABLE logins (
        id_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX logins_expires ON logins (expires_at);
    `,
  },
  {
    version: 6,
    name: 'status changes: one row per session event, so a page load does not scan the log',
    // Written by a trigger in the statement that stores the event, so every writer (appendEvent
    // and appendEvents, in a transaction or not, another process on the file) keeps it, and a
    // rolled back event takes its row with it. status is what the body holds (never null for what the
    // store writes; not enforced, so the backfill takes any log as it is).
    sql: `
      CREATE TABLE status_changes (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        status TEXT,
        PRIMARY KEY (session_id, seq),
        FOREIGN KEY (session_id, seq) REFERENCES events (session_id, seq) ON DELETE CASCADE
      ) WITHOUT ROWID;

      CREATE TRIGGER events_status_change AFTER INSERT ON events
      WHEN ${isSessionEvent('NEW')}
      BEGIN
        INSERT INTO status_changes (session_id, seq, at, status) VALUES (NEW.session_id, NEW.seq, NEW.at, ${statusOf('NEW')});
      END;

      INSERT INTO status_changes (session_id, seq, at, status)
        SELECT e.session_id, e.seq, e.at, ${statusOf('e')} FROM events AS e WHERE ${isSessionEvent('e')};
    `,
  },
  {
    version: 7,
    name: 'failed logins per name and address, so a lockout holds across replicas and restarts',
    sql: `
      CREATE TABLE login_failures (
        username TEXT NOT NULL,
        address TEXT NOT NULL,
        count INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        locked_until INTEGER NOT NULL,
        PRIMARY KEY (username, address)
      ) WITHOUT ROWID;
      CREATE INDEX login_failures_last ON login_failures (last_at);
    `,
  },
];

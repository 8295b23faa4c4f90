/**
 * @module store/postgres/migrations
 * Numbered schema migrations for the PostgreSQL store, applied by `openPostgresStore` in one
 * transaction under an advisory lock. Append new ones, never edit an applied one.
 *
 * Version 1 is the SQLite schema as of its migration 4 (a step event keeps only its step's id),
 * with what PostgreSQL needs besides: an `ord` identity per table for insertion order (SQLite's
 * rowid), a per-session event counter row (`event_counters`) that hands out gapless seqs, and
 * `json` (not `jsonb`) columns, which keep the text as written and accept the `\u0000` escape that
 * command output can hold. A `text` column cannot hold a NUL at all, so the free text a person or
 * an agent writes (a task, an instruction, a reason, an end reason, what a tool printed) is kept
 * as a JSON string. Times are bigint milliseconds, like the records.
 */
import type { Migration } from '../types.js';

/**
 * The query `statusChanges` ran before migration 4, word for word: every event of the session,
 * parsed where a plain text search matches (json keeps the text as written). Kept as the
 * reference the tests and the store benchmark compare the `status_changes` table against.
 */
export const STATUS_SCAN_BEFORE_4 = `SELECT at, body -> 'session' ->> 'status' AS status FROM events
            WHERE session_id = $1 AND strpos(body::text, '"type":"session"') > 0 AND body ->> 'type' = 'session'
            ORDER BY seq`;

/**
 * Migration 4's functions (never edit). `potato_json_unescaped`: the body with every `\uXXXX`
 * escape taken out of its strings (an escaped backslash is kept, so the JSON stays valid). Reading
 * a field of a json value makes PostgreSQL turn every escape in it into text, which fails for
 * `\u0000` (command output, a task), a lone surrogate, or any non-ASCII escape in a database not
 * in UTF8: an event's write must not fail for that, and the type and status hold no escapes.
 * `potato_status_change`: the trigger's body, the same test as the scan above on that text; it
 * names the table in the schema of the events table that fired it, whatever the search_path.
 */
const STATUS_FUNCTIONS = String.raw`
      CREATE FUNCTION potato_json_unescaped(body json) RETURNS json LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT regexp_replace(body::text, '(\\\\)|\\u[0-9a-fA-F]{4}', '\1', 'g')::json $$;

      CREATE FUNCTION potato_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        plain json := potato_json_unescaped(NEW.body);
      BEGIN
        IF plain ->> 'type' = 'session' THEN
          EXECUTE format('INSERT INTO %I.status_changes (session_id, seq, at, status) VALUES ($1, $2, $3, $4)',
            TG_TABLE_SCHEMA) USING NEW.session_id, NEW.seq, NEW.at, plain -> 'session' ->> 'status';
        END IF;
        RETURN NULL;
      END
      $$;`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE sessions (
        ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        id text PRIMARY KEY,
        task json NOT NULL,
        annotator text NOT NULL,
        backend text NOT NULL,
        backend_settings json NOT NULL,
        status text NOT NULL,
        end_reason json,
        workspace text NOT NULL,
        base_commit text,
        current_branch_id text,
        usage json NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      );
      CREATE INDEX sessions_annotator ON sessions (annotator, created_at, ord);
      CREATE INDEX sessions_created ON sessions (created_at, ord);

      CREATE TABLE steps (
        ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        id text PRIMARY KEY,
        session_id text NOT NULL REFERENCES sessions (id),
        parent_id text REFERENCES steps (id),
        step_idx integer NOT NULL,
        type text NOT NULL,
        payload json NOT NULL,
        author text NOT NULL,
        turn_id text,
        tool_call json,
        tool_result json,
        tool_is_error boolean NOT NULL,
        checkpoint text,
        changed_files boolean NOT NULL,
        usage json,
        started_at bigint NOT NULL,
        ended_at bigint NOT NULL
      );
      CREATE INDEX steps_session ON steps (session_id, ord);
      CREATE INDEX steps_parent ON steps (parent_id);
      CREATE INDEX steps_checkpoint ON steps (session_id, checkpoint, ord);

      CREATE TABLE branches (
        ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        id text PRIMARY KEY,
        session_id text NOT NULL REFERENCES sessions (id),
        name text NOT NULL,
        fork_step_id text REFERENCES steps (id),
        parent_branch_id text REFERENCES branches (id),
        reason json,
        head_step_id text REFERENCES steps (id),
        git_ref text NOT NULL,
        created_at bigint NOT NULL,
        UNIQUE (session_id, name)
      );
      CREATE INDEX branches_session ON branches (session_id, created_at, ord);

      CREATE TABLE interventions (
        ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        id text PRIMARY KEY,
        session_id text NOT NULL REFERENCES sessions (id),
        branch_id text REFERENCES branches (id),
        type text NOT NULL,
        after_step_id text REFERENCES steps (id),
        after_step integer,
        content json,
        annotator text NOT NULL,
        created_at bigint NOT NULL,
        followed_by text
      );
      CREATE INDEX interventions_session ON interventions (session_id, created_at, ord);

      -- branch_id is '' for a session-level answer: NULLs are never equal in a primary key.
      CREATE TABLE annotations (
        ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        session_id text NOT NULL REFERENCES sessions (id),
        annotator text NOT NULL,
        branch_id text NOT NULL,
        scheme text NOT NULL,
        value json,
        updated_at bigint NOT NULL,
        PRIMARY KEY (session_id, annotator, branch_id, scheme)
      );

      CREATE TABLE step_labels (
        ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        session_id text NOT NULL REFERENCES sessions (id),
        step_id text NOT NULL REFERENCES steps (id),
        annotator text NOT NULL,
        label text NOT NULL CHECK (label IN ('correct', 'incorrect', 'unsure')),
        first_error boolean NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (session_id, step_id, annotator)
      );

      -- The last seq handed out per session: taking the next one locks this row until the
      -- transaction ends, so concurrent writers queue, and a rollback gives the number back.
      CREATE TABLE event_counters (
        session_id text PRIMARY KEY REFERENCES sessions (id),
        last_seq bigint NOT NULL
      );

      CREATE TABLE events (
        session_id text NOT NULL REFERENCES sessions (id),
        seq bigint NOT NULL,
        at bigint NOT NULL,
        body json NOT NULL,
        step_id text,
        PRIMARY KEY (session_id, seq)
      );

      CREATE TABLE session_leases (
        session_id text PRIMARY KEY REFERENCES sessions (id),
        owner text NOT NULL,
        heartbeat_at bigint NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX session_leases_owner ON session_leases (owner);
    `,
  },
  {
    version: 2,
    name: 'logins: the SHA-256 of each cookie, so every replica and a restart keep them',
    sql: `
      CREATE TABLE logins (
        id_hash text PRIMARY KEY,
        username text NOT NULL,
        created_at bigint NOT NULL,
        last_seen_at bigint NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX logins_expires ON logins (expires_at);
    `,
  },
  {
    version: 3,
    name: 'session commands: controls a replica hands to the one running the session',
    sql: `
      CREATE TABLE session_commands (
        id text PRIMARY KEY,
        owner text NOT NULL,
        request json NOT NULL,
        created_at bigint NOT NULL,
        claimed_at bigint,
        answer json
      );
      CREATE INDEX session_commands_waiting ON session_commands (owner) WHERE claimed_at IS NULL;
    `,
  },
  {
    version: 4,
    name: 'status changes: one row per session event, so a page load does not scan the log',
    // Written by a trigger at the end of the statement that stores the event, so every writer
    // keeps it (a replica still running the previous version during a rolling upgrade too), and a
    // rolled back event takes its row with it. Only bodies the text search matches reach the
    // function. status is what the body holds (never null for what the store writes; not
    // enforced, so the backfill takes any log as it is).
    sql: `
      CREATE TABLE status_changes (
        session_id text NOT NULL,
        seq bigint NOT NULL,
        at bigint NOT NULL,
        status text,
        PRIMARY KEY (session_id, seq),
        FOREIGN KEY (session_id, seq) REFERENCES events (session_id, seq) ON DELETE CASCADE
      );
      ${STATUS_FUNCTIONS}

      CREATE TRIGGER events_status_change AFTER INSERT ON events
        FOR EACH ROW WHEN (strpos(NEW.body::text, '"type":"session"') > 0)
        EXECUTE FUNCTION potato_status_change();

      INSERT INTO status_changes (session_id, seq, at, status)
        SELECT session_id, seq, at, plain -> 'session' ->> 'status'
        FROM (
          SELECT session_id, seq, at, potato_json_unescaped(body) AS plain FROM events
          WHERE strpos(body::text, '"type":"session"') > 0
        ) AS candidates
        WHERE plain ->> 'type' = 'session';
    `,
  },
  {
    version: 5,
    name: 'failed logins per name and address, so a lockout holds across replicas and restarts',
    sql: `
      CREATE TABLE login_failures (
        username text NOT NULL,
        address text NOT NULL,
        count integer NOT NULL,
        last_at bigint NOT NULL,
        locked_until bigint NOT NULL,
        PRIMARY KEY (username, address)
      );
      CREATE INDEX login_failures_last ON login_failures (last_at);
    `,
  },
];

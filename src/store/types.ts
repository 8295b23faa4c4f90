/**
 * @module store/types
 * The Store seam: persistence of sessions, the step tree, branches, interventions, annotations,
 * labels, leases, logins, failed-login counts and the event log. Asynchronous, so a networked
 * database can implement it as well as the embedded SQLite file. Every write is durable when its
 * promise resolves, and callers show nothing (the EventHub publishes nothing) before that: nothing
 * shown to anyone can be lost by a crash. `test/store/contract.ts` is the suite every implementation passes.
 */
import type { SessionEvent, SessionEventBody, SessionStatus } from '../session/events.js';
import type { Step, TokenUsage } from '../steps/types.js';

export interface SessionRecord {
  id: string;
  task: string;
  annotator: string;
  backend: string;
  /** Backend settings with secrets removed (never an API key). */
  backend_settings: Record<string, unknown>;
  status: SessionStatus;
  /** Why the session ended: 'stopped by annotator', 'timeout after 600 s', an error message… */
  end_reason: string | null;
  workspace: string;
  base_commit: string | null;
  current_branch_id: string | null;
  usage: TokenUsage;
  created_at: number;
  updated_at: number;
}

export interface BranchRecord {
  id: string;
  session_id: string;
  /** branch-A, branch-B, … */
  name: string;
  /** Step the branch forked after (null: forked at the very start, before step 0). */
  fork_step_id: string | null;
  /** The branch it was forked from. */
  parent_branch_id: string | null;
  reason: string | null;
  head_step_id: string | null;
  git_ref: string;
  created_at: number;
}

export type InterventionType =
  | 'pause'
  | 'resume'
  | 'instruction'
  | 'stop'
  | 'rollback'
  | 'branch'
  | 'edit_tool_call'
  | 'timeout'
  | 'approval'
  /** The server shut down (SIGTERM/SIGINT) while the session ran: not an annotator's stop. */
  | 'shutdown';

export interface Intervention {
  id: string;
  session_id: string;
  branch_id: string | null;
  type: InterventionType;
  /** The step it came after (null: before step 0). */
  after_step_id: string | null;
  /** step_idx of after_step_id, denormalised for exports (null: before step 0). */
  after_step: number | null;
  content: string | null;
  annotator: string;
  created_at: number;
  /**
   * For an instruction, what came next at its position (null while nothing has yet): the step the
   * agent took after it, so the instruction is on every path through that step, or the rollback
   * or branch intervention that left the position, so it is on no path the agent continues. Set
   * by `settleInstructions`; this is what keeps an instruction to its branch (session/context).
   */
  followed_by: string | null;
}

export type NewIntervention = Omit<Intervention, 'followed_by'> & { followed_by?: string | null };

/** A session-level answer to one of annotation_schemes. */
export interface Annotation {
  session_id: string;
  annotator: string;
  /** Branch the answer is about; null for the whole session. */
  branch_id: string | null;
  scheme: string;
  value: unknown;
  updated_at: number;
}

/** A step's process label (PRM): the one list the API, the store and the exporters check against. */
export const STEP_LABEL_VALUES = ['correct', 'incorrect', 'unsure'] as const;
export type StepLabelValue = (typeof STEP_LABEL_VALUES)[number];

export interface StepLabel {
  session_id: string;
  step_id: string;
  annotator: string;
  label: StepLabelValue;
  first_error: boolean;
  updated_at: number;
}

/** Which server process runs a session, until when (see session/lease.ts). */
export interface SessionLease {
  session_id: string;
  /** `host:pid:random` of the owning process. */
  owner: string;
  heartbeat_at: number;
  expires_at: number;
}

/**
 * A login to the server. The cookie's value is never stored, only its SHA-256 (`id_hash`): a
 * copy of the database does not log anyone in. Kept in the store so every replica accepts the
 * cookie and a restart logs nobody out.
 */
export interface LoginRecord {
  id_hash: string;
  username: string;
  created_at: number;
  last_seen_at: number;
  /** Ends the login unless it is used again before: `last_seen_at` plus the idle limit. */
  expires_at: number;
}

/**
 * Failed logins charged to one name from one address (the lockout; its policy is server/auth.ts).
 * Kept in the store so every replica on one database counts the same tries, and a restart does not
 * forget them.
 */
export interface LoginFailures {
  username: string;
  address: string;
  /** Attempts charged: failed, or still being checked. */
  count: number;
  /** When the last one was charged. */
  last_at: number;
  /** No attempt is charged (each is refused) before this; 0 when not locked. */
  locked_until: number;
}

/** A control sent to a replica that does not run the session, for the one that does. */
export interface ForwardedRequest {
  method: string;
  /** The API path, e.g. /api/sessions/s1/pause. */
  path: string;
  /** The request body as sent (JSON text, or empty). */
  body: string;
  /** The annotator the asking replica logged in. */
  user: string;
}

/** What the owning replica answered. */
export interface ForwardedAnswer {
  status: number;
  body: string;
  contentType: string | null;
}

/** A numbered change to one store's own schema, applied once with the row that records it. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Everything a store keeps of one session but its events, as it keeps it (ids, times, the order
 * of each list): what `restoreSession` writes into another store (src/store/copy.ts).
 */
export interface SessionRecords {
  session: SessionRecord;
  /** In insertion order: a step's parent comes before it. */
  steps: Step[];
  /** A branch's parent branch comes before it. */
  branches: BranchRecord[];
  interventions: Intervention[];
  annotations: Annotation[];
  labels: StepLabel[];
}

/** A step as the tree's shape needs it (store/tree.ts works on these as on whole steps). */
export type StepLink = Pick<Step, 'id' | 'parent_id'>;

export interface Store {
  createSession(s: Omit<SessionRecord, 'created_at' | 'updated_at'>): Promise<SessionRecord>;
  updateSession(id: string, patch: Partial<Omit<SessionRecord, 'id' | 'created_at'>>): Promise<SessionRecord>;
  getSession(id: string): Promise<SessionRecord | null>;
  listSessions(filter?: { annotator?: string }): Promise<SessionRecord[]>;

  insertStep(step: Step): Promise<void>;
  getStep(id: string): Promise<Step | null>;
  /** All steps of a session (the whole tree), in insertion order. */
  listSteps(sessionId: string): Promise<Step[]>;
  /** How many steps a session has, without reading them. */
  countSteps(sessionId: string): Promise<number>;
  /**
   * Each step's id and parent, in insertion order: the tree's shape without reading the steps
   * (a session list summarises every session; their payloads are most of the store).
   */
  listStepLinks(sessionId: string): Promise<StepLink[]>;
  /** The first step of a session that points at checkpoint `sha` (an index lookup, no scan). */
  stepAtCheckpoint(sessionId: string, sha: string): Promise<Step | null>;

  insertBranch(b: BranchRecord): Promise<void>;
  updateBranch(id: string, patch: Partial<Pick<BranchRecord, 'head_step_id' | 'reason'>>): Promise<void>;
  getBranch(id: string): Promise<BranchRecord | null>;
  listBranches(sessionId: string): Promise<BranchRecord[]>;

  /** A new intervention; `followed_by` is null until settled. */
  insertIntervention(i: NewIntervention): Promise<void>;
  listInterventions(sessionId: string): Promise<Intervention[]>;
  /** Every instruction of the session not yet followed by anything is now followed by `followedBy` (a step or intervention id). */
  settleInstructions(sessionId: string, followedBy: string): Promise<void>;
  /**
   * Move an intervention to where it took effect (an instruction the agent received, a pause the
   * agent held at, after later steps than when it was given); `followed_by` starts over as null.
   */
  placeIntervention(id: string, at: Pick<Intervention, 'after_step_id' | 'after_step'>): Promise<void>;

  upsertAnnotation(a: Annotation): Promise<void>;
  listAnnotations(sessionId: string): Promise<Annotation[]>;
  upsertStepLabel(l: StepLabel): Promise<void>;
  deleteStepLabel(sessionId: string, stepId: string, annotator: string): Promise<void>;
  listStepLabels(sessionId: string): Promise<StepLabel[]>;

  /** Persist an event and return it with its sequence number (per session, from 1, no gaps). */
  appendEvent(sessionId: string, body: SessionEventBody): Promise<SessionEvent>;
  /** Persist events in this order with consecutive seqs, all or none, in one commit. */
  appendEvents(sessionId: string, bodies: readonly SessionEventBody[]): Promise<SessionEvent[]>;
  eventsAfter(sessionId: string, seq: number, limit?: number): Promise<SessionEvent[]>;
  /**
   * Every status the session took, in order, with when: one entry per `session` event it stored
   * (a repeat of the same status included), for the agent's running time. Read by index, not by
   * a scan of the session's events: each store keeps them in a table as the events are stored.
   */
  statusChanges(sessionId: string): Promise<{ at: number; status: SessionStatus }[]>;
  /** The highest seq of a session's events (0 when it has none). */
  lastSeq(sessionId: string): Promise<number>;

  /**
   * The time by the store's clock (ms since the epoch). Leases are stamped and judged by it, so
   * replicas on machines whose clocks disagree still agree on which lease has expired: on
   * PostgreSQL the database server's clock; on SQLite (one machine) this process's.
   */
  now(): Promise<number>;

  /**
   * Take the lease of a session for `owner` until `expiresAt`, unless another owner holds one that
   * is still live (its expiry after `now` and `ownerDead` false): then that lease is returned and
   * nothing changes. Atomic: two processes cannot both win.
   */
  acquireLease(
    sessionId: string,
    owner: string,
    now: number,
    expiresAt: number,
    ownerDead: (owner: string) => boolean,
  ): Promise<{ acquired: true } | { acquired: false; held: SessionLease }>;
  /** Extend every lease of `owner`; returns the session ids it still holds. */
  renewLeases(owner: string, now: number, expiresAt: number): Promise<string[]>;
  releaseLease(sessionId: string, owner: string): Promise<void>;
  getLease(sessionId: string): Promise<SessionLease | null>;

  createLogin(l: LoginRecord): Promise<void>;
  getLogin(idHash: string): Promise<LoginRecord | null>;
  /** Record a use of a login: seen at `now`, now expiring at `expiresAt`. */
  touchLogin(idHash: string, now: number, expiresAt: number): Promise<void>;
  /** End a login; whether there was one. */
  deleteLogin(idHash: string): Promise<boolean>;
  /** End every login whose expiry is at or before `now`; returns their id hashes. */
  deleteExpiredLogins(now: number): Promise<string[]>;

  /** Every login, in no particular order (for copying a store; the server looks logins up by hash). */
  listLogins(): Promise<LoginRecord[]>;

  /**
   * Write a session and all its records (not its events) exactly as `records` holds them: the
   * times are kept, nothing is stamped now. For moving a store's content into another; the
   * session must be new to this store. Atomic on its own.
   */
  restoreSession(records: SessionRecords): Promise<void>;
  /**
   * Append events exactly as another store numbered and timed them (`seq`, `at`), in increasing
   * seq order and each above the session's last; the next `appendEvent` continues after the
   * highest. Atomic on its own.
   */
  restoreEvents(sessionId: string, events: SessionEvent[]): Promise<void>;
  /**
   * How many rows each table of this store holds, by table name: every table its migrations
   * made, except the one that records the migrations. For copying and checking a copy.
   */
  tableCounts(): Promise<Record<string, number>>;

  /**
   * Charge a login attempt to `username` from `address`, atomically with every other charge of
   * the same pair, through any handle or process on this store: `charge` gets the stored record
   * (null when there is none) and returns the record to store in its place, or null to refuse the
   * attempt (nothing changes). `charge` may run more than once (a networked store retries after a
   * collision): it must only compute. Returns whether it was charged and the record as it stands.
   */
  chargeLoginAttempt(
    username: string,
    address: string,
    charge: (current: LoginFailures | null) => Omit<LoginFailures, 'username' | 'address'> | null,
  ): Promise<{ charged: boolean; failures: LoginFailures | null }>;
  /** Forget the failures of `username` from `address` (a login succeeded). */
  clearLoginFailures(username: string, address: string): Promise<void>;
  /** Forget every record whose last attempt was before `before`; returns how many went. */
  forgetLoginFailures(before: number): Promise<number>;

  /**
   * Only on a store several processes share (PostgreSQL): call `onAppend` for every event any of
   * them appends, once its transaction has committed, in commit order; `onGap` when some may have
   * been missed (the listening connection broke and is back): read the event log for all you
   * watch. Resolves once listening; the function it gives stops it. Absent on SQLite (one process).
   */
  watchEvents?(onAppend: (sessionId: string, seq: number) => void, onGap: () => void): Promise<() => Promise<void>>;

  /**
   * Only on a shared store: hand `request` to the process `owner` (its lease owner id) and wait up
   * to `timeoutMs` for its answer; null when none came in time (a request nobody took by then is
   * withdrawn; one being run may still take effect).
   */
  forwardRequest?(owner: string, request: ForwardedRequest, timeoutMs: number): Promise<ForwardedAnswer | null>;
  /** Only on a shared store: run the requests forwarded to `owner` as they come. The function it gives stops it. */
  serveRequests?(owner: string, run: (r: ForwardedRequest) => Promise<ForwardedAnswer>): Promise<() => Promise<void>>;

  /**
   * Run fn in one transaction: every write through `tx` commits together or not at all, and no
   * other write of this store interleaves with them. Inside fn use `tx`, never the outer store: on
   * SQLite an outer call waits for the transaction to end (and reports the misuse after 30 s), on
   * PostgreSQL it runs on another connection, outside the transaction. fn may run more than once:
   * a store on a networked database (PostgreSQL) runs it again when a concurrent transaction wrote
   * the same rows first, so fn does store calls only.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

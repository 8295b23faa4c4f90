/**
 * @module store/copy
 * `copyStore(source, target)`: everything one store holds into another that holds nothing — how
 * a team that started on SQLite moves to PostgreSQL (`potato store copy`, src/cli/store.ts).
 *
 * All or nothing: the source is read inside one transaction (one snapshot) and the target written
 * inside one, which commits only after the copy is checked against the source (every copied
 * table's row count, every session's last event number and step count). Records go through the
 * Store seam (`restoreSession`, `restoreEvents`, `createLogin`), so each store's migrations stay
 * the only description of its tables; what each table is to a copy is said once here (`TABLES`),
 * and a table of either store that is not named there stops the copy before anything is written:
 * a migration that adds one must say how it moves.
 */
import { PotatoError } from '../errors.js';
import { StoreError } from './errors.js';
import type { BranchRecord, SessionLease, SessionRecord, Store } from './types.js';

/** What a copy does with a table: copies its rows, rebuilds them from copied ones, or leaves them, and why. */
export type TableFate = { kind: 'copied' } | { kind: 'rebuilt'; from: string } | { kind: 'left'; why: string };

export const TABLES: Readonly<Record<string, TableFate>> = {
  sessions: { kind: 'copied' },
  steps: { kind: 'copied' },
  branches: { kind: 'copied' },
  interventions: { kind: 'copied' },
  annotations: { kind: 'copied' },
  step_labels: { kind: 'copied' },
  events: { kind: 'copied' },
  logins: { kind: 'copied' },
  event_counters: { kind: 'rebuilt', from: "each session's last event number, from its copied events" },
  status_changes: {
    kind: 'rebuilt',
    from: "the statuses each session took, by the stores' trigger on its copied events",
  },
  session_leases: {
    kind: 'left',
    why: 'which server process runs a session: none may during a copy, and the servers on the target take their own',
  },
  session_commands: { kind: 'left', why: 'controls on their way between replicas, each kept for one request' },
  login_failures: {
    kind: 'left',
    why: 'failed-login counts, forgotten within the hour anyway; the copy starts everyone afresh',
  },
};

/** A copy refused before anything was written: the target is not empty, or a server still runs a session. */
export class CopyRefused extends PotatoError<'conflict' | 'invalid_state'> {
  override readonly name = 'CopyRefused';
}

export interface CopyOptions {
  /** Whether a session's lease is held by a live process (session/lease.ts knows how to tell). */
  leaseIsLive(lease: SessionLease): boolean;
  /** The workspace path a session gets in the target (default: the one it has). */
  workspace?(session: SessionRecord): string;
}

export interface TableCount {
  table: string;
  /** Rows in the source (0 when the source has no such table). */
  source: number;
  /** Rows in the target after the copy (0 when it has no such table). */
  target: number;
  fate: TableFate;
}

export interface CopyReport {
  tables: TableCount[];
  sessions: number;
  events: number;
  /** Sessions whose workspace path the copy changed. */
  movedWorkspaces: number;
}

/** Events read from the source and written to the target at a time. */
const EVENT_PAGE = 2000;

/** The tables whose rows must match the source's: the copied ones, and the rebuilt ones the source has too. */
const checkedTables = (source: Record<string, number>): string[] =>
  Object.keys(TABLES).filter((t) => TABLES[t]?.kind === 'copied' || (TABLES[t]?.kind === 'rebuilt' && t in source));

/** Refuse tables this copy does not know, naming them and which store holds them. */
function knownTables(counts: Record<string, number>, which: string): void {
  const unknown = Object.keys(counts).filter((t) => !Object.hasOwn(TABLES, t));
  if (unknown.length > 0) {
    throw new StoreError(
      `the ${which} store has ${unknown.length === 1 ? 'a table' : 'tables'} this copy does not know (${unknown.join(', ')}): nothing was copied. Say in src/store/copy.ts (TABLES) how ${unknown.length === 1 ? 'it moves' : 'they move'}`,
    );
  }
}

/** `12 rows in sessions, 3,402 rows in events`: the non-empty tables of `counts`, in TABLES order. */
function describeRows(counts: Record<string, number>): string {
  const order = Object.keys(TABLES);
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => order.indexOf(a) - order.indexOf(b))
    .map(([t, n]) => `${n.toLocaleString('en')} ${n === 1 ? 'row' : 'rows'} in ${t}`)
    .join(', ');
}

/** Run fn; a failure says what was being copied and that nothing was (the transactions roll back). */
async function failing(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new StoreError(`copying ${what} failed, so nothing was copied: ${why}`, 'store_failed', { cause: err });
  }
}

/** Branches with every parent before its children, otherwise in the order given. */
function parentsFirst(branches: BranchRecord[]): BranchRecord[] {
  const byId = new Map(branches.map((b) => [b.id, b]));
  const placed = new Set<string>();
  const out: BranchRecord[] = [];
  const place = (b: BranchRecord): void => {
    if (placed.has(b.id)) return;
    placed.add(b.id);
    const parent = b.parent_branch_id === null ? undefined : byId.get(b.parent_branch_id);
    if (parent) place(parent);
    out.push(b);
  };
  for (const b of branches) place(b);
  return out;
}

async function copyInside(
  src: Store,
  dst: Store,
  counts: Record<string, number>,
  opts: CopyOptions,
): Promise<Omit<CopyReport, 'tables'>> {
  knownTables(counts, 'source');
  const sessions = await src.listSessions();

  const live: string[] = [];
  for (const s of sessions) {
    const lease = await src.getLease(s.id);
    if (lease && opts.leaseIsLive(lease)) {
      live.push(`${s.id} (${lease.owner}, lease until ${new Date(lease.expires_at).toISOString()})`);
    }
  }
  if (live.length > 0) {
    throw new CopyRefused(
      `a server process still runs ${live.length === 1 ? 'a session' : `${live.length} sessions`} of the source: ${live.join(', ')}. Stop every server on it (its sessions are saved as they stop), then copy; nothing was copied`,
      'invalid_state',
    );
  }

  const there = await dst.tableCounts();
  knownTables(there, 'target');
  if (Object.values(there).some((n) => n > 0)) {
    throw new CopyRefused(
      `the target is not empty: it holds ${describeRows(there)}. Copy only into an empty database (a new one, or a schema of its own); nothing was copied`,
      'conflict',
    );
  }

  let moved = 0;
  for (const s of sessions) {
    const workspace = opts.workspace?.(s) ?? s.workspace;
    if (workspace !== s.workspace) moved++;
    await failing(`session ${s.id}`, async () => {
      await dst.restoreSession({
        session: { ...s, workspace },
        steps: await src.listSteps(s.id),
        branches: parentsFirst(await src.listBranches(s.id)),
        interventions: await src.listInterventions(s.id),
        annotations: await src.listAnnotations(s.id),
        labels: await src.listStepLabels(s.id),
      });
      for (let after = 0; ; ) {
        const page = await src.eventsAfter(s.id, after, EVENT_PAGE);
        const last = page.at(-1);
        if (!last) break;
        await dst.restoreEvents(s.id, page);
        after = last.seq;
      }
    });
  }
  await failing('the logins', async () => {
    for (const login of await src.listLogins()) await dst.createLogin(login);
  });

  // Checked before the target commits: a copy that does not match leaves nothing behind.
  const written = await dst.tableCounts();
  const wrong = checkedTables(counts)
    .filter((t) => (written[t] ?? 0) !== (counts[t] ?? 0))
    .map((t) => `${t}: ${counts[t] ?? 0} in the source, ${written[t] ?? 0} written`);
  for (const s of sessions) {
    const [from, to] = [await src.lastSeq(s.id), await dst.lastSeq(s.id)];
    if (from !== to) wrong.push(`session ${s.id}: last event ${from} in the source, ${to} written`);
    const [stepsFrom, stepsTo] = [await src.countSteps(s.id), await dst.countSteps(s.id)];
    if (stepsFrom !== stepsTo) wrong.push(`session ${s.id}: ${stepsFrom} steps in the source, ${stepsTo} written`);
  }
  if (wrong.length > 0) {
    throw new StoreError(`the copy does not match the source, so nothing was copied: ${wrong.join('; ')}`);
  }
  return { sessions: sessions.length, events: counts.events ?? 0, movedWorkspaces: moved };
}

/**
 * Copy everything `source` holds into `target`, which must hold nothing, all or nothing; refused
 * while a live process holds a lease on a source session. Returns the rows per table on both sides,
 * read again from the target after it committed.
 */
export async function copyStore(source: Store, target: Store, opts: CopyOptions): Promise<CopyReport> {
  let before: Record<string, number> = {};
  const copied = await source.transaction(async (src) => {
    before = await src.tableCounts();
    return target.transaction((dst) => copyInside(src, dst, before, opts));
  });
  const after = await target.tableCounts();
  const changed = checkedTables(before).filter((t) => (after[t] ?? 0) !== (before[t] ?? 0));
  if (changed.length > 0) {
    throw new StoreError(
      `the copy committed, but the target no longer matches the source in ${changed.join(', ')}: did a server write to it at once? Check it before you use it`,
    );
  }
  const names = Object.keys(TABLES).filter((t) => t in before || t in after);
  return {
    ...copied,
    tables: names.map((table) => ({
      table,
      source: before[table] ?? 0,
      target: after[table] ?? 0,
      fate: TABLES[table] as TableFate,
    })),
  };
}

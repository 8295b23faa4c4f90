/**
 * @module test/store/status-log
 * Random event logs for the status-change tests (fast-check): a few sessions, each given events
 * of every kind a status could hide in — session events with repeated statuses, status events,
 * output and annotations that hold `"type":"session"` as text or as a nested object, free text
 * with NUL bytes, lone surrogates and written-out escapes — appended outside any transaction, in
 * transactions that commit, and in transactions that fail. `writeLog` appends one through a
 * Store and says what `statusChanges` must then answer: one entry per committed session event,
 * in seq order, repeats included.
 */
import fc from 'fast-check';
import type { SessionEventBody, SessionStatus } from '../../src/session/events.js';
import type { SessionRecord, Store } from '../../src/store/types.js';
import { newSession } from './records.js';

/** How many sessions one log spreads its events over. */
export const LOG_SESSIONS = 3;

export interface LoggedEvent {
  /** Which of the log's sessions (0 to LOG_SESSIONS - 1). */
  session: number;
  body: SessionEventBody;
}

/**
 * Appends one after another outside any transaction, each session's events in one
 * `appendEvents`, in a transaction that commits, or in one that fails.
 */
export interface Batch {
  mode: 'plain' | 'batched' | 'commit' | 'rollback';
  events: LoggedEvent[];
}

export type StatusChange = { at: number; status: SessionStatus };

const STATUSES: SessionStatus[] = ['created', 'running', 'paused', 'stopped', 'finished', 'failed', 'interrupted'];

/** Text that trips a text search or a JSON reader that is not careful. */
const oddText = fc.oneof(
  fc.constantFrom(
    'Fix the failing test',
    '"type":"session"',
    '{"type":"session","session":{"status":"failed"}}',
    'NUL \u0000 in the output',
    'a lone \ud800 surrogate',
    'an escape written out: \\u0000 and \\\\u0041',
    'pair \ud83e\udd54 and é',
  ),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

/** A session record as the engine puts in a session event (the status is the part that counts). */
const record = (status: SessionStatus, task: string, endReason: string | null): SessionRecord => ({
  ...newSession('log'),
  status,
  task,
  end_reason: endReason,
  created_at: 1,
  updated_at: 2,
});

const body: fc.Arbitrary<SessionEventBody> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({ status: fc.constantFrom(...STATUSES), task: oddText, end: fc.option(oddText) })
      .map(({ status, task, end }) => ({ type: 'session' as const, session: record(status, task, end) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ status: fc.constantFrom(...STATUSES), message: oddText })
      .map(({ status, message }) => ({ type: 'status' as const, status, activity: 'thinking' as const, message })),
  },
  {
    weight: 2,
    arbitrary: oddText.map((text) => ({
      type: 'partial' as const,
      key: 'turn-1:call-1',
      kind: 'output' as const,
      text,
    })),
  },
  {
    weight: 1,
    // A nested object that looks like a session event: the text search matches, the type does not.
    arbitrary: fc
      .oneof(
        fc.constantFrom(...STATUSES).map((status) => ({ type: 'session', session: { status } }) as unknown),
        oddText as fc.Arbitrary<unknown>,
      )
      .map((value) => ({
        type: 'annotation' as const,
        annotation: {
          session_id: 'log',
          annotator: 'observer1',
          branch_id: null,
          scheme: 'notes',
          value,
          updated_at: 3,
        },
      })),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'usage' as const, total: { input_tokens: 5, output_tokens: 1 } }) },
);

const event: fc.Arbitrary<LoggedEvent> = fc.record({ session: fc.nat({ max: LOG_SESSIONS - 1 }), body });

export const eventLog: fc.Arbitrary<Batch[]> = fc.array(
  fc.record({
    mode: fc.constantFrom('plain' as const, 'batched' as const, 'commit' as const, 'rollback' as const),
    events: fc.array(event, { minLength: 1, maxLength: 6 }),
  }),
  { minLength: 1, maxLength: 8 },
);

/** The events of a log that are kept (those of a failed transaction are not), in order. */
export const keptEvents = (log: Batch[]): LoggedEvent[] =>
  log.filter((b) => b.mode !== 'rollback').flatMap((b) => b.events);

/** The status change a body makes, if any: what the store must keep for it. */
export const statusOf = (b: SessionEventBody): SessionStatus | null => (b.type === 'session' ? b.session.status : null);

class RolledBack extends Error {}

/**
 * Create the sessions `ids` (one per LOG_SESSIONS) and append `log` to them through `store`;
 * returns, per session, the status changes the store must now report.
 */
export async function writeLog(store: Store, ids: string[], log: Batch[]): Promise<StatusChange[][]> {
  for (const id of ids) await store.createSession(newSession(id));
  const expected: StatusChange[][] = ids.map(() => []);
  for (const batch of log) {
    // Built afresh by each run of a transaction's fn (PostgreSQL may run it again).
    let made: StatusChange[][] = [];
    const append = async (s: Store) => {
      made = ids.map(() => []);
      for (const e of batch.events) {
        const written = await s.appendEvent(ids[e.session]!, e.body);
        const status = statusOf(e.body);
        if (status !== null) made[e.session]!.push({ at: written.at, status });
      }
    };
    if (batch.mode === 'plain') await append(store);
    else if (batch.mode === 'batched') {
      made = ids.map(() => []);
      for (const [i, id] of ids.entries()) {
        const bodies = batch.events.filter((e) => e.session === i).map((e) => e.body);
        if (bodies.length === 0) continue;
        const written = await store.appendEvents(id, bodies);
        for (const [j, b] of bodies.entries()) {
          const status = statusOf(b);
          if (status !== null) made[i]!.push({ at: written[j]!.at, status });
        }
      }
    } else {
      await store
        .transaction(async (tx) => {
          await append(tx);
          if (batch.mode === 'rollback') throw new RolledBack();
        })
        .catch((err: unknown) => {
          // The failure this batch asked for; anything else fails the test.
          if (!(err instanceof RolledBack)) throw err;
        });
    }
    if (batch.mode === 'rollback') continue;
    for (const [i, m] of made.entries()) expected[i]!.push(...m);
  }
  return expected;
}

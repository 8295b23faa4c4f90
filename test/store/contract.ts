/**
 * The Store contract: what every Store implementation must do, written once and run against
 * each (src/store/sqlite/store.test.ts for SQLite; the next store runs the same suite). It holds
 * only what the interface promises: round trips, gapless per-session event numbers under
 * concurrent writers, transactions that commit or vanish whole and let nothing interleave,
 * the statuses a session took (one per committed session event), leases, logins, failed-login
 * counts charged one by one, and lookups by index. What is particular to one engine (file modes,
 * migrations of its own files, crashes of its own processes) stays in that store's own tests.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionEvent, SessionEventBody } from '../../src/session/events.js';
import type { Step } from '../../src/steps/types.js';
import type { BranchRecord, LoginFailures, SessionRecords, Store } from '../../src/store/types.js';
import { editStep, newSession } from './records.js';
import { eventLog, LOG_SESSIONS, writeLog } from './status-log.js';

export { editStep, newSession };

export interface StoreUnderTest {
  store: Store;
  /** A second handle on the same data (a new connection, a reopened file). */
  reopen(): Promise<Store>;
  /** Drop everything the test made. */
  dispose(): Promise<void>;
}

const branchOf = (sessionId: string, id: string, created_at: number): BranchRecord => ({
  id,
  session_id: sessionId,
  name: `branch-${id}`,
  fork_step_id: null,
  parent_branch_id: null,
  reason: null,
  head_step_id: null,
  git_ref: `potato/${sessionId}/${id}`,
  created_at,
});

const status = { type: 'status', status: 'running', activity: 'thinking' } as const;

export function describeStoreContract(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`Store contract: ${name}`, () => {
    let t: StoreUnderTest;
    let store: Store;
    beforeEach(async () => {
      t = await open();
      store = t.store;
    });
    afterEach(async () => {
      await t.dispose();
    });

    it('round-trips sessions, steps, branches, interventions, annotations and labels', async () => {
      const created = await store.createSession(newSession('sess-1'));
      expect(await store.getSession('sess-1')).toEqual(created);
      await store.createSession(newSession('sess-2', 'observer2'));
      expect((await store.listSessions({ annotator: 'observer2' })).map((s) => s.id)).toEqual(['sess-2']);
      expect((await store.listSessions()).map((s) => s.id)).toEqual(['sess-1', 'sess-2']);
      expect(await store.getSession('missing')).toBeNull();

      const updated = await store.updateSession('sess-1', { status: 'stopped', end_reason: 'stopped by annotator' });
      expect(updated.status).toBe('stopped');
      expect(await store.getSession('sess-1')).toEqual(updated);
      await expect(store.updateSession('missing', { status: 'running' })).rejects.toMatchObject({
        code: 'not_found',
      });

      const s0 = editStep('sess-1', 's0', null, 0);
      const s1: Step = {
        ...editStep('sess-1', 's1', 's0', 1),
        type: 'bash_command',
        payload: {
          type: 'bash_command',
          command: 'pytest',
          output: 'FAILED',
          exit_code: 1,
          timed_out: false,
          truncated: false,
        },
        tool_call: null,
        tool_result: null,
        tool_is_error: true,
        usage: null,
        changed_files: false,
      };
      await store.insertStep(s0);
      await store.insertStep(s1);
      expect(await store.getStep('s0')).toEqual(s0);
      expect(await store.listSteps('sess-1')).toEqual([s0, s1]);
      expect(await store.countSteps('sess-1')).toBe(2);
      expect(await store.countSteps('sess-2')).toBe(0);
      expect(await store.listStepLinks('sess-1')).toEqual([
        { id: 's0', parent_id: null },
        { id: 's1', parent_id: 's0' },
      ]);
      expect(await store.listStepLinks('sess-2')).toEqual([]);
      expect(await store.getStep('missing')).toBeNull();
      // A step of a session that does not exist is refused.
      await expect(store.insertStep(editStep('nope', 'x0', null, 0))).rejects.toThrow();

      const branch = branchOf('sess-1', 'b-A', 5);
      await store.insertBranch(branch);
      await store.updateBranch('b-A', { head_step_id: 's1' });
      expect(await store.listBranches('sess-1')).toEqual([{ ...branch, head_step_id: 's1' }]);
      expect(await store.getBranch('b-A')).toEqual({ ...branch, head_step_id: 's1' });
      expect(await store.getBranch('b-missing')).toBeNull();
      await store.updateBranch('b-A', { reason: 'wrong file' });
      expect(await store.getBranch('b-A')).toMatchObject({ head_step_id: 's1', reason: 'wrong file' });
      await expect(store.updateBranch('b-missing', { head_step_id: null })).rejects.toThrow(/no such branch/);

      const intervention = {
        id: 'i1',
        session_id: 'sess-1',
        branch_id: 'b-A',
        type: 'instruction' as const,
        after_step_id: 's0',
        after_step: 0,
        content: 'Use a migration instead',
        annotator: 'observer1',
        created_at: 7,
      };
      await store.insertIntervention(intervention);
      expect(await store.listInterventions('sess-1')).toEqual([{ ...intervention, followed_by: null }]);
      // Settling marks only the instructions nothing has followed yet.
      await store.settleInstructions('sess-1', 's1');
      await store.settleInstructions('sess-1', 'i-later');
      expect(await store.listInterventions('sess-1')).toEqual([{ ...intervention, followed_by: 's1' }]);
      // Placed where the agent received it: after s1, and waiting there for what follows.
      await store.placeIntervention('i1', { after_step_id: 's1', after_step: 1 });
      expect(await store.listInterventions('sess-1')).toEqual([
        { ...intervention, after_step_id: 's1', after_step: 1, followed_by: null },
      ]);
      await store.settleInstructions('sess-1', 's2');
      expect((await store.listInterventions('sess-1'))[0]!.followed_by).toBe('s2');

      const answer = {
        session_id: 'sess-1',
        annotator: 'observer1',
        branch_id: null,
        scheme: 'outcome',
        value: 'partial',
        updated_at: 8,
      };
      await store.upsertAnnotation(answer);
      await store.upsertAnnotation({ ...answer, value: 'resolved', updated_at: 9 });
      await store.upsertAnnotation({ ...answer, branch_id: 'b-A', scheme: 'tags', value: ['a', 'b'], updated_at: 10 });
      expect(await store.listAnnotations('sess-1')).toEqual([
        { ...answer, value: 'resolved', updated_at: 9 },
        { ...answer, branch_id: 'b-A', scheme: 'tags', value: ['a', 'b'], updated_at: 10 },
      ]);

      const label = {
        session_id: 'sess-1',
        step_id: 's1',
        annotator: 'observer1',
        label: 'incorrect' as const,
        first_error: true,
        updated_at: 11,
      };
      await store.upsertStepLabel(label);
      await store.upsertStepLabel({ ...label, label: 'unsure', first_error: false, updated_at: 12 });
      expect(await store.listStepLabels('sess-1')).toEqual([
        { ...label, label: 'unsure', first_error: false, updated_at: 12 },
      ]);
      await store.deleteStepLabel('sess-1', 's1', 'observer1');
      expect(await store.listStepLabels('sess-1')).toEqual([]);
    });

    it('keeps free text whole, NUL bytes and all (a task, an instruction, a reason, command output)', async () => {
      const odd = 'before\u0000after \u2603 \ud83e\udd54';
      await store.createSession({ ...newSession('nul'), task: odd });
      expect((await store.updateSession('nul', { end_reason: odd })).end_reason).toBe(odd);
      const step: Step = { ...editStep('nul', 'n0', null, 0), tool_result: odd, turn_id: 'turn-0' };
      await store.insertStep(step);
      await store.insertBranch({ ...branchOf('nul', 'b-nul', 1), reason: odd });
      await store.insertIntervention({
        id: 'i-nul',
        session_id: 'nul',
        branch_id: null,
        type: 'instruction',
        after_step_id: 'n0',
        after_step: 0,
        content: odd,
        annotator: 'observer1',
        created_at: 2,
      });
      const again = await t.reopen();
      try {
        expect(await again.getSession('nul')).toMatchObject({ task: odd, end_reason: odd });
        expect(await again.getStep('n0')).toEqual(step);
        expect((await again.getBranch('b-nul'))?.reason).toBe(odd);
        expect((await again.listInterventions('nul'))[0]?.content).toBe(odd);
      } finally {
        await again.close();
      }
    });

    it('finds the step at a checkpoint by its sha, and only in its own session', async () => {
      await store.createSession(newSession('c1'));
      await store.createSession(newSession('c2'));
      const a = editStep('c1', 'a0', null, 0);
      const b = { ...editStep('c1', 'a1', 'a0', 1), checkpoint: a.checkpoint, changed_files: false };
      await store.insertStep(a);
      await store.insertStep(b);
      expect((await store.stepAtCheckpoint('c1', a.checkpoint!))?.id).toBe('a0');
      expect(await store.stepAtCheckpoint('c2', a.checkpoint!)).toBeNull();
      expect(await store.stepAtCheckpoint('c1', 'f'.repeat(40))).toBeNull();
    });

    it('reads the statuses a session took, in order, from its session events only', async () => {
      const a = await store.createSession(newSession('a'));
      await store.createSession(newSession('b'));
      const said = (id: string, status: 'running' | 'paused' | 'finished') =>
        store.appendEvent(id, { type: 'session', session: { ...a, id, status } });
      const first = await said('a', 'running');
      await store.appendEvent('a', { type: 'status', status: 'paused', activity: 'idle' });
      await store.appendEvent('a', { type: 'partial', key: 'k', kind: 'output', text: '{"type":"session"}' });
      await said('b', 'running');
      const second = await said('a', 'paused');
      const third = await said('a', 'finished');
      expect(await store.statusChanges('a')).toEqual([
        { at: first.at, status: 'running' },
        { at: second.at, status: 'paused' },
        { at: third.at, status: 'finished' },
      ]);
    });

    it('keeps a status for every session event, repeats included, none from a failed transaction, for every handle', async () => {
      const s = await store.createSession(newSession('st'));
      const said = (to: Store, status: 'running' | 'paused' | 'failed', task = s.task) =>
        to.appendEvent('st', { type: 'session', session: { ...s, task, status } });
      const first = await said(store, 'running');
      // The same status again (a resume to running while running): kept, as the log has it.
      const again = await said(store, 'running', 'NUL \u0000 and a lone \ud800 in the task');
      const paused = await store.transaction(async (tx) => {
        await tx.appendEvent('st', status);
        return said(tx, 'paused');
      });
      await expect(
        store.transaction(async (tx) => {
          await said(tx, 'failed');
          throw new Error('undone');
        }),
      ).rejects.toThrow('undone');
      const other = await t.reopen();
      try {
        expect(await other.statusChanges('st')).toEqual([
          { at: first.at, status: 'running' },
          { at: again.at, status: 'running' },
          { at: paused.at, status: 'paused' },
        ]);
        expect(await other.statusChanges('missing')).toEqual([]);
      } finally {
        await other.close();
      }
    });

    it('reports exactly the committed session events of any log of appends, in order (property)', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(eventLog, async (log) => {
          const ids = Array.from({ length: LOG_SESSIONS }, (_, i) => `prop-${run}-${i}`);
          run++;
          const expected = await writeLog(store, ids, log);
          for (const [i, id] of ids.entries()) expect(await store.statusChanges(id)).toEqual(expected[i]);
        }),
        { numRuns: 40 },
      );
    });

    it('numbers events per session from 1 with no gaps, and a failed transaction leaves no trace', async () => {
      await store.createSession(newSession('a'));
      await store.createSession(newSession('b'));
      expect(await store.lastSeq('a')).toBe(0);
      for (let i = 0; i < 300; i++) await store.appendEvent(i % 3 === 0 ? 'b' : 'a', status);
      await expect(
        store.transaction(async (tx) => {
          await tx.appendEvent('a', { type: 'usage', total: { input_tokens: 1, output_tokens: 1 } });
          await tx.updateSession('a', { status: 'running' });
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect((await store.getSession('a'))?.status).toBe('created');
      const next = await store.appendEvent('a', { type: 'usage', total: { input_tokens: 2, output_tokens: 3 } });
      const a = await store.eventsAfter('a', 0);
      const b = await store.eventsAfter('b', 0);
      expect(a.map((e) => e.seq)).toEqual(Array.from({ length: a.length }, (_, i) => i + 1));
      expect(b.map((e) => e.seq)).toEqual(Array.from({ length: b.length }, (_, i) => i + 1));
      expect(a.length + b.length).toBe(301);
      expect(next).toMatchObject({ seq: a.length, session_id: 'a', type: 'usage', total: { input_tokens: 2 } });
      expect(await store.lastSeq('a')).toBe(a.length);
      expect(await store.eventsAfter('a', a.length - 2, 1)).toEqual([a[a.length - 2]]);
      expect(await store.eventsAfter('a', a.length)).toEqual([]);
    });

    it('keeps event numbers gapless and unique when many writers append at once', async () => {
      await store.createSession(newSession('race'));
      const other = await t.reopen();
      try {
        const writes: Promise<SessionEvent>[] = [];
        for (let i = 0; i < 200; i++) writes.push((i % 2 ? other : store).appendEvent('race', status));
        const seqs = (await Promise.all(writes)).map((e) => e.seq).sort((x, y) => x - y);
        expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
        expect((await store.eventsAfter('race', 0)).map((e) => e.seq)).toEqual(seqs);
      } finally {
        await other.close();
      }
    });

    it('appends a batch of events with consecutive numbers, whole or not at all, beside other writers', async () => {
      await store.createSession(newSession('batch'));
      const other = await t.reopen();
      try {
        const batch = (n: number) =>
          Array.from(
            { length: n },
            (_, i) => ({ type: 'partial', key: `k${n}`, kind: 'message', text: `${i}` }) as const,
          );
        const written = await Promise.all([
          store.appendEvents('batch', batch(5)),
          other.appendEvent('batch', status),
          other.appendEvents('batch', batch(3)),
          store.appendEvents('batch', []),
        ]);
        for (const events of [written[0], written[2]]) {
          const seqs = events.map((e) => e.seq);
          expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
          expect(events.map((e) => (e.type === 'partial' ? e.text : ''))).toEqual(seqs.map((_, i) => `${i}`));
        }
        expect(written[3]).toEqual([]);
        const stored = await store.eventsAfter('batch', 0);
        expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 9 }, (_, i) => i + 1));
        expect(stored.filter((e) => e.seq >= written[0][0]!.seq && e.seq <= written[0][4]!.seq)).toEqual(written[0]);
        // A body that cannot be stored (a BigInt has no JSON) fails the batch: none of it is kept.
        const broken = [status, { type: 'usage', total: { input_tokens: 10n } } as unknown as SessionEventBody];
        await expect(store.appendEvents('batch', broken)).rejects.toThrow();
        expect(await store.lastSeq('batch')).toBe(9);
        expect((await store.appendEvent('batch', status)).seq).toBe(10);
      } finally {
        await other.close();
      }
    });

    it('lets nothing interleave with a transaction that awaits between its writes', async () => {
      await store.createSession(newSession('tx'));
      let inside!: () => void;
      const entered = new Promise<void>((resolve) => {
        inside = resolve;
      });
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tx = store.transaction(async (inner) => {
        await inner.appendEvent('tx', status);
        inside();
        await held;
        await inner.appendEvent('tx', status);
      });
      await entered;
      // Asked while the transaction is open: lands after both of its events.
      const outside = store.appendEvent('tx', { type: 'status', status: 'paused', activity: 'idle' });
      release();
      await tx;
      const late = await outside;
      expect(late.seq).toBe(3);
      expect((await store.eventsAfter('tx', 0)).map((e) => (e.type === 'status' ? e.status : e.type))).toEqual([
        'running',
        'running',
        'paused',
      ]);
    });

    it('gives a step event back whole, with the payload of its step', async () => {
      await store.createSession(newSession('ev'));
      const step = editStep('ev', 'e0', null, 0);
      await store.insertStep(step);
      const written = await store.appendEvent('ev', { type: 'step', step, partial_key: 'turn-0:call-0' });
      const [read] = await store.eventsAfter('ev', 0);
      expect(read).toEqual(written);
      expect(read).toMatchObject({
        type: 'step',
        partial_key: 'turn-0:call-0',
        step: { id: 'e0', payload: step.payload },
      });
    });

    it('one lease owner at a time: a live lease is refused to another owner, an expired or dead one is taken', async () => {
      await store.createSession(newSession('L'));
      const never = () => false;
      expect(await store.acquireLease('L', 'a', 1000, 2000, never)).toEqual({ acquired: true });
      const refused = await store.acquireLease('L', 'b', 1500, 2500, never);
      expect(refused).toMatchObject({ acquired: false, held: { owner: 'a', expires_at: 2000 } });
      // The owner renews; the other still cannot take it.
      expect(await store.renewLeases('a', 1900, 3000)).toEqual(['L']);
      expect((await store.acquireLease('L', 'b', 2500, 3500, never)).acquired).toBe(false);
      // Its owner is known dead: taken over at once.
      expect(await store.acquireLease('L', 'b', 2600, 3600, (o) => o === 'a')).toEqual({ acquired: true });
      expect(await store.getLease('L')).toMatchObject({ owner: 'b', expires_at: 3600 });
      // Expired: anyone takes it.
      expect(await store.acquireLease('L', 'c', 4000, 5000, never)).toEqual({ acquired: true });
      expect(await store.renewLeases('b', 4100, 6000)).toEqual([]);
      await store.releaseLease('L', 'b'); // not b's: nothing happens
      expect((await store.getLease('L'))?.owner).toBe('c');
      await store.releaseLease('L', 'c');
      expect(await store.getLease('L')).toBeNull();
    });

    it('gives a contested lease to exactly one of two owners asking at once', async () => {
      await store.createSession(newSession('L2'));
      const other = await t.reopen();
      try {
        const never = () => false;
        const got = await Promise.all([
          store.acquireLease('L2', 'a', 1000, 9000, never),
          other.acquireLease('L2', 'b', 1000, 9000, never),
        ]);
        expect(got.filter((g) => g.acquired)).toHaveLength(1);
      } finally {
        await other.close();
      }
    });

    it('keeps logins by the hash of their id for every handle, renews and ends them', async () => {
      const login = { id_hash: 'h1', username: 'alice', created_at: 1000, last_seen_at: 1000, expires_at: 5000 };
      await store.createLogin(login);
      await store.createLogin({ ...login, id_hash: 'h2', expires_at: 3000 });
      await expect(store.createLogin(login)).rejects.toThrow();
      const other = await t.reopen();
      try {
        expect(await other.getLogin('h1')).toEqual(login);
        await other.touchLogin('h1', 2000, 6000);
        expect(await store.getLogin('h1')).toEqual({ ...login, last_seen_at: 2000, expires_at: 6000 });
      } finally {
        await other.close();
      }
      // Expired at 3000 and before; h1 lives on.
      expect(await store.deleteExpiredLogins(2999)).toEqual([]);
      expect(await store.deleteExpiredLogins(3000)).toEqual(['h2']);
      expect(await store.getLogin('h2')).toBeNull();
      expect(await store.deleteLogin('h1')).toBe(true);
      expect(await store.deleteLogin('h1')).toBe(false);
      expect(await store.getLogin('h1')).toBeNull();
    });

    it('restores a session as another store kept it: its times, its event numbers, and numbering goes on after them', async () => {
      const s0 = editStep('moved', 'm0', null, 0);
      const s1 = { ...editStep('moved', 'm1', 'm0', 1), tool_result: 'line\u0000two' };
      const s2 = editStep('moved', 'm2', 'm0', 1);
      const records: SessionRecords = {
        session: {
          ...newSession('moved'),
          status: 'finished',
          end_reason: 'the agent finished',
          current_branch_id: 'mb-B',
          created_at: 111,
          updated_at: 222,
        },
        steps: [s0, s1, s2],
        // branch-B forked from branch-A after step m0.
        branches: [
          { ...branchOf('moved', 'mb-A', 3), head_step_id: 'm1' },
          {
            ...branchOf('moved', 'mb-B', 4),
            fork_step_id: 'm0',
            parent_branch_id: 'mb-A',
            reason: 'wrong file',
            head_step_id: 'm2',
          },
        ],
        interventions: [
          {
            id: 'mi1',
            session_id: 'moved',
            branch_id: 'mb-A',
            type: 'instruction',
            after_step_id: 'm0',
            after_step: 0,
            content: 'Use a migration',
            annotator: 'observer1',
            created_at: 5,
            followed_by: 'm1',
          },
          {
            id: 'mi2',
            session_id: 'moved',
            branch_id: 'mb-A',
            type: 'branch',
            after_step_id: 'm0',
            after_step: 0,
            content: 'wrong file',
            annotator: 'observer1',
            created_at: 6,
            followed_by: null,
          },
        ],
        annotations: [
          {
            session_id: 'moved',
            annotator: 'observer1',
            branch_id: null,
            scheme: 'outcome',
            value: 'resolved',
            updated_at: 7,
          },
          {
            session_id: 'moved',
            annotator: 'observer1',
            branch_id: 'mb-B',
            scheme: 'tags',
            value: ['a'],
            updated_at: 8,
          },
        ],
        labels: [
          {
            session_id: 'moved',
            step_id: 'm1',
            annotator: 'observer1',
            label: 'incorrect',
            first_error: true,
            updated_at: 9,
          },
          {
            session_id: 'moved',
            step_id: 'm2',
            annotator: 'observer1',
            label: 'correct',
            first_error: false,
            updated_at: 10,
          },
        ],
      };
      await store.restoreSession(records);
      expect(await store.getSession('moved')).toEqual(records.session);
      expect(await store.listSteps('moved')).toEqual(records.steps);
      expect(await store.listBranches('moved')).toEqual(records.branches);
      expect(await store.listInterventions('moved')).toEqual(records.interventions);
      expect(await store.listAnnotations('moved')).toEqual(records.annotations);
      expect(await store.listStepLabels('moved')).toEqual(records.labels);
      // A session already there is refused, and nothing of the second attempt stays.
      await expect(
        store.restoreSession({ ...records, session: { ...records.session, id: 'moved-2' }, steps: [s0] }),
      ).rejects.toThrow();
      expect(await store.getSession('moved-2')).toBeNull();

      const events = [
        { type: 'session', session: records.session, seq: 1, session_id: 'moved', at: 120 },
        { type: 'step', step: s0, seq: 2, session_id: 'moved', at: 130 },
        { type: 'head', branch_id: 'mb-B', head_step_id: 'm2', seq: 3, session_id: 'moved', at: 140 },
      ] as SessionEvent[];
      await store.restoreEvents('moved', events.slice(0, 2));
      await store.restoreEvents('moved', events.slice(2));
      expect(await store.eventsAfter('moved', 0)).toEqual(events);
      expect(await store.lastSeq('moved')).toBe(3);
      expect(await store.statusChanges('moved')).toEqual([{ at: 120, status: 'finished' }]);
      const next = await store.appendEvent('moved', status);
      expect(next.seq).toBe(4);
      await expect(store.restoreEvents('moved', [{ ...status, seq: 4, session_id: 'moved', at: 150 }])).rejects.toThrow(
        "cannot restore event 4 of session moved after 4: seqs must rise above the session's last",
      );
      expect(await store.lastSeq('moved')).toBe(4);
    });

    it('counts the rows of each of its tables and lists its logins', async () => {
      const empty = await store.tableCounts();
      for (const table of [
        'sessions',
        'steps',
        'branches',
        'interventions',
        'annotations',
        'step_labels',
        'events',
        'session_leases',
        'logins',
      ]) {
        expect(empty[table], table).toBe(0);
      }
      expect(Object.values(empty).every((n) => n === 0)).toBe(true);
      expect(await store.listLogins()).toEqual([]);
      await store.createSession(newSession('counted'));
      await store.insertStep(editStep('counted', 'c0', null, 0));
      await store.insertStep(editStep('counted', 'c1', 'c0', 1));
      await store.appendEvent('counted', status);
      const login = { id_hash: 'h1', username: 'alice', created_at: 1000, last_seen_at: 1000, expires_at: 5000 };
      await store.createLogin(login);
      expect(await store.tableCounts()).toMatchObject({ sessions: 1, steps: 2, events: 1, logins: 1, branches: 0 });
      expect(await store.listLogins()).toEqual([login]);
    });

    it('charges login attempts per name and address, refuses when told, clears and forgets them', async () => {
      const add = (at: number) => (f: LoginFailures | null) => ({
        count: (f?.count ?? 0) + 1,
        last_at: at,
        locked_until: f ? at + 1000 : 0,
      });
      expect(await store.chargeLoginAttempt('alice', '10.0.0.1', add(1000))).toEqual({
        charged: true,
        failures: { username: 'alice', address: '10.0.0.1', count: 1, last_at: 1000, locked_until: 0 },
      });
      expect(await store.chargeLoginAttempt('alice', '10.0.0.1', add(1100))).toMatchObject({
        charged: true,
        failures: { count: 2, last_at: 1100, locked_until: 2100 },
      });
      // Refused: nothing changes, and the record as it stands comes back (the lock's end).
      const seen: (LoginFailures | null)[] = [];
      const refused = await store.chargeLoginAttempt('alice', '10.0.0.1', (f) => {
        seen.push(f);
        return null;
      });
      expect(refused).toEqual({
        charged: false,
        failures: { username: 'alice', address: '10.0.0.1', count: 2, last_at: 1100, locked_until: 2100 },
      });
      expect(seen.at(-1)).toEqual(refused.failures);
      // Another address, another name: counted apart. Another handle sees the same counts.
      expect((await store.chargeLoginAttempt('alice', '10.0.0.2', add(1200))).failures?.count).toBe(1);
      expect((await store.chargeLoginAttempt('bob', '10.0.0.1', add(5000))).failures?.count).toBe(1);
      const other = await t.reopen();
      try {
        expect((await other.chargeLoginAttempt('alice', '10.0.0.1', add(3000))).failures?.count).toBe(3);
        await other.clearLoginFailures('alice', '10.0.0.1');
      } finally {
        await other.close();
      }
      const fresh: (LoginFailures | null)[] = [];
      await store.chargeLoginAttempt('alice', '10.0.0.1', (f) => {
        fresh.push(f);
        return null;
      });
      expect(fresh.at(-1)).toBeNull();
      // Forgotten: records whose last attempt is before the given time (alice@.2 at 1200), no others.
      expect(await store.forgetLoginFailures(1200)).toBe(0);
      expect(await store.forgetLoginFailures(1201)).toBe(1);
      expect((await store.chargeLoginAttempt('alice', '10.0.0.2', add(6000))).failures?.count).toBe(1);
      expect((await store.chargeLoginAttempt('bob', '10.0.0.1', add(6000))).failures?.count).toBe(2);
    });

    it('counts parallel login attempts through two handles one by one', async () => {
      const other = await t.reopen();
      try {
        const bump = (f: LoginFailures | null) => ({ count: (f?.count ?? 0) + 1, last_at: 1000, locked_until: 0 });
        const charged = await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 ? other : store).chargeLoginAttempt('alice', 'x', bump)),
        );
        // Each attempt saw the one before it: no two read the same count, none was lost.
        expect(charged.map((c) => c.failures?.count).sort((a, b) => a! - b!)).toEqual(
          Array.from({ length: 40 }, (_, i) => i + 1),
        );
        // A cap as auth.ts puts one: past it every attempt is refused, however many race.
        const capped = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? other : store).chargeLoginAttempt('bob', 'x', (f) => ((f?.count ?? 0) < 5 ? bump(f) : null)),
          ),
        );
        expect(capped.filter((c) => c.charged)).toHaveLength(5);
      } finally {
        await other.close();
      }
    });

    it('keeps everything for another handle, and numbering goes on where it was', async () => {
      await store.createSession(newSession('keep'));
      await store.insertStep(editStep('keep', 'k0', null, 0));
      await store.appendEvent('keep', { type: 'head', branch_id: 'x', head_step_id: 'k0' });
      const again = await t.reopen();
      try {
        expect((await again.getSession('keep'))?.task).toBe('Fix the failing test in tests/test_parser.py');
        expect(await again.listSteps('keep')).toEqual([editStep('keep', 'k0', null, 0)]);
        expect(await again.eventsAfter('keep', 0)).toMatchObject([{ seq: 1, type: 'head', head_step_id: 'k0' }]);
        expect((await again.appendEvent('keep', { type: 'status', status: 'stopped', activity: 'idle' })).seq).toBe(2);
      } finally {
        await again.close();
      }
    });
  });
}

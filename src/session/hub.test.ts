/**
 * @module session/hub.test
 * EventHub.record against the real SQLite store: rows and their events commit together or not at
 * all, and listeners get them after the commit, in seq order with the session's other events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite/store.js';
import type { Annotation, Store } from '../store/types.js';
import type { SessionEvent, SessionEventBody } from './events.js';
import { EventHub } from './hub.js';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'potato-hub-'));
  store = openSqliteStore(join(dir, 'potato.db'));
  await store.createSession({
    id: 's1',
    task: 't',
    annotator: 'alice',
    backend: 'scripted',
    backend_settings: {},
    status: 'running',
    end_reason: null,
    workspace: dir,
    base_commit: null,
    current_branch_id: null,
    usage: { input_tokens: 0, output_tokens: 0 },
  });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const answer = (scheme: string, value: unknown): Annotation => ({
  session_id: 's1',
  annotator: 'alice',
  branch_id: null,
  scheme,
  value,
  updated_at: 1,
});

describe('EventHub.record', () => {
  it('stores rows and events together and delivers them in seq order with emitted events', async () => {
    const hub = new EventHub(store);
    const seen: SessionEvent[] = [];
    hub.subscribe('s1', (e) => seen.push(e));
    const emitted = hub.emit('s1', { type: 'status', status: 'running', activity: 'thinking' });
    const recorded = hub.record('s1', async (tx) => {
      await tx.upsertAnnotation(answer('outcome', 'resolved'));
      await tx.upsertAnnotation(answer('notes', 'ok'));
      return {
        result: 'done',
        events: [
          { type: 'annotation', annotation: answer('outcome', 'resolved') },
          { type: 'annotation', annotation: answer('notes', 'ok') },
        ],
      };
    });
    const after = hub.emit('s1', { type: 'status', status: 'running', activity: 'idle' });
    expect(await recorded).toBe('done');
    await Promise.all([emitted, after]);
    expect(seen.map((e) => [e.seq, e.type])).toEqual([
      [1, 'status'],
      [2, 'annotation'],
      [3, 'annotation'],
      [4, 'status'],
    ]);
    expect(await store.eventsAfter('s1', 0)).toEqual(seen);
    expect((await store.listAnnotations('s1')).map((a) => a.scheme).sort()).toEqual(['notes', 'outcome']);
  });

  it('keeps neither the rows nor the events of a write that fails, and goes on with the next', async () => {
    const hub = new EventHub(store);
    const seen: SessionEvent[] = [];
    hub.subscribe('s1', (e) => seen.push(e));
    const failed = hub.record('s1', async (tx) => {
      await tx.upsertAnnotation(answer('outcome', 'resolved'));
      throw new Error('the disk is full');
    });
    await expect(failed).rejects.toThrow('the disk is full');
    expect(await store.listAnnotations('s1')).toEqual([]);
    expect(await store.lastSeq('s1')).toBe(0);
    await hub.emit('s1', { type: 'status', status: 'running', activity: 'idle' });
    expect(seen.map((e) => e.seq)).toEqual([1]);
  });
});

describe('EventHub.emit', () => {
  const running = { type: 'status', status: 'running', activity: 'thinking' } as const;

  it('stores what is emitted while a write commits in one later commit, each caller getting its own event in order', async () => {
    const hub = new EventHub(store);
    const seen: SessionEvent[] = [];
    hub.subscribe('s1', (e) => seen.push(e));
    const commits: number[] = [];
    const appendEvents = store.appendEvents.bind(store);
    store.appendEvents = async (sessionId, bodies) => {
      commits.push(bodies.length);
      return appendEvents(sessionId, bodies);
    };
    const first = hub.emit('s1', running);
    // Once the first write has begun, these wait for it: they go in together.
    await Promise.resolve();
    const burst = ['a', 'b', 'c', 'd'].map((text) =>
      hub.emit('s1', { type: 'partial', key: 'm', kind: 'message', text }),
    );
    const events = await Promise.all([first, ...burst]);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(events.slice(1).map((e) => (e.type === 'partial' ? e.text : ''))).toEqual(['a', 'b', 'c', 'd']);
    expect(commits).toEqual([1, 4]);
    expect(seen).toEqual(events);
    expect(await store.eventsAfter('s1', 0)).toEqual(events);
  });

  it('fails every emit of a batch that cannot be stored, keeps none of it, and stores the next', async () => {
    const hub = new EventHub(store);
    const seen: SessionEvent[] = [];
    hub.subscribe('s1', (e) => seen.push(e));
    const ok = hub.emit('s1', running);
    // A BigInt has no JSON: the store refuses the body, and with it the batch it is in.
    const bad = hub.emit('s1', { type: 'usage', total: { input_tokens: 1n } } as unknown as SessionEventBody);
    await expect(ok).rejects.toThrow();
    await expect(bad).rejects.toThrow();
    expect(await store.lastSeq('s1')).toBe(0);
    expect((await hub.emit('s1', running)).seq).toBe(1);
    expect(seen.map((e) => e.seq)).toEqual([1]);
  });
});

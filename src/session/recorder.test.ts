/**
 * @module session/recorder.test
 * Markers go where a control took effect: a step the agent still completes after a pause held
 * (a Claude Agent SDK tool already under way) moves the pause after it, and an instruction is
 * placed where the agent received it. A real SQLite store and EventHub.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { openSqliteStore } from '../store/sqlite/store.js';
import type { Store } from '../store/types.js';
import { EventHub } from './hub.js';
import { SessionRecorder } from './recorder.js';

const config = loadConfig(path.resolve(import.meta.dirname, '../../examples/demo/config.yaml'));
let dir = '';
let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function recorder(): Promise<{ rec: SessionRecorder; store: Store }> {
  dir = mkdtempSync(path.join(tmpdir(), 'potato-recorder-'));
  const db = openSqliteStore(path.join(dir, 'potato.db'));
  store = db;
  const session = await db.createSession({
    id: 's1',
    task: 'fix it',
    annotator: 'ann',
    backend: 'scripted',
    backend_settings: {},
    status: 'running',
    end_reason: null,
    workspace: dir,
    base_commit: null,
    current_branch_id: null,
    usage: { input_tokens: 0, output_tokens: 0 },
  });
  const branch = {
    id: 'b1',
    session_id: 's1',
    name: 'branch-A',
    fork_step_id: null,
    parent_branch_id: null,
    reason: null,
    head_step_id: null,
    git_ref: 'branch-A',
    created_at: 1,
  };
  await db.insertBranch(branch);
  const rec = await SessionRecorder.open({ config, store: db, hub: new EventHub(db), session, branch });
  return { rec, store: db };
}

const say = (rec: SessionRecorder, text: string) =>
  rec.step({ payload: { type: 'message', content: text }, author: 'agent', turn_id: text, usage: null, started_at: 1 });

describe('SessionRecorder markers', () => {
  it('moves a pause after a step the agent completed once it held, and names that step', async () => {
    const { rec, store } = await recorder();
    await say(rec, 'one');
    await rec.intervene('pause', null, 'ann');
    await rec.setStatus('paused', 'idle');
    const late = await say(rec, 'two');
    const pause = (await store.listInterventions('s1')).find((i) => i.type === 'pause')!;
    expect([pause.after_step_id, pause.after_step]).toEqual([late.id, 2]);
    // The trace hears of the move: the last intervention event names step 2.
    const events = (await store.eventsAfter('s1', 0)).filter((e) => e.type === 'intervention');
    const last = events.at(-1)!;
    expect(last.type === 'intervention' && last.intervention.after_step).toBe(2);
    // Once resumed, later steps leave it where it is.
    await rec.intervene('resume', null, 'ann');
    await rec.setStatus('running', 'starting');
    await say(rec, 'three');
    expect((await store.listInterventions('s1')).find((i) => i.type === 'pause')!.after_step).toBe(2);
  });

  it('places an instruction at the head when delivered, waiting there for the next step', async () => {
    const { rec, store } = await recorder();
    await say(rec, 'one');
    await rec.instruction('  use a regex ', 'ann');
    const two = await say(rec, 'two');
    await rec.deliverInstructions();
    const iv = (await store.listInterventions('s1'))[0]!;
    expect([iv.content, iv.after_step_id, iv.after_step, iv.followed_by]).toEqual(['use a regex', two.id, 2, null]);
    const three = await say(rec, 'three');
    expect((await store.listInterventions('s1'))[0]!.followed_by).toBe(three.id);
    // Delivered once: a later delivery does not move it again.
    await rec.deliverInstructions();
    expect((await store.listInterventions('s1'))[0]!.after_step).toBe(2);
  });

  it('writes nothing once fenced (another process took the session over), saying why', async () => {
    const { rec, store } = await recorder();
    await say(rec, 'one');
    const before = await store.lastSeq('s1');
    rec.fence('server process otherhost:1:x took this session over');
    await expect(say(rec, 'two')).rejects.toThrow(/took this session over/);
    await expect(rec.intervene('stop', null, 'system')).rejects.toThrow(/took this session over/);
    await expect(rec.setStatus('stopped', 'idle', 'x')).rejects.toThrow(/took this session over/);
    expect((await store.listSteps('s1')).map((s) => s.payload.type === 'message' && s.payload.content)).toEqual([
      'one',
    ]);
    expect(await store.lastSeq('s1')).toBe(before);
    expect((await store.getSession('s1'))?.status).toBe('running');
  });
});

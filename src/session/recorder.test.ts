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
afterEach(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

function recorder(): { rec: SessionRecorder; store: Store } {
  dir = mkdtempSync(path.join(tmpdir(), 'potato-recorder-'));
  store = openSqliteStore(path.join(dir, 'potato.db'));
  const session = store.createSession({
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
  store.insertBranch(branch);
  return { rec: new SessionRecorder({ config, store, hub: new EventHub(store), session, branch }), store };
}

const say = (rec: SessionRecorder, text: string) =>
  rec.step({ payload: { type: 'message', content: text }, author: 'agent', turn_id: text, usage: null, started_at: 1 });

describe('SessionRecorder markers', () => {
  it('moves a pause after a step the agent completed once it held, and names that step', () => {
    const { rec, store } = recorder();
    say(rec, 'one');
    rec.intervene('pause', null, 'ann');
    rec.setStatus('paused', 'idle');
    const late = say(rec, 'two');
    const pause = store.listInterventions('s1').find((i) => i.type === 'pause')!;
    expect([pause.after_step_id, pause.after_step]).toEqual([late.id, 2]);
    // The trace hears of the move: the last intervention event names step 2.
    const events = store.eventsAfter('s1', 0).filter((e) => e.type === 'intervention');
    expect(events.at(-1)!.type === 'intervention' && events.at(-1)!.intervention.after_step).toBe(2);
    // Once resumed, later steps leave it where it is.
    rec.intervene('resume', null, 'ann');
    rec.setStatus('running', 'starting');
    say(rec, 'three');
    expect(store.listInterventions('s1').find((i) => i.type === 'pause')!.after_step).toBe(2);
  });

  it('places an instruction at the head when delivered, waiting there for the next step', () => {
    const { rec, store } = recorder();
    say(rec, 'one');
    rec.instruction('  use a regex ', 'ann');
    const two = say(rec, 'two');
    rec.deliverInstructions();
    const iv = store.listInterventions('s1')[0]!;
    expect([iv.content, iv.after_step_id, iv.after_step, iv.followed_by]).toEqual(['use a regex', two.id, 2, null]);
    const three = say(rec, 'three');
    expect(store.listInterventions('s1')[0]!.followed_by).toBe(three.id);
    // Delivered once: a later delivery does not move it again.
    rec.deliverInstructions();
    expect(store.listInterventions('s1')[0]!.after_step).toBe(2);
  });
});

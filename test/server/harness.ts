/**
 * @module test/server/harness
 * What the server tests share: a config file loaded the real way, a SessionManager double that
 * writes events through the real SQLite store (unit tests only; the end-to-end tests use the
 * engine), and small HTTP and WebSocket clients that keep the login cookie.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { stringify } from 'yaml';
import { checkpointGitDir, GitCheckpointReader } from '../../src/checkpoints/git/index.js';
import { CheckpointReaders } from '../../src/checkpoints/readers.js';
import type { CheckpointReader } from '../../src/checkpoints/types.js';
import { loadConfig } from '../../src/config/load.js';
import type { PotatoConfig } from '../../src/config/types.js';
import { type AnnotationOps, annotationOps } from '../../src/session/annotations.js';
import type { SessionEvent, SessionEventBody, SessionStatus } from '../../src/session/events.js';
import { EventHub } from '../../src/session/hub.js';
import {
  ControlError,
  type EventListener,
  type RollbackRequest,
  type SessionControls,
  type SessionManager,
} from '../../src/session/types.js';
import type { SessionRecord, Store } from '../../src/store/types.js';

export function tempDir(prefix = 'potato-server-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  // As root, the local sandbox's own user must pass through this folder to its workspace.
  chmodSync(dir, 0o711);
  return dir;
}

/** Write a config YAML (demo-like, scripted backend) and load it with the real loader. */
export function writeConfig(dir: string, extra: Record<string, unknown> = {}): PotatoConfig {
  const { live_coding_agent, annotation_schemes, annotators, ...rest } = extra;
  const lca = (live_coding_agent ?? {}) as Record<string, unknown>;
  const doc = {
    project_name: 'server test',
    port: 8000,
    ...rest,
    live_coding_agent: {
      backend: 'scripted',
      scripted: { script: './script.yaml' },
      sandbox: { type: 'local', workspace: './workspace' },
      ...lca,
    },
    annotation_schemes: annotation_schemes ?? [
      {
        annotation_type: 'radio',
        name: 'outcome',
        label: 'Outcome',
        required: true,
        options: [{ value: 'resolved' }, { value: 'failed' }],
      },
      { annotation_type: 'text_input', name: 'notes', required: false },
    ],
    output: { path: './output' },
    annotators: annotators ?? [
      { username: 'alice', password: 'alice-pw' },
      { username: 'bob', password: 'bob-pw' },
    ],
  };
  const file = path.join(dir, 'config.yaml');
  mkdirSync(path.join(dir, 'workspace'), { recursive: true });
  copyFileSync(path.join(import.meta.dirname, '../../examples/demo/agent-script.yaml'), path.join(dir, 'script.yaml'));
  writeFileSync(file, stringify(doc));
  return loadConfig(file);
}

export interface ControlCall {
  control: string;
  args: unknown[];
}

/**
 * A SessionManager double for the server's unit tests: sessions are real store rows, and every
 * event goes through the engine's own EventHub (persisted before listeners see it); annotations,
 * labels and checkpoint reads are the engine's own. Only the agent and its controls are doubled.
 */
export class ManagerDouble implements SessionManager {
  readonly calls: ControlCall[] = [];
  private readonly hub: EventHub;
  private readonly annotations: AnnotationOps;
  private readonly readers: CheckpointReaders;
  private readonly listeners = new Map<string, number>();
  private readonly running = new Map<string, SessionControls>();
  private n = 0;
  /** Make the next control throw this. */
  failNext: Error | undefined;

  constructor(
    private readonly store: Store,
    private readonly workspace = '/nonexistent',
    /** The annotation schemes answers are checked against, and where the checkpoints are. */
    config: { annotation_schemes: PotatoConfig['annotation_schemes']; output: { path: string } } = {
      annotation_schemes: [],
      output: { path: '/nonexistent' },
    },
  ) {
    this.hub = new EventHub(store);
    this.annotations = annotationOps({ store, hub: this.hub, schemes: config.annotation_schemes });
    this.readers = new CheckpointReaders((ws) => new GitCheckpointReader(checkpointGitDir(config, ws)));
  }

  checkpoints(session: SessionRecord): CheckpointReader {
    return this.readers.get(session.workspace);
  }

  emit(sessionId: string, body: SessionEventBody): Promise<SessionEvent> {
    return this.hub.emit(sessionId, body);
  }

  saveAnswers: AnnotationOps['saveAnswers'] = (req) => this.annotations.saveAnswers(req);
  setLabel: AnnotationOps['setLabel'] = (req) => this.annotations.setLabel(req);
  removeLabel: AnnotationOps['removeLabel'] = (req) => this.annotations.removeLabel(req);

  async createSession(annotator: string, task = 'a task', status: SessionStatus = 'running'): Promise<SessionRecord> {
    const id = `s${++this.n}-${Math.random().toString(36).slice(2, 8)}`;
    return await this.store.createSession({
      id,
      task,
      annotator,
      backend: 'scripted',
      backend_settings: {},
      status,
      end_reason: null,
      workspace: this.workspace,
      base_commit: null,
      current_branch_id: null,
      usage: { input_tokens: 0, output_tokens: 0 },
    });
  }

  private controls(id: string): SessionControls {
    const call = (control: string, ...args: unknown[]) => {
      this.calls.push({ control, args });
      const err = this.failNext;
      this.failNext = undefined;
      if (err) throw err;
    };
    let status: SessionStatus = 'running';
    return {
      id,
      capability: { kind: 'model-turns' },
      status: () => status,
      pause: async (a) => {
        call('pause', a);
        status = 'paused';
      },
      resume: async (a) => {
        call('resume', a);
        status = 'running';
      },
      instruct: async (t, a) => call('instruct', t, a),
      stop: async (a) => {
        call('stop', a);
        status = 'stopped';
        this.running.delete(id);
      },
      rollback: async (r: RollbackRequest) => call('rollback', r),
      done: new Promise(() => {}),
    };
  }

  async start(opts: { task: string; annotator: string }): Promise<SessionControls> {
    const s = await this.createSession(opts.annotator, opts.task);
    const c = this.controls(s.id);
    this.running.set(s.id, c);
    await this.emit(s.id, { type: 'session', session: s });
    return c;
  }

  /** Make an existing store session live, as if it were running in this process. */
  run(sessionId: string): SessionControls {
    const c = this.controls(sessionId);
    this.running.set(sessionId, c);
    return c;
  }

  get(sessionId: string): SessionControls | undefined {
    return this.running.get(sessionId);
  }

  async resumeSession(sessionId: string, annotator: string, instruction?: string): Promise<SessionControls> {
    this.calls.push({ control: 'resumeSession', args: [sessionId, annotator, instruction] });
    if (this.running.has(sessionId)) throw new ControlError('the session is already running', 'invalid_state');
    return this.run(sessionId);
  }

  async reopen(sessionId: string): Promise<SessionControls> {
    this.calls.push({ control: 'reopen', args: [sessionId] });
    const live = this.get(sessionId);
    if (live) return live;
    throw new ControlError(`session ${sessionId} cannot be reopened by the test double`, 'invalid_state');
  }

  subscribe(sessionId: string, listener: EventListener): () => void {
    const off = this.hub.subscribe(sessionId, listener);
    this.listeners.set(sessionId, this.listenerCount(sessionId) + 1);
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      this.listeners.set(sessionId, this.listenerCount(sessionId) - 1);
      off();
    };
  }

  listenerCount(sessionId: string): number {
    return this.listeners.get(sessionId) ?? 0;
  }

  async shutdown(): Promise<void> {
    this.running.clear();
    await this.readers.close();
  }
}

/** fetch with a cookie jar of one cookie. */
export class Client {
  cookie: string | undefined;
  constructor(readonly base: string) {}

  async login(username: string, password: string): Promise<Response> {
    const res = await this.request('POST', '/api/login', { username, password });
    const set = res.headers.get('set-cookie');
    if (set) this.cookie = set.split(';')[0];
    return res;
  }

  /** `extra` headers as a browser would add them (Origin, Sec-Fetch-Site, …). */
  request(method: string, p: string, body?: unknown, extra: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = { ...extra };
    if (this.cookie) headers.cookie = this.cookie;
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    return fetch(this.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  async json<T = unknown>(
    method: string,
    p: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    const res = await this.request(method, p, body, extra);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }
}

export interface EventsMessage {
  type: 'events';
  events: SessionEvent[];
  last_seq: number;
}

/** A live-events socket that records every message with its arrival time. */
export class Watcher {
  readonly messages: { at: number; msg: EventsMessage }[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];

  /** The close frame's code and reason, once the socket has closed. */
  closeReason = '';

  constructor(base: string, sessionId: string, after: number, cookie: string | undefined) {
    const url = `${base.replace(/^http/, 'ws')}/api/sessions/${sessionId}/events?after=${after}`;
    this.ws = new WebSocket(url, { headers: cookie ? { cookie } : {} });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    // Tests that never await `opened` fail on their own assertions, not on an unhandled rejection.
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        this.closeReason = reason.toString();
        resolve(code);
      }),
    );
    this.ws.on('message', (data) => {
      this.messages.push({ at: Date.now(), msg: JSON.parse(String(data)) as EventsMessage });
      this.check();
    });
  }

  get events(): SessionEvent[] {
    return this.messages.flatMap((m) => m.msg.events);
  }

  get lastSeq(): number {
    return this.messages.at(-1)?.msg.last_seq ?? 0;
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }

  until(pred: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; got ${this.events.length} events`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  close(): Promise<number> {
    this.ws.close();
    return this.closed;
  }
}

/** The HTTP status a refused socket upgrade answered with (101 when it opened). */
export function upgradeStatus(
  base: string,
  sessionId: string,
  cookie?: string,
  origin?: string,
  extra: Record<string, string> = {},
): Promise<number> {
  return upgradeAnswer(base, sessionId, cookie, origin, extra).then((a) => a.status);
}

/** The status and headers a socket upgrade answered with. */
export function upgradeAnswer(
  base: string,
  sessionId: string,
  cookie?: string,
  origin?: string,
  extra: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const url = `${base.replace(/^http/, 'ws')}/api/sessions/${sessionId}/events?after=0`;
  const headers: Record<string, string> = { ...extra };
  if (cookie) headers.cookie = cookie;
  const ws = new WebSocket(url, { headers, origin });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      ws.terminate();
    });
    ws.once('upgrade', (res) => resolve({ status: 101, headers: res.headers }));
    ws.once('open', () => ws.close());
    ws.once('error', (err) => reject(err));
  });
}

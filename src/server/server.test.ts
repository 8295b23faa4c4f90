/**
 * @module server/server.test
 * The server over real HTTP and WebSockets with the real SQLite store, driven by a
 * SessionManager double (the engine has its own tests; the end-to-end ones are in test/server).
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HeldClock } from '../../test/clock.js';
import {
  Client,
  ManagerDouble,
  tempDir,
  upgradeAnswer,
  upgradeStatus,
  Watcher,
  writeConfig,
} from '../../test/server/harness.js';
import { openTestStore } from '../../test/store/test-store.js';
import { checkpointGitDir } from '../checkpoints/git/index.js';
import type { PotatoConfig } from '../config/types.js';
import type { SessionEvent } from '../session/events.js';
import { ControlError } from '../session/types.js';
import type { Step } from '../steps/types.js';
import type { Store } from '../store/types.js';
import { IDLE_MS, loginHash } from './auth.js';
import { SECURITY_HEADERS } from './boundary.js';
import { CLOSE_LOGIN_ENDED, createServer, type PotatoServer } from './server.js';

interface Running {
  dir: string;
  config: PotatoConfig;
  store: Store;
  dispose: () => Promise<void>;
  manager: ManagerDouble;
  server: PotatoServer;
  base: string;
  alice: Client;
}

let rig: Running;
const watchers: Watcher[] = [];

async function boot(
  extra: Record<string, unknown> = {},
  opts: { maxBufferedBytes?: number; staticDir?: string; now?: () => number } = {},
) {
  const dir = tempDir();
  const config = writeConfig(dir, extra);
  const { store, dispose } = await openTestStore(path.join(dir, 'output', 'potato.db'));
  const manager = new ManagerDouble(store, path.join(dir, 'workspace'), config);
  const server = createServer({ config, store, manager, log: () => {}, ...opts });
  const { url } = await server.listen(0, '127.0.0.1');
  const alice = new Client(url);
  expect((await alice.login('alice', 'alice-pw')).status).toBe(200);
  return { dir, config, store, dispose, manager, server, base: url, alice };
}

function watch(sessionId: string, after: number, cookie = rig.alice.cookie): Watcher {
  const w = new Watcher(rig.base, sessionId, after, cookie);
  watchers.push(w);
  return w;
}

function step(sessionId: string, idx: number, payload: Step['payload'], parent: string | null = null): Step {
  const now = Date.now();
  return {
    id: `${sessionId}-step-${idx}`,
    session_id: sessionId,
    parent_id: parent,
    step_idx: idx,
    type: payload.type,
    payload,
    author: 'agent',
    turn_id: null,
    tool_call: null,
    tool_result: null,
    tool_is_error: false,
    checkpoint: null,
    changed_files: false,
    usage: null,
    started_at: now,
    ended_at: now,
  };
}

async function stop(r: Running | undefined) {
  for (const w of watchers.splice(0)) w.ws.terminate();
  if (!r) return;
  await r.server.close();
  await r.dispose();
}

describe('login', () => {
  beforeEach(async () => {
    rig = await boot();
  });
  afterEach(() => stop(rig));

  it('sets an httpOnly SameSite=Strict cookie that opens the API', async () => {
    const c = new Client(rig.base);
    const res = await c.login('alice', 'alice-pw');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ username: 'alice' });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^potato_sid=[A-Za-z0-9_-]{40,};/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(await c.json('GET', '/api/me')).toEqual({ status: 200, body: { username: 'alice', role: 'annotator' } });
  });

  it('refuses a wrong password or an unknown name without a cookie', async () => {
    for (const [u, p] of [
      ['alice', 'bob-pw'],
      ['mallory', 'alice-pw'],
      ['alice', ''],
    ]) {
      const c = new Client(rig.base);
      const res = await c.login(u!, p!);
      expect(res.status).toBe(401);
      expect(res.headers.get('set-cookie')).toBeNull();
      expect((await res.json()).error).toBe('wrong username or password');
    }
  });

  it('makes a name wait after five failed logins from one address, even with the right password', async () => {
    const clock = HeldClock.held();
    await stop(rig);
    rig = await boot({}, { now: clock.now });
    const c = new Client(rig.base);
    for (let i = 0; i < 6; i++) expect((await c.login('alice', 'guess')).status).toBe(401);
    const locked = await c.login('alice', 'alice-pw');
    expect(locked.status).toBe(429);
    expect(locked.headers.get('set-cookie')).toBeNull();
    expect(locked.headers.get('retry-after')).toBe('2');
    expect((await locked.json()).error).toBe('too many failed logins: try again in 2 s');
    // Another name is not affected, and the lock passes.
    expect((await new Client(rig.base).login('bob', 'bob-pw')).status).toBe(200);
    await clock.advance(1999);
    expect((await c.login('alice', 'alice-pw')).status).toBe(429);
    await clock.advance(1);
    expect((await c.login('alice', 'alice-pw')).status).toBe(200);
  });

  it('keeps a lockout in the store: a restarted server (a new one on the same store) still enforces it', async () => {
    const clock = HeldClock.held();
    await stop(rig);
    rig = await boot({}, { now: clock.now });
    for (let i = 0; i < 6; i++) expect((await new Client(rig.base).login('alice', 'guess')).status).toBe(401);
    await rig.server.close();
    const again = createServer({
      config: rig.config,
      store: rig.store,
      manager: rig.manager,
      log: () => {},
      now: clock.now,
    });
    rig = { ...rig, server: again, base: (await again.listen(0, '127.0.0.1')).url };
    const locked = await new Client(rig.base).login('alice', 'alice-pw');
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBe('2');
    await clock.advance(2000);
    expect((await new Client(rig.base).login('alice', 'alice-pw')).status).toBe(200);
  });

  it('counts hundreds of parallel wrong passwords and refuses the right one inside the lock', async () => {
    const clock = HeldClock.held();
    await stop(rig);
    rig = await boot({}, { now: clock.now });
    const guesses = await Promise.all(
      Array.from({ length: 300 }, (_, i) => new Client(rig.base).login('alice', `guess-${i}`)),
    );
    const statuses = guesses.map((r) => r.status);
    // Five free failures, the sixth charged and locking: every other guess waits without a hash.
    expect(statuses.filter((s) => s === 401)).toHaveLength(6);
    expect(statuses.filter((s) => s === 429)).toHaveLength(294);
    expect(guesses.every((r) => r.headers.get('set-cookie') === null)).toBe(true);

    // Wrong guesses and the right password in one burst after the lock: the right one is refused too.
    await clock.advance(2000);
    const burst = await Promise.all([
      ...Array.from({ length: 40 }, (_, i) => new Client(rig.base).login('alice', `again-${i}`)),
      new Client(rig.base).login('alice', 'alice-pw'),
    ]);
    const right = burst.at(-1)!;
    expect(right.status).toBe(429);
    expect(right.headers.get('set-cookie')).toBeNull();
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(4);
    expect(burst.filter((r) => r.status === 401)).toHaveLength(1);

    // The lock doubles with the failure counted in the burst, then passes.
    await clock.advance(4000);
    expect((await new Client(rig.base).login('alice', 'alice-pw')).status).toBe(200);
  });

  it('answers 401 to the API and the socket without a login, and after logout', async () => {
    const s = await rig.manager.createSession('alice');
    const anon = new Client(rig.base);
    for (const [m, p] of [
      ['GET', '/api/sessions'],
      ['GET', '/api/me'],
      ['GET', '/api/config'],
      ['POST', `/api/sessions/${s.id}/pause`],
      ['GET', `/api/sessions/${s.id}`],
    ] as const) {
      const res = await anon.json<{ code: string }>(m, p);
      expect(res.status, `${m} ${p}`).toBe(401);
      expect(res.body.code).toBe('unauthorized');
    }
    expect(await upgradeStatus(rig.base, s.id)).toBe(401);
    expect(await upgradeStatus(rig.base, s.id, 'potato_sid=forged')).toBe(401);
    expect(await upgradeStatus(rig.base, s.id, rig.alice.cookie)).toBe(101);

    const old = rig.alice.cookie;
    expect((await rig.alice.request('POST', '/api/logout')).status).toBe(204);
    const again = new Client(rig.base);
    again.cookie = old;
    expect((await again.json('GET', '/api/me')).status).toBe(401);
    expect(await upgradeStatus(rig.base, s.id, old)).toBe(401);
  });

  it('never sends a password hash in the config', async () => {
    const res = await rig.alice.json<Record<string, unknown>>('GET', '/api/config');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(
      ['annotation_schemes', 'backend', 'branching', 'controls', 'project_name', 'streaming'].sort(),
    );
    expect(JSON.stringify(res.body)).not.toContain('scrypt$');
  });
});

describe('web boundary', () => {
  beforeEach(async () => {
    rig = await boot();
  });
  afterEach(() => stop(rig));

  const other = () => rig.base.replace(/:(\d+)$/, (_, p: string) => `:${Number(p) + 1}`);

  it('refuses state-changing requests and sockets from another origin, the same host on another port included', async () => {
    const s = await rig.manager.createSession('alice');
    rig.manager.run(s.id);
    const attempts = [
      ['POST', '/api/sessions', { task: 'attacker task' }],
      ['POST', `/api/sessions/${s.id}/stop`],
      ['POST', `/api/sessions/${s.id}/instruction`, { text: 'rm -rf /' }],
      ['PUT', `/api/sessions/${s.id}/annotations`, { branch_id: null, answers: { outcome: 'failed' } }],
      ['DELETE', `/api/sessions/${s.id}/labels/x`],
      ['POST', '/api/logout'],
    ] as const;
    for (const origin of [other(), 'http://localhost:5173', 'https://evil.example', 'null']) {
      for (const [m, p, b] of attempts) {
        const res = await rig.alice.json<{ code: string; error: string }>(m, p, b, { origin });
        expect(res.status, `${origin} ${m} ${p}`).toBe(403);
        expect(res.body.code).toBe('forbidden');
        expect(res.body.error).toContain(`Origin ${origin} is not this site (${rig.base})`);
      }
      expect(await upgradeStatus(rig.base, s.id, rig.alice.cookie, origin)).toBe(403);
    }
    // The browser's fetch metadata alone is enough to refuse, with or without an Origin.
    for (const site of ['same-site', 'cross-site']) {
      expect(
        (await rig.alice.json('POST', `/api/sessions/${s.id}/stop`, undefined, { 'sec-fetch-site': site })).status,
      ).toBe(403);
      expect((await rig.alice.json('GET', `/api/sessions/${s.id}`, undefined, { 'sec-fetch-site': site })).status).toBe(
        403,
      );
      expect(await upgradeStatus(rig.base, s.id, rig.alice.cookie, undefined, { 'sec-fetch-site': site })).toBe(403);
    }
    // Nothing reached the session, and the login still works.
    expect(rig.manager.calls).toEqual([]);
    expect(await rig.store.listSessions({ annotator: 'alice' })).toHaveLength(1);
    expect((await rig.alice.json('GET', '/api/me')).status).toBe(200);
  });

  it('lets this site, its fetch metadata and programs without an Origin through', async () => {
    const s = await rig.manager.createSession('alice');
    rig.manager.run(s.id);
    const page = { origin: rig.base, 'sec-fetch-site': 'same-origin' };
    expect((await rig.alice.json('POST', '/api/sessions', { task: 'from the UI' }, page)).status).toBe(201);
    expect((await rig.alice.json('POST', `/api/sessions/${s.id}/pause`, undefined, page)).status).toBe(204);
    expect(
      (await rig.alice.json('GET', `/api/sessions/${s.id}`, undefined, { 'sec-fetch-site': 'same-origin' })).status,
    ).toBe(200);
    // The same server reached by another name of the host is its own origin there.
    const byName = rig.base.replace('127.0.0.1', 'localhost');
    expect((await new Client(byName).login('bob', 'bob-pw')).status).toBe(200);
    expect(
      (
        await new Client(rig.base).request(
          'POST',
          '/api/login',
          { username: 'bob', password: 'bob-pw' },
          { origin: byName },
        )
      ).status,
    ).toBe(403);
    // curl, the CLI, tests: no Origin, no fetch metadata.
    expect((await rig.alice.json('POST', `/api/sessions/${s.id}/resume`)).status).toBe(204);
    expect(await upgradeStatus(rig.base, s.id, rig.alice.cookie)).toBe(101);
    expect(await upgradeStatus(rig.base, s.id, rig.alice.cookie, rig.base, { 'sec-fetch-site': 'same-origin' })).toBe(
      101,
    );
  });

  it('accepts only JSON bodies on the API, as a form or a simple request cannot send', async () => {
    const s = await rig.manager.createSession('alice');
    rig.manager.run(s.id);
    // A Uint8Array body: fetch adds no Content-Type of its own.
    const raw = (p: string, body: string | undefined, type: string | undefined) =>
      fetch(rig.base + p, {
        method: 'POST',
        headers: { cookie: rig.alice.cookie!, ...(type ? { 'content-type': type } : {}) },
        body: body === undefined ? undefined : new TextEncoder().encode(body),
      });
    for (const type of [
      'text/plain',
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await raw('/api/sessions', '{"task": "attacker task"}', type);
      expect(res.status, type).toBe(415);
      expect(await res.json()).toEqual({
        error: `send the body as JSON with Content-Type: application/json (got ${type})`,
        code: 'unsupported_media_type',
      });
      // Even without a body: an empty form post still names its type.
      expect((await raw(`/api/sessions/${s.id}/stop`, undefined, type)).status).toBe(415);
    }
    const untyped = await raw('/api/sessions', '{"task": "x"}', undefined);
    expect(untyped.status).toBe(415);
    expect((await untyped.json()).error).toBe(
      'send the body as JSON with Content-Type: application/json (got no Content-Type)',
    );
    expect(rig.manager.calls).toEqual([]);
    expect((await raw('/api/sessions', '{"task": "x"}', 'application/json; charset=utf-8')).status).toBe(201);
    expect((await raw(`/api/sessions/${s.id}/pause`, undefined, undefined)).status).toBe(204);
  });

  it('lets the origins of allowed_origins through, and only those', async () => {
    await stop(rig);
    rig = await boot({ allowed_origins: ['https://Potato.Example.com'] });
    const s = await rig.manager.createSession('alice');
    rig.manager.run(s.id);
    const proxied = { origin: 'https://potato.example.com', 'sec-fetch-site': 'same-origin' };
    expect((await rig.alice.json('POST', `/api/sessions/${s.id}/pause`, undefined, proxied)).status).toBe(204);
    expect(await upgradeStatus(rig.base, s.id, rig.alice.cookie, 'https://potato.example.com')).toBe(101);
    for (const origin of [
      'http://potato.example.com',
      'https://potato.example.com:8443',
      'https://evil.potato.example.com',
    ]) {
      expect((await rig.alice.json('POST', `/api/sessions/${s.id}/resume`, undefined, { origin })).status, origin).toBe(
        403,
      );
    }
  });

  it("closes a login's sockets when it logs out or expires, with a code the UI understands", async () => {
    const clock = HeldClock.held();
    await stop(rig);
    rig = await boot({}, { now: clock.now });
    const s = await rig.manager.createSession('alice');
    const second = new Client(rig.base);
    await second.login('alice', 'alice-pw');
    const first = watch(s.id, 0);
    const other = watch(s.id, 0, second.cookie);
    await Promise.all([first.opened, other.opened]);

    expect((await rig.alice.request('POST', '/api/logout')).status).toBe(204);
    expect(await first.closed).toBe(CLOSE_LOGIN_ENDED);
    expect(first.closeReason).toBe('logged out');
    // The other login of the same annotator keeps streaming.
    await rig.manager.emit(s.id, { type: 'status', status: 'running', activity: 'thinking' });
    await other.until(() => other.events.length === 1);
    expect(other.ws.readyState).toBe(other.ws.OPEN);

    await clock.advance(IDLE_MS + 1);
    await rig.server.sweepLogins();
    expect(await other.closed).toBe(CLOSE_LOGIN_ENDED);
    expect(other.closeReason).toBe('login expired');
    expect((await second.json('GET', '/api/me')).status).toBe(401);
  });

  it('keeps logins in the store: a restart or a second server on it accepts the cookie, a logout there ends it here', async () => {
    const s = await rig.manager.createSession('alice');
    const sid = decodeURIComponent((rig.alice.cookie ?? '').split('=')[1] ?? '');
    // Only the hash of the cookie's value is stored.
    const login = await rig.store.getLogin(loginHash(sid));
    expect(login).toMatchObject({ username: 'alice' });
    expect(await rig.store.getLogin(sid)).toBeNull();
    const socket = watch(s.id, 0);
    await socket.opened;

    // A second server on the same store (a replica, or this one restarted) takes the cookie.
    const other = createServer({ config: rig.config, store: rig.store, manager: rig.manager, log: () => {} });
    try {
      const { url } = await other.listen(0, '127.0.0.1');
      const there = new Client(url);
      there.cookie = rig.alice.cookie;
      expect(await there.json('GET', '/api/me')).toMatchObject({ status: 200, body: { username: 'alice' } });
      expect((await there.request('POST', '/api/logout')).status).toBe(204);
      expect((await rig.alice.json('GET', '/api/me')).status).toBe(401);
      // This server's socket of that login closes at its next sweep.
      await rig.server.sweepLogins();
      expect(await socket.closed).toBe(CLOSE_LOGIN_ENDED);
      expect(socket.closeReason).toBe('logged out');
    } finally {
      await other.close();
    }
  });

  it('puts the security headers on pages, assets, API answers, errors and refused sockets', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
    writeFileSync(path.join(dir, 'assets', 'app.js'), 'console.log(1)');
    await stop(rig);
    rig = await boot({}, { staticDir: dir });
    const s = await rig.manager.createSession('alice');
    const anon = new Client(rig.base);
    const answers: [string, Response][] = [
      ['/', await anon.request('GET', '/')],
      ['app route', await anon.request('GET', '/sessions/x')],
      ['asset', await anon.request('GET', '/assets/app.js')],
      ['missing asset', await anon.request('GET', '/assets/missing.js')],
      ['API', await rig.alice.request('GET', '/api/sessions')],
      ['API 401', await anon.request('GET', '/api/sessions')],
      ['API 404', await rig.alice.request('GET', '/api/nope')],
      ['API 403', await rig.alice.request('POST', '/api/sessions', { task: 'x' }, { origin: 'https://evil.example' })],
      ['API 415', await rig.alice.request('POST', '/api/sessions', 'x', { 'content-type': 'text/plain' })],
      ['login', await new Client(rig.base).login('bob', 'bob-pw')],
    ];
    for (const [what, res] of answers) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        expect(res.headers.get(name), `${what}: ${name}`).toBe(value);
      }
    }
    const csp = SECURITY_HEADERS['Content-Security-Policy']!;
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(SECURITY_HEADERS['X-Frame-Options']).toBe('DENY');
    const refused = await upgradeAnswer(rig.base, s.id, undefined);
    expect(refused.status).toBe(401);
    expect(refused.headers['x-content-type-options']).toBe('nosniff');
    expect(refused.headers['content-security-policy']).toBe(csp);
  });
});

describe('sessions and controls', () => {
  beforeEach(async () => {
    rig = await boot();
  });
  afterEach(() => stop(rig));

  it("shows an annotator only their own sessions; another's is 404 everywhere", async () => {
    const mine = await rig.alice.json<{ id: string; annotator: string }>('POST', '/api/sessions', { task: 'fix it' });
    expect(mine.status).toBe(201);
    expect(mine.body.annotator).toBe('alice');
    const bob = new Client(rig.base);
    await bob.login('bob', 'bob-pw');
    const theirs = await bob.json<{ id: string }>('POST', '/api/sessions', { task: 'other' });

    const list = await rig.alice.json<{ id: string }[]>('GET', '/api/sessions');
    expect(list.body.map((s) => s.id)).toEqual([mine.body.id]);
    for (const [m, p, b] of [
      ['GET', `/api/sessions/${theirs.body.id}`],
      ['POST', `/api/sessions/${theirs.body.id}/pause`],
      ['POST', `/api/sessions/${theirs.body.id}/stop`],
      ['POST', `/api/sessions/${theirs.body.id}/instruction`, { text: 'x' }],
      ['PUT', `/api/sessions/${theirs.body.id}/annotations`, { branch_id: null, answers: { outcome: 'failed' } }],
      ['GET', `/api/sessions/${theirs.body.id}/tree`],
    ] as const) {
      expect((await rig.alice.json(m, p, b)).status, `${m} ${p}`).toBe(404);
    }
    expect(await upgradeStatus(rig.base, theirs.body.id, rig.alice.cookie)).toBe(404);
    expect(rig.manager.calls.filter((c) => c.control !== 'resumeSession')).toEqual([]);
  });

  it('lets a lead read any session and its live stream, but change only their own (403, naming the owner)', async () => {
    await stop(rig);
    rig = await boot({
      annotators: [
        { username: 'alice', password: 'alice-pw' },
        { username: 'bob', password: 'bob-pw' },
        { username: 'lena', password: 'lena-pw', role: 'lead' },
      ],
    });
    const theirs = await rig.alice.json<{ id: string }>('POST', '/api/sessions', { task: 'alice works' });
    const id = theirs.body.id;
    await rig.store.insertStep(step(id, 0, { type: 'message', content: 'hello' }));
    const lena = new Client(rig.base);
    expect((await lena.login('lena', 'lena-pw')).status).toBe(200);

    const snap = await lena.json<{ session: { annotator: string }; steps: { id: string }[] }>(
      'GET',
      `/api/sessions/${id}`,
    );
    expect(snap.status).toBe(200);
    expect(snap.body.session.annotator).toBe('alice');
    expect(snap.body.steps.map((x) => x.id)).toEqual([`${id}-step-0`]);
    expect((await lena.json('GET', `/api/sessions/${id}/steps/${id}-step-0`)).status).toBe(200);
    expect((await lena.json('GET', `/api/sessions/${id}/result`)).status).toBe(200);
    expect(await upgradeStatus(rig.base, id, lena.cookie)).toBe(101);

    const before = rig.manager.calls.length;
    for (const [m, p, b] of [
      ['POST', `/api/sessions/${id}/pause`],
      ['POST', `/api/sessions/${id}/resume`],
      ['POST', `/api/sessions/${id}/stop`],
      ['POST', `/api/sessions/${id}/instruction`, { text: 'x' }],
      ['POST', `/api/sessions/${id}/rollback`, { step_id: `${id}-step-0` }],
      ['POST', `/api/sessions/${id}/continue`],
      ['POST', `/api/sessions/${id}/approvals/c1`, { allow: true }],
      ['PUT', `/api/sessions/${id}/annotations`, { branch_id: null, answers: { outcome: 'failed' } }],
      ['PUT', `/api/sessions/${id}/labels/${id}-step-0`, { label: 'correct', first_error: false }],
      ['DELETE', `/api/sessions/${id}/labels/${id}-step-0`],
    ] as const) {
      const res = await lena.json<{ error: string; code: string }>(m, p, b);
      expect(res.status, `${m} ${p}`).toBe(403);
      expect(res.body.error).toBe('read-only: only alice can change this session');
    }
    expect(rig.manager.calls.length).toBe(before);
    expect(await rig.store.listAnnotations(id)).toEqual([]);
    expect(await rig.store.listStepLabels(id)).toEqual([]);

    // An annotator is still told another's session does not exist, reading or writing.
    const bob = new Client(rig.base);
    await bob.login('bob', 'bob-pw');
    expect((await bob.json('GET', `/api/sessions/${id}`)).status).toBe(404);
    expect((await bob.json('POST', `/api/sessions/${id}/pause`)).status).toBe(404);
    expect(await upgradeStatus(rig.base, id, bob.cookie)).toBe(404);
  });

  it('passes controls to the session and maps ControlError codes to statuses', async () => {
    const { body: s } = await rig.alice.json<{ id: string }>('POST', '/api/sessions', { task: 'fix it' });
    expect((await rig.alice.request('POST', `/api/sessions/${s.id}/pause`)).status).toBe(204);
    expect(
      (await rig.alice.request('POST', `/api/sessions/${s.id}/instruction`, { text: 'use a migration' })).status,
    ).toBe(204);
    expect((await rig.alice.request('POST', `/api/sessions/${s.id}/resume`)).status).toBe(204);
    const rb = await rig.alice.request('POST', `/api/sessions/${s.id}/rollback`, {
      to_step_id: null,
      reason: 'wrong file',
      branch: true,
    });
    expect(rb.status).toBe(204);
    expect(rig.manager.calls).toEqual([
      { control: 'pause', args: ['alice'] },
      { control: 'instruct', args: ['use a migration', 'alice'] },
      { control: 'resume', args: ['alice'] },
      {
        control: 'rollback',
        args: [
          {
            toStepId: null,
            reason: 'wrong file',
            branch: true,
            annotator: 'alice',
            instruction: undefined,
            editedToolCall: undefined,
          },
        ],
      },
    ]);

    const cases: [ControlError['code'], number][] = [
      ['disabled', 403],
      ['invalid_state', 409],
      ['branch_limit', 409],
      ['reason_required', 400],
      ['bad_request', 400],
      ['not_found', 404],
    ];
    for (const [code, status] of cases) {
      rig.manager.failNext = new ControlError(`refused: ${code}`, code);
      const res = await rig.alice.json<{ error: string; code: string }>('POST', `/api/sessions/${s.id}/pause`);
      expect(res).toEqual({ status, body: { error: `refused: ${code}`, code } });
    }
    rig.manager.failNext = new Error('disk on fire at /secret/path');
    const boom = await rig.alice.json<{ error: string }>('POST', `/api/sessions/${s.id}/pause`);
    expect(boom.status).toBe(500);
    expect(boom.body.error).not.toContain('/secret/path');

    const bad = await rig.alice.json<{ error: string }>('POST', `/api/sessions/${s.id}/instruction`, { text: '  ' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain('text');
    const notJson = await fetch(`${rig.base}/api/sessions/${s.id}/instruction`, {
      method: 'POST',
      headers: { cookie: rig.alice.cookie!, 'content-type': 'application/json' },
      body: '{oops',
    });
    expect(notJson.status).toBe(400);
    const huge = await rig.alice.json<{ code: string }>('POST', `/api/sessions/${s.id}/instruction`, {
      text: 'x'.repeat(2 * 1024 * 1024),
    });
    expect(huge).toEqual({ status: 413, body: { error: 'the request body is over 1 MiB', code: 'too_large' } });
  });

  it('says a session that is not running must be continued, and continues it', async () => {
    const s = await rig.manager.createSession('alice', 'old task', 'interrupted');
    const res = await rig.alice.json<{ error: string; code: string }>('POST', `/api/sessions/${s.id}/pause`);
    expect(res.status).toBe(409);
    expect(res.body.error).toContain('/continue');
    expect((await rig.alice.request('POST', `/api/sessions/${s.id}/continue`, { instruction: 'go on' })).status).toBe(
      204,
    );
    expect(rig.manager.calls).toEqual([{ control: 'resumeSession', args: [s.id, 'alice', 'go on'] }]);
    expect((await rig.alice.request('POST', `/api/sessions/${s.id}/pause`)).status).toBe(204);
    expect((await rig.alice.request('POST', `/api/sessions/${s.id}/continue`)).status).toBe(409);
  });

  it('returns the whole session with last_seq matching the stream', async () => {
    const s = await rig.manager.createSession('alice');
    rig.manager.run(s.id);
    await rig.store.insertStep(step(s.id, 0, { type: 'message', content: 'hello' }));
    await rig.manager.emit(s.id, { type: 'step', step: (await rig.store.getStep(`${s.id}-step-0`))! });
    await rig.manager.emit(s.id, { type: 'status', status: 'running', activity: 'thinking' });
    const snap = await rig.alice.json<{ steps: Step[]; last_seq: number; session: { id: string } }>(
      'GET',
      `/api/sessions/${s.id}`,
    );
    expect(snap.status).toBe(200);
    expect(snap.body.session.id).toBe(s.id);
    expect(snap.body.steps.map((x) => x.payload)).toEqual([{ type: 'message', content: 'hello' }]);
    expect(snap.body.last_seq).toBe(2);
    await rig.manager.emit(s.id, { type: 'status', status: 'paused', activity: 'idle' });
    const w = watch(s.id, snap.body.last_seq);
    await w.until(() => w.events.length >= 1);
    expect(w.events.map((e) => e.seq)).toEqual([3]);
  });

  it('sends large step fields as previews and the whole step on request, the same in the socket', async () => {
    const s = await rig.manager.createSession('alice');
    rig.manager.run(s.id);
    const output = Array.from({ length: 3000 }, (_, n) => `PASSED test_${n}`).join('\n');
    const diff = `--- a/x.py\n+++ b/x.py\n@@ -1,300 +1,300 @@\n${Array.from({ length: 300 }, (_, n) => `-a${n}\n+b${n}`).join('\n')}\n`;
    const longLine = 'x'.repeat(10_000);
    const big = {
      ...step(s.id, 0, {
        type: 'bash_command',
        command: 'pytest',
        output,
        exit_code: 0,
        timed_out: false,
        truncated: false,
      }),
      tool_result: output,
      tool_call: { id: 'c1', name: 'bash', input: { command: 'pytest', note: longLine } },
    };
    const edit = step(
      s.id,
      1,
      { type: 'file_edit', path: 'x.py', diff, modified_lines: [[1, 300]], created: false },
      big.id,
    );
    const small = step(s.id, 2, { type: 'message', content: 'done' }, edit.id);
    for (const x of [big, edit, small]) await rig.store.insertStep(x);
    await rig.manager.emit(s.id, { type: 'step', step: big });

    type Wire = Step & {
      payload_cut?: true;
      cut_fields?: Record<string, { lines: number; chars: number; added?: number; removed?: number }>;
    };
    const snap = await rig.alice.json<{ steps: Wire[] }>('GET', `/api/sessions/${s.id}`);
    const [cutBig, cutEdit, whole] = snap.body.steps;
    expect(cutBig!.payload_cut).toBe(true);
    expect(cutBig!.cut_fields).toEqual({
      'payload.output': { lines: 3000, chars: output.length },
      tool_result: { lines: 3000, chars: output.length },
      'tool_call.input.note': { lines: 1, chars: 10_000 },
    });
    const shown = (cutBig!.payload as { output: string }).output;
    expect(shown.split('\n')).toEqual(output.split('\n').slice(0, 40));
    expect(cutBig!.tool_call!.input.command).toBe('pytest');
    expect((cutBig!.tool_call!.input.note as string).length).toBe(4096);
    expect(cutEdit!.cut_fields).toEqual({
      'payload.diff': { lines: 603, chars: diff.length, added: 300, removed: 300 },
    });
    expect(whole).toEqual(small);

    // The whole step, for its owner only; a step of another session is not found through this one.
    const full = await rig.alice.json<Wire>('GET', `/api/sessions/${s.id}/steps/${big.id}`);
    expect(full.status).toBe(200);
    expect(full.body).toEqual(big);
    const other = await rig.manager.createSession('alice');
    expect((await rig.alice.json('GET', `/api/sessions/${other.id}/steps/${big.id}`)).status).toBe(404);
    expect((await rig.alice.json('GET', `/api/sessions/${s.id}/steps/nope`)).body).toMatchObject({ code: 'not_found' });
    const bob = new Client(rig.base);
    await bob.login('bob', 'bob-pw');
    expect((await bob.json('GET', `/api/sessions/${s.id}/steps/${big.id}`)).status).toBe(404);

    // The socket sends the same preview as the snapshot.
    const w = watch(s.id, 0);
    await w.until(() => w.events.some((e) => e.type === 'step'));
    const live = w.events.find((e) => e.type === 'step') as { step: Wire };
    expect(live.step).toEqual(cutBig);

    // The snapshot is gzipped for a client that accepts it.
    const res = await rig.alice.request('GET', `/api/sessions/${s.id}`);
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(await res.json()).toEqual(snap.body);
  });

  it('lists sessions with their step and branch counts', async () => {
    const s = await rig.manager.createSession('alice');
    const empty = await rig.manager.createSession('alice');
    await rig.store.insertStep(step(s.id, 0, { type: 'message', content: 'a' }));
    await rig.store.insertStep(step(s.id, 1, { type: 'message', content: 'b' }, `${s.id}-step-0`));
    await rig.store.insertBranch({
      id: `${s.id}-A`,
      session_id: s.id,
      name: 'branch-A',
      fork_step_id: null,
      parent_branch_id: null,
      reason: null,
      head_step_id: `${s.id}-step-1`,
      git_ref: 'refs/heads/potato/branch-A',
      created_at: Date.now(),
    });
    const list = await rig.alice.json<{ id: string; step_count: number; branch_count: number }[]>(
      'GET',
      '/api/sessions',
    );
    const counts = Object.fromEntries(list.body.map((x) => [x.id, [x.step_count, x.branch_count]]));
    expect(counts).toEqual({ [s.id]: [2, 1], [empty.id]: [0, 0] });
  });
});

describe('live events', () => {
  afterEach(() => stop(rig));

  it('replays then streams with no gap and no duplicate across reconnects while events keep coming', async () => {
    rig = await boot({ live_coding_agent: { streaming: { update_interval_ms: 20 } } });
    const s = await rig.manager.createSession('alice');
    const total = 400;
    let emitted = 0;
    // Some events exist before anyone watches.
    for (; emitted < 30; emitted++)
      await rig.manager.emit(s.id, { type: 'status', status: 'running', activity: 'thinking' });
    // Each event's number is taken before its write is awaited: ticks overlap when the store is slow.
    const writes: Promise<unknown>[] = [];
    const producer = setInterval(() => {
      for (let k = 0; k < 3 && emitted < total; k++) {
        const n = ++emitted;
        writes.push(
          rig.manager.emit(s.id, { type: 'status', status: 'running', activity: 'writing', message: `#${n}` }),
        );
      }
      if (emitted >= total) clearInterval(producer);
    }, 2);

    // A viewer that stays keeps the session's channel (and its pending batch) alive while others rejoin it.
    const steady = watch(s.id, 0);
    const seen: number[] = [];
    let after = 0;
    // Reconnect several times mid-stream, each time from the last seq received.
    for (const stopAt of [10, 80, 150, 151, 260]) {
      const w = watch(s.id, after);
      await w.until(() => w.lastSeq >= stopAt);
      w.ws.terminate();
      await w.closed;
      seen.push(...w.events.map((e) => e.seq));
      after = w.lastSeq;
    }
    const last = watch(s.id, after);
    await last.until(() => last.lastSeq >= total);
    seen.push(...last.events.map((e) => e.seq));
    await steady.until(() => steady.lastSeq >= total);
    clearInterval(producer);
    await Promise.all(writes);
    const all = Array.from({ length: total }, (_, i) => i + 1);
    expect(seen).toEqual(all);
    expect(steady.events.map((e) => e.seq)).toEqual(all);
    expect(last.events.at(-1)?.type).toBe('status');
  });

  it('sends several viewers of one session the same events, batched per update_interval_ms', async () => {
    const interval = 150;
    rig = await boot({ live_coding_agent: { streaming: { update_interval_ms: interval } } });
    const s = await rig.manager.createSession('alice');
    const viewers = [watch(s.id, 0), watch(s.id, 0), watch(s.id, 0)];
    await Promise.all(viewers.map((v) => v.opened));
    // The socket joins the channel after its (empty) replay: wait until all three are live.
    await expect.poll(() => rig.server.live.viewerCount(s.id)).toBe(3);
    const started = Date.now();
    const count = 200;
    await new Promise<void>((resolve, reject) => {
      let n = 0;
      const writes: Promise<unknown>[] = [];
      // Counted when emitted, not when stored: a slow store has several writes under way at once.
      const t = setInterval(() => {
        writes.push(
          rig.manager.emit(s.id, { type: 'status', status: 'running', activity: 'thinking', message: String(n) }),
        );
        if (++n === count) {
          clearInterval(t);
          Promise.all(writes).then(() => resolve(), reject);
        }
      }, 5);
    });
    await Promise.all(viewers.map((v) => v.until(() => v.lastSeq >= count)));
    const elapsed = Date.now() - started;
    const seqs = viewers.map((v) => v.events.map((e) => e.seq));
    expect(seqs[1]).toEqual(seqs[0]);
    expect(seqs[2]).toEqual(seqs[0]);
    expect(seqs[0]).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    // At most one message per interval (plus the first, sent at once), however fast events come.
    const messages = viewers[0]!.messages.length;
    expect(messages).toBeLessThanOrEqual(Math.ceil(elapsed / interval) + 1);
    expect(messages).toBeGreaterThan(1);
  });

  it('sends an event read from the store at once when reaching this server took its interval, and others per interval', async () => {
    const interval = 2000;
    rig = await boot({ live_coding_agent: { streaming: { update_interval_ms: interval } } });
    const s = await rig.manager.createSession('alice');
    const w = watch(s.id, 0);
    await w.opened;
    await expect.poll(() => rig.server.live.viewerCount(s.id)).toBe(1);
    const status = (seq: number, at: number): SessionEvent => ({
      type: 'status',
      status: 'running',
      activity: 'thinking',
      message: String(seq),
      seq,
      session_id: s.id,
      at,
    });
    // The channel was quiet: the first event goes at once, and the next slot is an interval away.
    await rig.manager.emit(s.id, { type: 'status', status: 'running', activity: 'thinking', message: '1' });
    await w.until(() => w.lastSeq >= 1);
    // What another replica appended an interval ago, heard of only now (as its notification makes
    // this server do): it has waited its interval already and goes at once, not at the slot.
    const heard = Date.now();
    await rig.store.restoreEvents(s.id, [status(2, heard - interval)]);
    rig.server.live.appended(s.id, 2);
    await w.until(() => w.lastSeq >= 2);
    expect(Date.now() - heard).toBeLessThan(interval / 2);
    // A fresh one waits for the interval after that message.
    const sent = w.messages.at(-1)!.at;
    await rig.store.restoreEvents(s.id, [status(3, Date.now())]);
    rig.server.live.appended(s.id, 3);
    await w.until(() => w.lastSeq >= 3, interval * 3);
    expect(w.messages.at(-1)!.at - sent).toBeGreaterThanOrEqual(interval - 50);
    expect(w.messages.map((m) => m.msg.events.map((e) => e.seq))).toEqual([[1], [2], [3]]);
  });

  it('coalesces streamed output and honours show_thinking / show_tool_inputs', async () => {
    rig = await boot({
      live_coding_agent: {
        streaming: { update_interval_ms: 50, buffer_output: true, show_thinking: false, show_tool_inputs: false },
      },
    });
    const s = await rig.manager.createSession('alice');
    const emit = async (kind: 'thinking' | 'message' | 'tool_input' | 'output', text: string, key = 'k1') =>
      await rig.manager.emit(s.id, { type: 'partial', key, kind, text });
    await emit('thinking', 'secret plan');
    await emit('tool_input', '{"command": "ls"}');
    await emit('output', 'line 1\n');
    await emit('output', 'line 2\n');
    await emit('output', 'line 3\n');
    await emit('message', 'done');
    await rig.store.insertStep(step(s.id, 0, { type: 'thinking', content: 'secret plan', signature: 'sig' }));
    await rig.manager.emit(s.id, { type: 'step', step: (await rig.store.getStep(`${s.id}-step-0`))! });

    const w = watch(s.id, 0);
    await w.until(() => w.lastSeq >= 7);
    expect(w.events.map((e) => (e.type === 'partial' ? [e.kind, e.text, e.seq] : [e.type, e.seq]))).toEqual([
      ['output', 'line 1\nline 2\nline 3\n', 5],
      ['message', 'done', 6],
      ['step', 7],
    ]);
    const stepEvent = w.events.at(-1) as { step: Step & { hidden?: boolean } };
    expect(stepEvent.step.payload).toEqual({ type: 'thinking', content: '' });
    expect(stepEvent.step.hidden).toBe(true);
    const snap = await rig.alice.json<{ steps: (Step & { hidden?: boolean })[] }>('GET', `/api/sessions/${s.id}`);
    expect(JSON.stringify(snap.body)).not.toContain('secret plan');
    expect(snap.body.steps[0]?.hidden).toBe(true);

    // Live, too: streamed output of one step in one batch arrives as one event.
    for (let i = 0; i < 20; i++) await emit('output', `${i},`, 'k2');
    await w.until(() => w.lastSeq >= 27);
    const live = w.events.filter((e) => e.type === 'partial' && e.key === 'k2');
    expect(live.length).toBeLessThan(20);
    expect(live.map((e) => (e.type === 'partial' ? e.text : '')).join('')).toBe(
      Array.from({ length: 20 }, (_, i) => `${i},`).join(''),
    );
  });

  it('takes a viewer that does not read off the live channel, and it catches up once it reads again', async () => {
    rig = await boot(
      { live_coding_agent: { streaming: { update_interval_ms: 10 } } },
      { maxBufferedBytes: 256 * 1024 },
    );
    const s = await rig.manager.createSession('alice');
    const slow = watch(s.id, 0);
    await slow.opened;
    await expect.poll(() => rig.server.live.viewerCount(s.id)).toBe(1);
    // It stops reading its socket: the server's unsent bytes for it grow until it falls behind.
    slow.ws.pause();
    const healthy = watch(s.id, 0);
    await healthy.opened;
    const big = 'x'.repeat(16 * 1024);
    let n = 0;
    while (rig.server.live.fellBehind === 0 && n < 5000) {
      for (let k = 0; k < 20; k++, n++)
        await rig.manager.emit(s.id, { type: 'partial', key: `k${n}`, kind: 'output', text: big });
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(rig.server.live.fellBehind).toBeGreaterThan(0);
    // Off the channel, not cut: nothing more is queued for it while it does not read.
    expect(rig.server.live.viewerCount(s.id)).toBe(1);
    for (let k = 0; k < 50; k++, n++)
      await rig.manager.emit(s.id, { type: 'partial', key: `k${n}`, kind: 'output', text: big });
    // The reading viewer was not affected and saw everything.
    await healthy.until(() => healthy.lastSeq >= n);
    expect(healthy.events.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    // It reads again: it gets the rest from the store, no gap, no duplicate, on the same socket.
    slow.ws.resume();
    await slow.until(() => slow.lastSeq >= n, 30_000);
    expect(slow.events.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    await expect.poll(() => rig.server.live.viewerCount(s.id)).toBe(2);
    // And it is live again.
    await rig.manager.emit(s.id, { type: 'partial', key: 'last', kind: 'output', text: 'end' });
    await slow.until(() => slow.lastSeq >= n + 1);
  });

  it('refuses an after beyond the last seq (400), and the other viewers are unaffected', async () => {
    rig = await boot({ live_coding_agent: { streaming: { update_interval_ms: 10 } } });
    const s = await rig.manager.createSession('alice');
    for (let k = 0; k < 5; k++)
      await rig.manager.emit(s.id, { type: 'partial', key: `k${k}`, kind: 'output', text: 'x' });
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get(`${rig!.base}/api/sessions/${s.id}/events?after=1000000`, {
        headers: {
          cookie: rig!.alice.cookie!,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'sec-websocket-version': '13',
        },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('the socket opened')));
      req.on('error', reject);
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(/after 1000000 is beyond the last event .* \(seq 5\)/);
    const w = watch(s.id, 5);
    await w.opened;
    for (let k = 5; k < 10; k++)
      await rig.manager.emit(s.id, { type: 'partial', key: `k${k}`, kind: 'output', text: 'y' });
    await w.until(() => w.lastSeq >= 10);
    expect(w.events.map((e) => e.seq)).toEqual([6, 7, 8, 9, 10]);
  });

  it('shows annotations and labels to the viewers as events, and validates them naming the scheme', async () => {
    rig = await boot({
      live_coding_agent: { streaming: { update_interval_ms: 20 } },
      annotation_schemes: [
        {
          annotation_type: 'radio',
          name: 'outcome',
          required: true,
          options: [{ value: 'resolved' }, { value: 'failed' }],
        },
        { annotation_type: 'multiselect', name: 'issues', options: [{ value: 'slow' }, { value: 'wrong' }] },
        { annotation_type: 'likert', name: 'quality', size: 5 },
        { annotation_type: 'number', name: 'minutes', min: 0, max: 60 },
        { annotation_type: 'text_input', name: 'notes' },
      ],
    });
    const s = await rig.manager.createSession('alice');
    await rig.store.insertStep(step(s.id, 0, { type: 'message', content: 'hi' }));
    const w = watch(s.id, 0);
    await w.opened;
    const put = (answers: Record<string, unknown>, branch_id: string | null = null) =>
      rig.alice.json<{ error: string; code: string; scheme?: string }>('PUT', `/api/sessions/${s.id}/annotations`, {
        branch_id,
        answers,
      });
    const refusals: [Record<string, unknown>, string][] = [
      [{ notes: 'x' }, 'outcome'],
      [{ outcome: '' }, 'outcome'],
      [{ outcome: 'maybe' }, 'outcome'],
      [{ outcome: 'failed', issues: ['slow', 'ugly'] }, 'issues'],
      [{ outcome: 'failed', issues: 'slow' }, 'issues'],
      [{ outcome: 'failed', quality: 6 }, 'quality'],
      [{ outcome: 'failed', quality: 2.5 }, 'quality'],
      [{ outcome: 'failed', minutes: 61 }, 'minutes'],
      [{ outcome: 'failed', notes: 3 }, 'notes'],
      [{ outcome: 'failed', mood: 'good' }, 'mood'],
    ];
    for (const [answers, scheme] of refusals) {
      const res = await put(answers);
      expect(res.status, JSON.stringify(answers)).toBe(400);
      expect(res.body.scheme).toBe(scheme);
      expect(res.body.error.startsWith(`${scheme}: `)).toBe(true);
    }
    expect((await put({ outcome: 'failed' }, 'no-such-branch')).status).toBe(404);
    expect(await rig.store.listAnnotations(s.id)).toEqual([]);

    const ok = await rig.alice.json<{ scheme: string; value: unknown }[]>('PUT', `/api/sessions/${s.id}/annotations`, {
      branch_id: null,
      answers: { outcome: 'resolved', issues: ['wrong'], quality: 4, minutes: 12.5, notes: 'good job' },
    });
    expect(ok.status).toBe(200);
    expect(Object.fromEntries(ok.body.map((a) => [a.scheme, a.value]))).toEqual({
      outcome: 'resolved',
      issues: ['wrong'],
      quality: 4,
      minutes: 12.5,
      notes: 'good job',
    });

    const label = await rig.alice.json('PUT', `/api/sessions/${s.id}/labels/${s.id}-step-0`, {
      label: 'incorrect',
      first_error: true,
    });
    expect(label.status).toBe(200);
    expect(
      (await rig.alice.json('PUT', `/api/sessions/${s.id}/labels/nope`, { label: 'correct', first_error: false }))
        .status,
    ).toBe(404);
    expect(
      (
        await rig.alice.json('PUT', `/api/sessions/${s.id}/labels/${s.id}-step-0`, {
          label: 'great',
          first_error: false,
        })
      ).status,
    ).toBe(400);
    await w.until(() => w.events.some((e) => e.type === 'label'));
    expect(w.events.map((e) => e.type)).toEqual([
      'annotation',
      'annotation',
      'annotation',
      'annotation',
      'annotation',
      'label',
    ]);
    expect(await rig.store.listStepLabels(s.id)).toMatchObject([
      { label: 'incorrect', first_error: true, annotator: 'alice' },
    ]);
    expect((await rig.alice.request('DELETE', `/api/sessions/${s.id}/labels/${s.id}-step-0`)).status).toBe(204);
    expect(await rig.store.listStepLabels(s.id)).toEqual([]);
    // Other viewers see the label go too.
    await w.until(() => w.events.some((e) => e.type === 'label_removed'));
    expect(w.events.at(-1)).toMatchObject({ type: 'label_removed', step_id: `${s.id}-step-0`, annotator: 'alice' });
  });
});

describe('workspace at a checkpoint', () => {
  afterEach(() => stop(rig));

  it('lists files and shows a file at a checkpoint, refusing paths out of the tree', async () => {
    rig = await boot();
    const ws = path.join(rig.dir, 'workspace');
    mkdirSync(path.join(ws, 'src'), { recursive: true });
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: ws,
        encoding: 'utf8',
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 't',
          GIT_AUTHOR_EMAIL: 't@t',
          GIT_COMMITTER_NAME: 't',
          GIT_COMMITTER_EMAIL: 't@t',
        },
      }).trim();
    // The layout the checkpoint store makes: the server's git directory outside the workspace.
    mkdirSync(path.dirname(checkpointGitDir(rig.config, ws)), { recursive: true });
    git('init', '-q', `--separate-git-dir=${checkpointGitDir(rig.config, ws)}`);
    writeFileSync(path.join(ws, 'src', 'app.py'), 'print("v1")\n');
    writeFileSync(path.join(ws, 'README.md'), '# hi\n');
    git('add', '-A');
    git('commit', '-qm', 'step 0');
    const base = git('rev-parse', 'HEAD');
    writeFileSync(path.join(ws, 'src', 'app.py'), 'print("v2")\n');
    writeFileSync(path.join(ws, 'blob.bin'), Buffer.from([0, 1, 2]));
    git('add', '-A');
    git('commit', '-qm', 'step 1');
    const second = git('rev-parse', 'HEAD');
    const s = await rig.manager.createSession('alice');
    await rig.store.updateSession(s.id, { base_commit: base });
    await rig.store.insertStep({ ...step(s.id, 0, { type: 'message', content: '' }), checkpoint: second });

    const tree = await rig.alice.json<{ commit: string; files: string[] }>(
      'GET',
      `/api/sessions/${s.id}/tree?commit=${base}`,
    );
    expect(tree).toEqual({ status: 200, body: { commit: base, files: ['README.md', 'src/app.py'] } });
    const head = await rig.alice.json<{ commit: string; files: string[] }>('GET', `/api/sessions/${s.id}/tree`);
    expect(head.body).toEqual({ commit: second, files: ['README.md', 'blob.bin', 'src/app.py'] });

    const file = await rig.alice.json('GET', `/api/sessions/${s.id}/file?path=src/app.py&commit=${base.slice(0, 8)}`);
    expect(file).toEqual({
      status: 200,
      body: { path: 'src/app.py', commit: base, content: 'print("v1")\n', binary: false, size: 12 },
    });
    const bin = await rig.alice.json<{ binary: boolean; content: string }>(
      'GET',
      `/api/sessions/${s.id}/file?path=blob.bin`,
    );
    expect(bin.body).toMatchObject({ binary: true, content: '' });
    for (const [p, status] of [
      ['../config.yaml', 400],
      ['/etc/passwd', 400],
      ['src/../../x', 400],
      ['src', 400],
      ['missing.txt', 404],
    ] as const) {
      const res = await rig.alice.json<{ error: string }>(
        'GET',
        `/api/sessions/${s.id}/file?path=${encodeURIComponent(p)}`,
      );
      expect(res.status, p).toBe(status);
    }
    const foreign = await rig.alice.json('GET', `/api/sessions/${s.id}/tree?commit=${'a'.repeat(40)}`);
    expect(foreign.status).toBe(404);
    const option = await rig.alice.json('GET', `/api/sessions/${s.id}/tree?commit=--output=x`);
    expect(option.status).toBe(400);

    writeFileSync(path.join(ws, 'huge.txt'), 'y'.repeat(1024 * 1024 + 1));
    git('add', '-A');
    git('commit', '-qm', 'step 2');
    await rig.store.insertStep({
      ...step(s.id, 1, { type: 'message', content: '' }),
      checkpoint: git('rev-parse', 'HEAD'),
    });
    expect((await rig.alice.json('GET', `/api/sessions/${s.id}/file?path=huge.txt`)).status).toBe(413);
    // The workspace's .git is the agent's to write: the API reads the server's repository only.
    const before = await rig.alice.json('GET', `/api/sessions/${s.id}/tree`);
    writeFileSync(path.join(ws, '.git'), 'gitdir: /nonexistent\n');
    const again = await rig.alice.json('GET', `/api/sessions/${s.id}/tree`);
    expect(again).toEqual(before);
    expect(again.status).toBe(200);
  });
});

describe('static UI', () => {
  afterEach(() => stop(rig));

  it('serves the built UI publicly, falls back to index.html for app routes, and keeps API 404s', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
    writeFileSync(path.join(dir, 'assets', 'app.js'), 'console.log(1)');
    rig = await boot({}, { staticDir: dir });
    const anon = new Client(rig.base);
    const page = await anon.request('GET', '/sessions/abc');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="root"');
    expect(await (await anon.request('GET', '/')).text()).toContain('id="root"');
    expect(await (await anon.request('GET', '/assets/app.js')).text()).toBe('console.log(1)');
    expect((await anon.request('GET', '/assets/missing.js')).status).toBe(404);
    expect((await rig.alice.json('GET', '/api/nope')).status).toBe(404);
    expect((await anon.json('GET', '/api/nope')).status).toBe(401);
  });
});

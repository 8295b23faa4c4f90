/**
 * @module backends/claude-agent-sdk/session.test
 * claude_agent_sdk sessions end to end: the session manager, real SQLite, real git checkpoints
 * and the SDK's bundled CLI running its real Read, Edit, Write and Bash tools in the session's
 * workspace, against the scripted Messages API on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { waitForEvent } from '../../../test/engine/harness.js';
import { type ModelServer, startModelServer } from '../../../test/model-server/server.js';
import { loadConfig } from '../../config/load.js';
import { defaultEngineParts } from '../../engine.js';
import { sessionAccess } from '../../server/access.js';
import { registerApprovals } from '../../server/approvals.js';
import { errorAnswer } from '../../server/errors.js';
import type { SessionEvent } from '../../session/events.js';
import { createSessionManager, type EngineSessionManager } from '../../session/manager.js';
import { ControlError } from '../../session/types.js';
import type { Step } from '../../steps/types.js';
import { openSqliteStore } from '../../store/sqlite/store.js';
import { branchPath } from '../../store/tree.js';
import type { Store } from '../../store/types.js';
import { createClaudeAgentSdkBackend } from './index.js';
import { sdkRefOf } from './session-driver.js';

const PARSER = 'def parse(text):\n    return text\n';
const README = '# demo\nDo not delete me.\n';

interface Rig {
  dir: string;
  server: ModelServer;
  store: Store;
  manager: EngineSessionManager;
  close(): Promise<void>;
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function startRig(sdk: Record<string, unknown> = {}, agent: Record<string, unknown> = {}): Promise<Rig> {
  const server = await startModelServer();
  const dir = mkdtempSync(join(tmpdir(), 'potato-sdk-session-'));
  // As root, the local sandbox's own user must pass through this folder to its workspace.
  chmodSync(dir, 0o711);
  const home = join(dir, 'home');
  mkdirSync(join(dir, 'repo'), { recursive: true });
  mkdirSync(home);
  writeFileSync(join(dir, 'repo/parser.py'), PARSER);
  writeFileSync(join(dir, 'repo/README.md'), README);
  const config = {
    project_name: 'sdk session test',
    live_coding_agent: {
      backend: 'claude_agent_sdk',
      claude_agent_sdk: { api_key_env: 'TEST_SDK_KEY', base_url: server.anthropicUrl, ...sdk },
      sandbox: { type: 'local', workspace: './repo', timeout: 120 },
      branching: { require_reason_on_rollback: true, max_branches_per_session: 3 },
      ...agent,
    },
    output: { path: './output/' },
    annotators: [{ username: 'ann', password: 'pw' }],
  };
  writeFileSync(join(dir, 'config.yaml'), stringify(config));
  const loaded = loadConfig(join(dir, 'config.yaml'));
  const store = openSqliteStore(join(loaded.output.path, 'potato.db'));
  const parts = defaultEngineParts();
  const manager = createSessionManager({
    config: loaded,
    store,
    parts: {
      ...parts,
      // The real runner, with a key in its env and a HOME of its own for the SDK's transcripts.
      createSdkBackend: (cfg) =>
        createClaudeAgentSdkBackend(cfg.live_coding_agent.claude_agent_sdk!, {
          env: { TEST_SDK_KEY: 'sk-ant-dummy' },
          processEnv: { HOME: home },
        }),
    },
  });
  return {
    dir,
    server,
    store,
    manager,
    async close() {
      await manager.shutdown();
      await store.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The engine harness's wait: it listens before it reads the log, so nothing falls between. */
const waitFor = (r: Rig, id: string, match: (e: SessionEvent) => boolean, ms = 30_000): Promise<SessionEvent> =>
  waitForEvent(r, id, match, ms);

const ended = (e: SessionEvent) => e.type === 'session' && ['finished', 'stopped', 'failed'].includes(e.session.status);
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' });
const messagesOf = (r: Rig, i: number) =>
  JSON.stringify((r.server.modelRequests('anthropic')[i]!.body as { messages: unknown }).messages);
const summary = (steps: Step[]) => steps.map((s) => `${s.step_idx}:${s.type}`);

describe('a claude_agent_sdk session through the session manager', () => {
  it('records every SDK message as a step with parent pointers and checkpoints each changing step', async () => {
    rig = await startRig();
    const ws = join(rig.dir, 'output/workspaces');
    // The CLI takes far longer to boot than this: the script is queued before its first request,
    // with the absolute paths of the session's own workspace copy.
    const s = await rig.manager.start({ task: 'Make parse strip whitespace', annotator: 'ann' });
    const file = join((await rig.store.getSession(s.id))!.workspace, 'parser.py');
    rig.server.enqueue(
      'anthropic',
      {
        thinking: 'First read the parser.',
        tool_calls: [{ id: 'toolu_read', name: 'Read', input: { file_path: file } }],
      },
      {
        text: 'Strip the whitespace.',
        tool_calls: [
          {
            id: 'toolu_edit',
            name: 'Edit',
            input: { file_path: file, old_string: 'return text', new_string: 'return text.strip()' },
          },
        ],
      },
      {
        tool_calls: [
          { id: 'toolu_bash', name: 'Bash', input: { command: 'echo made-by-shell > notes.txt && cat notes.txt' } },
        ],
      },
      { text: 'Done.' },
    );
    const session = (await rig.store.getSession(s.id))!;
    expect(session.workspace.startsWith(ws)).toBe(true);
    await waitFor(rig, s.id, ended);
    expect((await rig.store.getSession(s.id))!.status).toBe('finished');

    const steps = await rig.store.listSteps(s.id);
    expect(summary(steps)).toEqual([
      '1:thinking',
      '2:file_read',
      '3:message',
      '4:file_edit',
      '5:bash_command',
      '6:message',
    ]);
    // A chain: each step's parent is the one before it, the first has none.
    expect(steps.map((st) => st.parent_id)).toEqual([null, ...steps.slice(0, -1).map((st) => st.id)]);
    const [, read, , edit, bash] = steps as [Step, Step, Step, Step, Step];
    expect(read.payload).toMatchObject({
      type: 'file_read',
      path: 'parser.py',
      content: expect.stringContaining('def parse'),
    });
    expect(edit.payload).toMatchObject({ type: 'file_edit', path: 'parser.py' });
    expect(edit.payload.type === 'file_edit' && edit.payload.diff).toContain('+    return text.strip()');
    expect(bash.payload).toMatchObject({
      type: 'bash_command',
      exit_code: 0,
      output: expect.stringContaining('made-by-shell'),
    });
    // Every step knows where it sits in the SDK's transcript (a rollback resumes there).
    expect(steps.every((st) => sdkRefOf(st) !== null)).toBe(true);

    // One commit per changing step (the edit and the shell command), with the exact message.
    const log = git(session.workspace, 'log', '--format=%B%x00').split('\0\n').filter(Boolean);
    expect(log.map((m) => m.trim())).toEqual([
      '[potato-checkpoint] Step 5: Run echo made-by-shell > notes.txt && cat notes.txt',
      [
        '[potato-checkpoint] Step 4: Edit parser.py',
        '',
        '- Modified lines 2',
        '- Agent reasoning: Strip the whitespace.',
      ].join('\n'),
      '[potato-checkpoint] Step 0: Initial state',
    ]);
    expect(steps.filter((st) => st.changed_files).map((st) => st.step_idx)).toEqual([4, 5]);
    expect(bash.checkpoint).toBe(git(session.workspace, 'rev-parse', 'HEAD').trim());
    expect(read.checkpoint).toBe(session.base_commit);
    // The user's folder was never touched.
    expect(readFileSync(join(rig.dir, 'repo/parser.py'), 'utf8')).toBe(PARSER);
    expect(readFileSync(join(session.workspace, 'parser.py'), 'utf8')).toContain('text.strip()');
  });

  // As root the local sandbox runs Claude Code as sandbox.local_user (default 61000:61000).
  it.runIf(process.geteuid?.() === 0)(
    'as root, Claude Code runs as the sandbox user: no server environment, store or /etc/shadow, the key only at the API',
    async () => {
      rig = await startRig();
      const s = await rig.manager.start({ task: 'Look around, then make parse strip', annotator: 'ann' });
      const session = (await rig.store.getSession(s.id))!;
      const store = join(rig.dir, 'output/potato.db');
      const bash = (id: string, command: string) => ({ tool_calls: [{ id, name: 'Bash', input: { command } }] });
      rig.server.enqueue(
        'anthropic',
        bash('toolu_id', 'id -u; echo "home=$HOME"'),
        bash('toolu_environ', `cat /proc/${process.pid}/environ`),
        bash('toolu_store', `cat ${store}`),
        bash('toolu_shadow', 'cat /etc/shadow'),
        // Every environment it can read, Claude Code's own included: the real key is in none.
        bash('toolu_key', 'cat /proc/[0-9]*/environ 2>/dev/null | grep -c "sk-ant-dum""my"; echo counted'),
        // Claude Code edits only what it has read.
        {
          tool_calls: [{ id: 'toolu_read', name: 'Read', input: { file_path: join(session.workspace, 'parser.py') } }],
        },
        {
          tool_calls: [
            {
              id: 'toolu_edit',
              name: 'Edit',
              input: {
                file_path: join(session.workspace, 'parser.py'),
                old_string: 'return text',
                new_string: 'return text.strip()',
              },
            },
          ],
        },
        { text: 'Done.' },
      );
      await waitFor(rig, s.id, ended);
      expect((await rig.store.getSession(s.id))!.end_reason).toBe('the agent finished its work');
      const steps = await rig.store.listSteps(s.id);
      const out = (id: string) => {
        const p = steps.find((st) => st.tool_call?.id === id)!.payload;
        return p.type === 'bash_command' ? p.output : '';
      };
      expect(out('toolu_id')).toMatch(/^61000\nhome=.*\.home$/);
      for (const id of ['toolu_environ', 'toolu_store', 'toolu_shadow']) {
        expect(out(id)).toMatch(/Permission denied/);
        expect(out(id)).not.toContain('sk-ant-dummy');
      }
      expect(out('toolu_key')).toMatch(/^0\ncounted/);

      // Its edit lands in the workspace and is checkpointed.
      const edit = steps.find((st) => st.tool_call?.id === 'toolu_edit')!;
      expect(edit.payload).toMatchObject({ type: 'file_edit', path: 'parser.py' });
      expect(edit.changed_files).toBe(true);
      expect(git(session.workspace, 'show', '--format=%s', '--stat', edit.checkpoint!)).toMatch(
        /Step \d+: Edit parser\.py[\s\S]*parser\.py/,
      );
      expect(readFileSync(join(session.workspace, 'parser.py'), 'utf8')).toContain('text.strip()');

      // Its transcripts are its own (a rollback resumes from them); the API got the real key from the forwarder.
      const transcripts = join(rig.dir, 'output/claude-code', s.id);
      expect(statSync(transcripts).uid).toBe(61000);
      const requests = rig.server.modelRequests('anthropic');
      expect(requests.length).toBe(8);
      expect(new Set(requests.map((r) => r.headers['x-api-key']))).toEqual(new Set(['sk-ant-dummy']));
    },
  );

  it.runIf(process.geteuid?.() === 0)(
    'as root, a temp folder the sandbox user cannot pass fails the session, naming it, before Claude Code starts',
    async () => {
      rig = await startRig();
      const saved = process.env.TMPDIR;
      const closed = join(rig.dir, 'private-tmp');
      mkdirSync(closed, { mode: 0o700 });
      process.env.TMPDIR = closed;
      try {
        const s = await rig.manager.start({ task: 'anything', annotator: 'ann' });
        await waitFor(rig, s.id, ended);
        const session = (await rig.store.getSession(s.id))!;
        expect(session.status).toBe('failed');
        expect(session.end_reason).toContain(`cannot reach the API socket folder ${closed}/potato-api-`);
        expect(session.end_reason).toContain(`${closed} (mode 700) does not let other users pass through`);
        expect(rig.server.requests).toHaveLength(0);
      } finally {
        if (saved === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = saved;
      }
    },
  );

  it('holds a pause in the PreToolUse hook, delivers an instruction in the next request, and rolls back to a step', async () => {
    rig = await startRig();
    const r = rig;
    const s = await r.manager.start({ task: 'Fix the parser', annotator: 'ann' });
    const ws = (await r.store.getSession(s.id))!.workspace;
    const file = join(ws, 'parser.py');
    r.server.enqueue(
      'anthropic',
      { tool_calls: [{ id: 'toolu_read', name: 'Read', input: { file_path: file } }] },
      {
        tool_calls: [
          {
            id: 'toolu_edit',
            name: 'Edit',
            input: { file_path: file, old_string: 'return text', new_string: 'return text.upper()' },
          },
        ],
      },
      {
        tool_calls: [
          { id: 'toolu_write', name: 'Write', input: { file_path: join(ws, 'wrong.py'), content: 'x = 1\n' } },
        ],
      },
      { tool_calls: [{ id: 'toolu_rm', name: 'Bash', input: { command: 'rm README.md' } }] },
      { text: 'First path done.' },
    );
    // Paused before the first tool: the Read waits in the hook until resumed.
    await s.pause('ann');
    await waitFor(r, s.id, (e) => e.type === 'status' && e.status === 'paused');
    const requestsHeld = r.server.modelRequests('anthropic').length;
    await new Promise((done) => setTimeout(done, 1500));
    expect(await r.store.listSteps(s.id)).toEqual([]);
    expect(r.server.modelRequests('anthropic').length).toBe(requestsHeld);
    expect(s.status()).toBe('paused');
    await s.instruct('Use a migration instead', 'ann');
    await s.resume('ann');
    await waitFor(r, s.id, ended);
    // The first request after the instruction carries it.
    const next = messagesOf(r, requestsHeld);
    expect(next).toContain('Use a migration instead');
    expect(next).toContain('toolu_read');
    expect((await r.store.listInterventions(s.id)).map((i) => i.type)).toEqual(['pause', 'instruction', 'resume']);
    // Given while the agent held before the Read, it reached the model with the Read's result: after step 1.
    expect((await r.store.listInterventions(s.id))[1]!.after_step).toBe(1);
    expect(summary(await r.store.listSteps(s.id))).toEqual([
      '1:file_read',
      '2:file_edit',
      '3:file_write',
      '4:bash_command',
      '5:message',
    ]);
    expect(existsSync(join(ws, 'README.md'))).toBe(false);
    expect(existsSync(join(ws, 'wrong.py'))).toBe(true);

    // Roll back to just after the Read: a new branch, the workspace as it was, the agent's memory too.
    const read = (await r.store.listSteps(s.id))[0]!;
    await expect(s.rollback({ toStepId: read.id, annotator: 'ann' })).rejects.toThrow(/reason is required/);
    r.server.enqueue('anthropic', { text: 'Second path: nothing to change.' });
    const before = r.server.modelRequests('anthropic').length;
    await s.rollback({
      toStepId: read.id,
      reason: 'it edited the wrong line',
      instruction: 'Only add a comment',
      annotator: 'ann',
    });
    expect(readFileSync(file, 'utf8')).toBe(PARSER);
    expect(readFileSync(join(ws, 'README.md'), 'utf8')).toBe(README);
    expect(existsSync(join(ws, 'wrong.py'))).toBe(false);
    await waitFor(
      r,
      s.id,
      (e) =>
        e.type === 'session' && e.session.status === 'finished' && r.server.modelRequests('anthropic').length > before,
    );
    const resumed = messagesOf(r, before);
    expect(resumed).toContain('toolu_read');
    expect(resumed).toContain('Only add a comment');
    for (const later of ['toolu_edit', 'toolu_write', 'toolu_rm', 'First path done'])
      expect(resumed).not.toContain(later);

    const branches = await r.store.listBranches(s.id);
    expect(branches.map((b) => b.name)).toEqual(['branch-A', 'branch-B']);
    const all = await r.store.listSteps(s.id);
    expect(summary(branchPath(branches[0]!, all))).toEqual([
      '1:file_read',
      '2:file_edit',
      '3:file_write',
      '4:bash_command',
      '5:message',
    ]);
    expect(summary(branchPath(branches[1]!, all))).toEqual(['1:file_read', '2:message']);
    expect(branches[1]!.fork_step_id).toBe(read.id);
    expect((await r.store.listInterventions(s.id)).at(-2)).toMatchObject({ type: 'branch', after_step: 1 });
    expect(git(ws, 'for-each-ref', '--format=%(refname:short)')).toMatch(/branch-B/);
    // The forked SDK session is a new one; the old path keeps its own.
    expect(sdkRefOf(branchPath(branches[1]!, all)[1]!)!.sdk_session_id).not.toBe(sdkRefOf(read)!.sdk_session_id);
  });

  it('ask mode: each call waits for the annotator, who approves with an edit or denies, and the agent is told', async () => {
    rig = await startRig({ permission_mode: 'ask' });
    const r = rig;
    const s = await r.manager.start({ task: 'Tidy up', annotator: 'ann' });
    const ws = (await r.store.getSession(s.id))!.workspace;
    const file = join(ws, 'parser.py');
    r.server.enqueue(
      'anthropic',
      // The SDK's Edit refuses a file the agent has not read: Read first.
      { tool_calls: [{ id: 'toolu_read', name: 'Read', input: { file_path: file } }] },
      {
        tool_calls: [
          {
            id: 'toolu_edit',
            name: 'Edit',
            input: { file_path: file, old_string: 'return text', new_string: 'return text.lower()' },
          },
        ],
      },
      { tool_calls: [{ id: 'toolu_rm', name: 'Bash', input: { command: 'rm README.md' } }] },
      { text: 'Understood, leaving README alone.' },
    );
    // The route the UI calls, on a bare app with the user already logged in.
    const app = new Hono<{ Variables: { user: string } }>();
    app.onError((err, c) => {
      const a = errorAnswer(err);
      return c.json(a.body, a.status);
    });
    app.use('*', async (c, next) => {
      c.set('user', 'ann');
      await next();
    });
    registerApprovals(app, { access: sessionAccess([], r.store), manager: r.manager });
    const post = (callId: string, body: unknown) =>
      app.request(`/api/sessions/${s.id}/approvals/${callId}`, { method: 'POST', body: JSON.stringify(body) });

    const asked = await waitFor(r, s.id, (e) => e.type === 'status' && e.activity === 'waiting_approval');
    expect(asked).toMatchObject({ message: 'Read wants to read parser.py (call toolu_read): approve, edit or deny' });
    await new Promise((done) => setTimeout(done, 800));
    expect(await r.store.listSteps(s.id)).toEqual([]);
    expect((await post('toolu_read', { allow: true })).status).toBe(204);
    const askedEdit = await waitFor(
      r,
      s.id,
      (e) => e.type === 'status' && e.activity === 'waiting_approval' && e.message!.includes('toolu_edit'),
    );
    expect(askedEdit).toMatchObject({
      status: 'running',
      message: expect.stringContaining('Edit wants to change parser.py'),
    });
    await new Promise((done) => setTimeout(done, 800));
    expect(readFileSync(file, 'utf8')).toBe(PARSER);
    const pending = (await (await app.request(`/api/sessions/${s.id}/approvals`)).json()) as { call_id: string }[];
    expect(pending.map((p) => p.call_id)).toEqual(['toolu_edit']);
    expect((await post('toolu_nope', { allow: true })).status).toBe(404);
    const edited = { file_path: file, old_string: 'return text', new_string: 'return text.casefold()' };
    expect((await post('toolu_edit', { allow: true, input: edited })).status).toBe(204);

    await waitFor(
      r,
      s.id,
      (e) => e.type === 'status' && e.activity === 'waiting_approval' && e.message!.includes('toolu_rm'),
    );
    expect(readFileSync(file, 'utf8')).toBe('def parse(text):\n    return text.casefold()\n');
    expect((await post('toolu_rm', { allow: false, message: 'Never delete the README' })).status).toBe(204);
    await waitFor(r, s.id, ended);

    expect(readFileSync(join(ws, 'README.md'), 'utf8')).toBe(README);
    const steps = await r.store.listSteps(s.id);
    expect(summary(steps)).toEqual(['1:file_read', '2:file_edit', '3:bash_command', '4:message']);
    expect(steps[1]!.tool_call!.input).toEqual(edited);
    expect(steps[1]!.changed_files).toBe(true);
    expect(steps[2]!.payload).toMatchObject({
      type: 'bash_command',
      exit_code: null,
      refused: 'Never delete the README',
    });
    expect(steps[2]!.tool_is_error).toBe(true);
    // The denial reached the model as the Bash call's result.
    const last = JSON.stringify(
      (r.server.modelRequests('anthropic').at(-1)!.body as { messages: unknown[] }).messages.at(-1),
    );
    expect(last).toContain('toolu_rm');
    expect(last).toContain('Never delete the README');
    const approvals = (await r.store.listInterventions(s.id)).filter((i) => i.type === 'approval');
    expect(approvals.map((i) => JSON.parse(i.content!))).toEqual([
      { call_id: 'toolu_read', tool: 'Read', allow: true },
      { call_id: 'toolu_edit', tool: 'Edit', allow: true, input: edited },
      { call_id: 'toolu_rm', tool: 'Bash', allow: false, message: 'Never delete the README' },
    ]);
    expect(approvals.map((i) => i.after_step)).toEqual([null, 1, 2]);
    const capability = r.manager.get(s.id)?.capability;
    expect(capability?.kind).toBe('own-loop');
    const waiting = capability?.kind === 'own-loop' ? capability.approvals : null;
    await expect(waiting?.approve('toolu_edit', { allow: true }, 'ann')).rejects.toThrow(ControlError);
  });

  it('stop interrupts the agent mid-answer; sandbox.timeout stops it and is recorded as a timeout', async () => {
    rig = await startRig({}, { sandbox: { type: 'local', workspace: './repo', timeout: 4 } });
    const r = rig;
    // About 12 s of streaming each: an answer can only complete if the interrupt did not work.
    const slow = { text: 'a slow answer '.repeat(100), chunk_size: 4, chunk_delay_ms: 30 };
    r.server.enqueue('anthropic', slow);
    const a = await r.manager.start({ task: 'Talk slowly', annotator: 'ann' });
    while (r.server.modelRequests('anthropic').length === 0) await new Promise((done) => setTimeout(done, 50));
    await a.stop('ann');
    expect(await r.store.getSession(a.id)).toMatchObject({ status: 'stopped', end_reason: 'stopped by the annotator' });
    // Cut mid-answer: at most the part that had streamed (the CLI may report it when interrupted), never the whole.
    for (const st of await r.store.listSteps(a.id)) {
      expect(st.payload.type).toBe('message');
      const said = st.payload.type === 'message' ? st.payload.content : '';
      expect(said.length).toBeLessThan(slow.text.length);
      expect(slow.text.startsWith(said)).toBe(true);
    }
    expect((await r.store.listInterventions(a.id)).map((i) => i.type)).toEqual(['stop']);
    await expect(a.pause('ann')).rejects.toThrow(/the session has stopped/);

    r.server.enqueue('anthropic', slow);
    const started = Date.now();
    const b = await r.manager.start({ task: 'Talk slowly again', annotator: 'ann' });
    await waitFor(r, b.id, ended);
    expect(Date.now() - started).toBeLessThan(11_000);
    expect(await r.store.getSession(b.id)).toMatchObject({
      status: 'stopped',
      end_reason: 'timeout after 4 s (sandbox.timeout)',
    });
    expect((await r.store.listInterventions(b.id)).map((i) => [i.type, i.content])).toEqual([
      ['timeout', 'timeout after 4 s (sandbox.timeout)'],
    ]);
  });
});

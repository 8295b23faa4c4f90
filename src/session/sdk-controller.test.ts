/**
 * @module session/sdk-controller.test
 * claude_agent_sdk sessions end to end: the session manager, real SQLite, real git checkpoints
 * and the SDK's bundled CLI running its real Read, Edit, Write and Bash tools in the session's
 * workspace, against the scripted Messages API on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type ModelServer, startModelServer } from '../../test/model-server/server.js';
import { createClaudeAgentSdkBackend } from '../backends/claude-agent-sdk/index.js';
import { loadConfig } from '../config/load.js';
import { defaultEngineParts } from '../engine.js';
import { registerApprovals } from '../server/approvals.js';
import { errorAnswer } from '../server/errors.js';
import type { Step } from '../steps/types.js';
import { openSqliteStore } from '../store/sqlite/store.js';
import { branchPath } from '../store/tree.js';
import type { Store } from '../store/types.js';
import type { SessionEvent } from './events.js';
import { createSessionManager, type EngineSessionManager } from './manager.js';
import { SdkSessionController, sdkRefOf } from './sdk-controller.js';
import { ControlError } from './types.js';

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
      store.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function waitFor(r: Rig, id: string, match: (e: SessionEvent) => boolean, ms = 30_000): Promise<SessionEvent> {
  const seen = r.store.eventsAfter(id, 0).find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching event within ${ms} ms`));
    }, ms);
    const off = r.manager.subscribe(id, (e) => {
      if (match(e)) {
        clearTimeout(timer);
        off();
        resolve(e);
      }
    });
  });
}

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
    const file = join(rig.store.getSession(s.id)!.workspace, 'parser.py');
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
    const session = rig.store.getSession(s.id)!;
    expect(session.workspace.startsWith(ws)).toBe(true);
    await waitFor(rig, s.id, ended);
    expect(rig.store.getSession(s.id)!.status).toBe('finished');

    const steps = rig.store.listSteps(s.id);
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
});

/**
 * @module test/docker/sdk-session
 * A claude_agent_sdk session with the Docker sandbox, on the real engine: the SDK's bundled
 * Claude Code runs inside the session's container (network off) against the scripted Messages
 * API, which it reaches only through the API socket. Its Bash and Read run in the container (the
 * container's hostname, no route to the host), the key never enters the container, what Bash,
 * Write and Edit change lands in the workspace with checkpoints, Grep and Glob work there, a
 * command outside allowed_commands is refused with the command policy's own message, an image
 * without glibc fails the session at start, and a rollback resumes in a new container.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createClaudeAgentSdkBackend } from '../../src/backends/claude-agent-sdk/index.js';
import { loadConfig } from '../../src/config/load.js';
import { defaultEngineParts } from '../../src/engine.js';
import type { SessionEvent } from '../../src/session/events.js';
import { createSessionManager } from '../../src/session/manager.js';
import type { StepPayload } from '../../src/steps/types.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import { waitForEvent } from '../engine/harness.js';
import { type ModelServer, startModelServer } from '../model-server/server.js';
import { BUSYBOX_IMAGE, ensureDockerImages, PYTHON_IMAGE } from './engine.js';

const KEY = 'sk-ant-secret-4d1f0c9e';
const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const bash = (id: string, command: string) => ({ tool_calls: [{ id, name: 'Bash', input: { command } }] });

/** The host's address on Docker's default bridge (some engines list only the subnet: then its .1). */
function bridgeAddress(): string {
  const [cfg] = JSON.parse(docker('network', 'inspect', 'bridge', '--format', '{{json .IPAM.Config}}')) as {
    Subnet: string;
    Gateway?: string;
  }[];
  return cfg!.Gateway || cfg!.Subnet.replace(/\.0\/\d+$/, '.1');
}

/** The session manager of a claude_agent_sdk config with the Docker sandbox, in its own folder. */
function engineFor(server: ModelServer, name: string, sandbox: Record<string, unknown>) {
  const root = join(dir, name);
  mkdirSync(join(root, 'repo'), { recursive: true });
  writeFileSync(join(root, 'repo/parser.py'), 'def parse(text):\n    return text\n');
  const config = {
    live_coding_agent: {
      backend: 'claude_agent_sdk',
      claude_agent_sdk: { api_key_env: 'TEST_SDK_KEY', base_url: server.anthropicUrl },
      sandbox: { type: 'docker', workspace: './repo', network: false, timeout: 300, ...sandbox },
    },
    output: { path: './output/' },
    annotators: [{ username: 'ann', password: 'pw' }],
  };
  writeFileSync(join(root, 'config.yaml'), stringify(config));
  const loaded = loadConfig(join(root, 'config.yaml'));
  const store = openSqliteStore(join(loaded.output.path, 'potato.db'));
  const manager = createSessionManager({
    config: loaded,
    store,
    parts: {
      ...defaultEngineParts(),
      createSdkBackend: (cfg) =>
        createClaudeAgentSdkBackend(cfg.live_coding_agent.claude_agent_sdk!, { env: { TEST_SDK_KEY: KEY } }),
    },
  });
  return { manager, store };
}

async function waitUntil(ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let dir: string;
beforeAll(() => {
  ensureDockerImages();
  dir = mkdtempSync(join(tmpdir(), 'potato-sdk-docker-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('claude_agent_sdk with sandbox.type docker', () => {
  it('runs Claude Code in the container: its tools see the container, not the host, its network or the key', async () => {
    const server = await startModelServer();
    // Something on the host a container could dial if it had a network.
    const listener = createServer((sock) => sock.end('hello\n'));
    await new Promise<void>((r) => listener.listen(0, '0.0.0.0', r));
    const port = (listener.address() as { port: number }).port;
    const bridge = bridgeAddress();

    const allowed = ['hostname', 'python3', 'echo', 'cat', 'ls'];
    const { manager, store } = engineFor(server, 'main', { image: PYTHON_IMAGE, allowed_commands: allowed });
    try {
      server.enqueue(
        'anthropic',
        bash('toolu_host', 'hostname'),
        bash(
          'toolu_net',
          `python3 -c "import socket; socket.create_connection(('${bridge}', ${port}), timeout=3); print('CONNECTED')"`,
        ),
        // Every process's environment in the container, the CLI's included: no key anywhere.
        bash(
          'toolu_env',
          `python3 -c "import glob; print('key seen', sum(open(f,'rb').read().count(b'${KEY.slice(-8)}') for f in glob.glob('/proc/[0-9]*/environ')), 'times')"`,
        ),
        bash('toolu_make', 'echo made in the container > made.txt && ls'),
        {
          tool_calls: [
            { id: 'toolu_write', name: 'Write', input: { file_path: '/workspace/notes.md', content: 'notes\n' } },
          ],
        },
        bash('toolu_curl', 'curl http://example.com'),
        // Read, Edit, Grep and Glob act in the container too: /etc/hostname is the container's.
        { tool_calls: [{ id: 'toolu_rh', name: 'Read', input: { file_path: '/etc/hostname' } }] },
        { tool_calls: [{ id: 'toolu_rp', name: 'Read', input: { file_path: '/workspace/parser.py' } }] },
        {
          tool_calls: [
            {
              id: 'toolu_edit',
              name: 'Edit',
              input: {
                file_path: '/workspace/parser.py',
                old_string: 'return text',
                new_string: 'return text.strip()',
              },
            },
          ],
        },
        {
          tool_calls: [
            { id: 'toolu_grep', name: 'Grep', input: { pattern: 'strip', output_mode: 'files_with_matches' } },
          ],
        },
        { tool_calls: [{ id: 'toolu_glob', name: 'Glob', input: { pattern: '*.md' } }] },
        { text: 'Done.' },
      );
      const s = await manager.start({ task: 'look around', annotator: 'ann' });
      const containerId = docker('ps', '--filter', `label=potato.session=${s.id}`, '--format', '{{.ID}}');
      expect(containerId).not.toBe('');
      const hostname = docker('inspect', containerId, '--format', '{{.Config.Hostname}}');
      const done = (e: SessionEvent) =>
        e.type === 'session' && ['finished', 'stopped', 'failed'].includes(e.session.status);
      await waitForEvent({ store, manager }, s.id, done, 120_000);
      const session = (await store.getSession(s.id))!;
      expect(session.end_reason).toBe('the agent finished its work');
      const steps = await store.listSteps(s.id);
      const commands = steps
        .map((st) => st.payload)
        .filter((p): p is Extract<StepPayload, { type: 'bash_command' }> => p.type === 'bash_command');
      const [host, net, env, make, curl] = commands;

      // Claude Code and its Bash run in the container: its hostname, not the host's.
      expect(host!.output.trim()).toBe(hostname);
      expect(hostname).not.toBe(docker('info', '--format', '{{.Name}}'));
      // The network is off for everything in the container, Claude Code included.
      expect(net!.output).not.toMatch(/CONNECTED/);
      expect(net!.output).toMatch(/Network is unreachable/);
      expect(net!.exit_code).toBe(1);
      // The key is on the host only: the forwarder added it to every request the model server got.
      expect(env!.output).toMatch(/key seen 0 times/);
      const requests = server.modelRequests('anthropic');
      expect(requests.length).toBe(12);
      expect(new Set(requests.map((r) => r.headers['x-api-key']))).toEqual(new Set([KEY]));

      // What it writes lands in the workspace and is checkpointed.
      const ws = session.workspace;
      expect(make!.output).toMatch(/made\.txt/);
      expect(readFileSync(join(ws, 'made.txt'), 'utf8')).toBe('made in the container\n');
      expect(readFileSync(join(ws, 'notes.md'), 'utf8')).toBe('notes\n');
      const write = steps.find((st) => st.type === 'file_write')!;
      expect(write.payload).toMatchObject({
        type: 'file_write',
        path: 'notes.md',
        diff: expect.stringContaining('+notes'),
      });
      const makeStep = steps.find((st) => st.payload === make)!;
      for (const st of [makeStep, write]) {
        expect(st.changed_files).toBe(true);
        expect(
          execFileSync('git', ['show', '--stat', '--format=%s', st.checkpoint!], { cwd: ws, encoding: 'utf8' }),
        ).toMatch(st === write ? /notes\.md/ : /made\.txt/);
      }

      const byCall = (id: string) => steps.find((st) => st.tool_call?.id === id)!;
      expect(byCall('toolu_rh').payload).toMatchObject({
        type: 'file_read',
        content: expect.stringContaining(hostname),
      });
      const edit = byCall('toolu_edit');
      expect(edit.payload).toMatchObject({
        type: 'file_edit',
        path: 'parser.py',
        diff: expect.stringContaining('+    return text.strip()'),
      });
      expect(readFileSync(join(ws, 'parser.py'), 'utf8')).toContain('return text.strip()');
      expect(edit.checkpoint).not.toBeNull();
      expect(byCall('toolu_grep').payload).toMatchObject({
        type: 'file_search',
        matches: [expect.objectContaining({ path: 'parser.py' })],
      });
      expect(byCall('toolu_glob').payload).toMatchObject({
        type: 'file_search',
        matches: [expect.objectContaining({ path: 'notes.md' })],
      });

      // A command outside allowed_commands is refused with the policy's message, and runs nothing.
      const refusal = `refused: "curl" is not in allowed_commands (${allowed.join(', ')})`;
      expect(curl!.refused).toBe(refusal);
      const { messages } = requests.at(-1)!.body as { messages: { content: unknown }[] };
      const answer = messages
        .flatMap((m) => (Array.isArray(m.content) ? (m.content as { tool_use_id?: string; content?: string }[]) : []))
        .find((b) => b.tool_use_id === 'toolu_curl');
      expect(answer?.content).toContain(`${refusal}\nNothing was run.`);
    } finally {
      await manager.shutdown();
      await store.close();
      await server.close();
      listener.close();
    }
  }, 180_000);

  it('fails the session at start, saying why, when the image cannot run Claude Code (no glibc)', async () => {
    const server = await startModelServer();
    const { manager, store } = engineFor(server, 'busybox', { image: BUSYBOX_IMAGE });
    try {
      const s = await manager.start({ task: 'anything', annotator: 'ann' });
      const session = (await store.getSession(s.id))!;
      expect(session.status).toBe('failed');
      expect(session.end_reason).toMatch(
        /runs Claude Code inside the session's container, and the image potato-test\/busybox:latest cannot run it .*Use an image with glibc/,
      );
      expect(server.requests).toHaveLength(0);
    } finally {
      await manager.shutdown();
      await store.close();
      await server.close();
    }
  }, 120_000);

  it('rolls back after the container is gone: a new container resumes the transcript at the step', async () => {
    const server = await startModelServer();
    const { manager, store } = engineFor(server, 'rollback', { image: PYTHON_IMAGE });
    try {
      server.enqueue('anthropic', bash('toolu_one', 'echo one > one.txt'), bash('toolu_two', 'echo two > two.txt'), {
        text: 'Done.',
      });
      const s = await manager.start({ task: 'write two files', annotator: 'ann' });
      await s.done;
      const session = (await store.getSession(s.id))!;
      expect(session.status).toBe('finished');
      const containers = () => docker('ps', '-a', '--filter', `label=potato.session=${s.id}`, '--format', '{{.ID}}');
      await waitUntil(() => containers() === '');
      const [one] = await store.listSteps(s.id);
      expect(one!.payload).toMatchObject({ type: 'bash_command', command: 'echo one > one.txt' });

      server.enqueue('anthropic', { text: 'Second path.' });
      const before = server.modelRequests('anthropic').length;
      const reopened = await manager.reopen(s.id);
      await reopened.rollback({ toStepId: one!.id, reason: 'only one file', annotator: 'ann' });
      await reopened.done;
      const ws = session.workspace;
      expect(readFileSync(join(ws, 'one.txt'), 'utf8')).toBe('one\n');
      expect(() => readFileSync(join(ws, 'two.txt'))).toThrow();
      // Claude Code in the new container read its transcript from the host folder, up to step 1.
      const seen = JSON.stringify((server.modelRequests('anthropic')[before]!.body as { messages: unknown }).messages);
      expect(seen).toContain('toolu_one');
      expect(seen).not.toContain('toolu_two');
      expect((await store.getSession(s.id))!.status).toBe('finished');
    } finally {
      await manager.shutdown();
      await store.close();
      await server.close();
    }
  }, 180_000);

  it('stops Claude Code in the container mid-answer: the session ends stopped and the container goes', async () => {
    const server = await startModelServer();
    const { manager, store } = engineFor(server, 'stop', { image: PYTHON_IMAGE });
    try {
      // About 12 s of streaming: the answer only completes if the stop did not work.
      server.enqueue('anthropic', { text: 'a slow answer '.repeat(100), chunk_size: 4, chunk_delay_ms: 30 });
      const s = await manager.start({ task: 'talk slowly', annotator: 'ann' });
      await waitUntil(() => server.modelRequests('anthropic').length > 0);
      await s.stop('ann');
      const session = (await store.getSession(s.id))!;
      expect(session.status).toBe('stopped');
      // The answer never completed (Claude Code may flush the fragment it had when interrupted).
      const said = (await store.listSteps(s.id)).map((st) => (st.payload.type === 'message' ? st.payload.content : ''));
      expect(said.every((text) => text.length < 'a slow answer '.repeat(100).trim().length)).toBe(true);
      const containers = () => docker('ps', '-a', '--filter', `label=potato.session=${s.id}`, '--format', '{{.ID}}');
      await waitUntil(() => containers() === '');
    } finally {
      await manager.shutdown();
      await store.close();
      await server.close();
    }
  }, 120_000);
});

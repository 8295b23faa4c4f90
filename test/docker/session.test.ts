/**
 * @module test/docker/session
 * A scripted session in the Docker sandbox, end to end: the agent reads, edits, creates files
 * and runs commands inside the container; rollback restores the workspace byte for byte
 * (files made inside the container too); the container is gone after stop; with the network
 * off, a connection to the host fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, type Engine, ended, startEngine, waitForEvent } from '../engine/harness.js';
import { ensureDockerImages, PYTHON_IMAGE } from './engine.js';

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();

/** The host's address on Docker's default bridge: what a container would dial to reach us. */
function bridgeAddress(): string {
  return docker('network', 'inspect', 'bridge', '--format', '{{(index .IPAM.Config 0).Gateway}}');
}

async function waitUntil(ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

beforeAll(() => ensureDockerImages());

describe('a scripted session in the Docker sandbox', () => {
  it('runs tools in the container, checkpoints what it made, rolls back byte for byte, and leaves no container', async () => {
    const listener = createServer((sock) => sock.end('hello\n'));
    await new Promise<void>((r) => listener.listen(0, '0.0.0.0', r));
    const port = (listener.address() as { port: number }).port;
    try {
      engine = await startEngine({
        script: {
          turns: [
            { tool_calls: [{ file_read: { path: 'src/parser.py' } }] },
            {
              tool_calls: [
                { file_edit: { path: 'src/parser.py', old_text: 'settings = {}', new_text: 'settings = dict()' } },
              ],
            },
            {
              tool_calls: [
                {
                  bash_command: {
                    command: `python3 -c "open('made_in_container.txt','w').write('x'*10)" && chmod 600 made_in_container.txt && rm README.md && python3 -m unittest; echo exit=$?`,
                  },
                },
              ],
            },
            {
              tool_calls: [
                {
                  bash_command: {
                    command: `python3 -c "import socket; socket.create_connection(('${bridgeAddress()}', ${port}), timeout=3); print('CONNECTED')"`,
                  },
                },
              ],
            },
            { text: 'done' },
          ],
        },
        config: { live_coding_agent: { sandbox: { type: 'docker', image: PYTHON_IMAGE, network: false } } },
      });
      const e = engine;
      const s = await e.manager.start({ task: 'work in docker', annotator: 'ann' });
      await waitForEvent(e, s.id, ended, 60_000);
      const session = (await e.store.getSession(s.id))!;
      expect(session.status).toBe('finished');
      const steps = await e.store.listSteps(s.id);
      const run = steps[2]!.payload;
      expect(run.type === 'bash_command' && run.output).toMatch(/FAILED \(errors=1\)[\s\S]*exit=1/);
      const net = steps[3]!.payload;
      expect(net.type === 'bash_command' && net.exit_code).not.toBe(0);
      expect(net.type === 'bash_command' && net.output).not.toMatch(/CONNECTED/);
      const ws = session.workspace;
      expect(readFileSync(join(ws, 'made_in_container.txt'), 'utf8')).toBe('x'.repeat(10));
      // The container's changes were committed as one checkpoint.
      expect(steps[2]!.changed_files).toBe(true);
      const show = execFileSync('git', ['show', '--stat', '--format=%s', steps[2]!.checkpoint!], {
        cwd: ws,
        encoding: 'utf8',
      });
      expect(show).toMatch(/made_in_container.txt/);
      expect(show).toMatch(/README.md/);

      // The container is removed as soon as the session ends.
      const containers = () => docker('ps', '-a', '--filter', `label=potato.session=${s.id}`, '--format', '{{.ID}}');
      await waitUntil(() => containers() === '');
      // Rolling back the ended session starts a new container for the new branch.
      const reopened = await e.manager.reopen(s.id);
      await reopened.rollback({ toStepId: steps[0]!.id, reason: 'try again', annotator: 'ann' });
      expect(readFileSync(join(ws, 'src/parser.py'), 'utf8')).toBe(
        readFileSync(join(DEMO, 'repo/src/parser.py'), 'utf8'),
      );
      expect(readFileSync(join(ws, 'README.md'), 'utf8')).toBe(readFileSync(join(DEMO, 'repo/README.md'), 'utf8'));
      expect(existsSync(join(ws, 'made_in_container.txt'))).toBe(false);

      // The new branch runs in a new container, which is gone again when it ends.
      await reopened.done;
      const branchB = (await e.store.listBranches(s.id)).find((b) => b.name === 'branch-B')!;
      const rerun = (await e.store.getStep(branchB.head_step_id!))!;
      expect(rerun.step_idx).toBeGreaterThan(1);
      const again = (await e.store.listSteps(s.id)).find(
        (st) => st.parent_id === steps[0]!.id && st.id !== steps[1]!.id,
      );
      expect(again?.type).toBe('file_edit');
      await waitUntil(() => containers() === '');
    } finally {
      listener.close();
    }
  });
});

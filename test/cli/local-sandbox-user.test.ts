/**
 * @module test/cli/local-sandbox-user
 * `potato start --task` run as root with the local sandbox: a scripted agent tries to read the
 * server's environment (the API key), the store and /etc/shadow, and cannot, because its
 * commands run as the sandbox's own user; it still edits its workspace, and every change is
 * checkpointed. Needs root (as CI and this machine run the tests).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Step } from '../../src/steps/types.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import { ended, startEngine, waitForEvent } from '../engine/harness.js';
import { demoProject, runHeadless } from './harness.js';

const SECRET = 'sk-ant-potato-local-user-secret-7d1e';
const bash = (command: string) => ({ tool_calls: [{ bash_command: { command } }] });

function output(step: Step | undefined): string {
  expect(step?.payload.type).toBe('bash_command');
  return step!.payload.type === 'bash_command' ? step!.payload.output : '';
}

describe.skipIf(process.geteuid?.() !== 0)('the local sandbox when the server runs as root', () => {
  it('runs the agent as its own user: no key, no store, no shadow; its workspace edits and checkpoints work', async () => {
    // Every command allowed: the policy is not what stops these.
    const dir = demoProject((cfg) =>
      cfg.replace('turn_delay_ms: 700', 'turn_delay_ms: 0').replace(/^ {4}allowed_commands: .*\n/m, ''),
    );
    const store = join(dir, 'output', 'potato.db');
    // A folder of the server's beside the workspaces, made before the server ran (as another
    // version might have left a checkpoint git directory): readable by all until the server starts.
    const serverFolder = join(dir, 'output', 'workspaces', 'server-folder');
    mkdirSync(serverFolder, { recursive: true, mode: 0o755 });
    writeFileSync(join(serverFolder, 'HEAD'), 'ref: refs/heads/branch-A\n', { mode: 0o644 });
    writeFileSync(
      join(dir, 'agent-script.yaml'),
      stringify({
        turns: [
          bash('id -u; id -g'),
          bash(
            'server=$(awk \'/^PPid/{print $2}\' /proc/$PPID/status); echo "server=$server"; cat /proc/$server/environ',
          ),
          bash("cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c potato-local-user-secret"),
          bash(`head -c 16 ${store}; ls ${join(dir, 'output')}; cat ${join(serverFolder, 'HEAD')}`),
          bash('cat /etc/shadow'),
          {
            tool_calls: [
              {
                file_edit: {
                  path: 'src/parser.py',
                  old_text: '        key, value = line.split("=", 1)\n',
                  new_text: '        key, value = line.replace(":", "=", 1).split("=", 1)\n',
                },
              },
            ],
          },
          bash('echo made-by-agent > notes.txt && cat notes.txt && python3 -m unittest 2>&1 | tail -1'),
          { text: 'Done.' },
        ],
      }),
    );
    const run = await runHeadless(dir, { ...process.env, ANTHROPIC_API_KEY: SECRET });
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const id = /^session (session_\S+):/m.exec(run.out)![1]!;

    const db = openSqliteStore(store);
    try {
      const steps = await db.listSteps(id);
      expect(steps.map((s) => `${s.step_idx}:${s.type}`)).toEqual([
        '1:bash_command',
        '2:bash_command',
        '3:bash_command',
        '4:bash_command',
        '5:bash_command',
        '6:file_edit',
        '7:bash_command',
        '8:message',
      ]);
      expect(output(steps[0])).toBe('61000\n61000\n');
      // The server is the process host's parent: its environment is not the agent's to read.
      const environ = output(steps[1]);
      expect(environ).toContain(`server=${run.pid}\n`);
      expect(environ).toContain(`cat: /proc/${run.pid}/environ: Permission denied`);
      // No process whose environment it can read holds the key.
      expect(output(steps[2]).trim()).toBe('0');
      expect(output(steps[3])).toBe(
        `head: cannot open '${store}' for reading: Permission denied\n` +
          `ls: cannot open directory '${join(dir, 'output')}': Permission denied\n` +
          `cat: ${join(serverFolder, 'HEAD')}: Permission denied\n`,
      );
      expect(output(steps[4])).toBe('cat: /etc/shadow: Permission denied\n');
      for (const step of steps) expect(JSON.stringify(step)).not.toContain(SECRET);

      // Its own work goes on: the edit (a file tool), a shell write, the tests it runs.
      const ws = (await db.getSession(id))!.workspace;
      expect(readFileSync(join(ws, 'src/parser.py'), 'utf8')).toContain('line.replace(":", "=", 1)');
      expect(output(steps[6])).toBe('made-by-agent\nOK\n');
      expect(statSync(join(ws, 'notes.txt')).uid).toBe(61000);
      // Each change is a checkpoint.
      const log = execFileSync('git', ['log', '--format=%s'], { cwd: ws, encoding: 'utf8' }).trim().split('\n');
      expect(log).toEqual([
        '[potato-checkpoint] Step 7: Run echo made-by-agent > notes.txt && cat notes.txt && python3 …',
        '[potato-checkpoint] Step 6: Edit src/parser.py',
        '[potato-checkpoint] Step 0: Initial state',
      ]);
      expect(steps[6]!.changed_files).toBe(true);
    } finally {
      await db.close();
    }
    // What the server keeps is private to it; output/ only lets others pass through.
    expect(statSync(join(dir, 'output')).mode & 0o777).toBe(0o711);
    expect(statSync(store).mode & 0o077).toBe(0);
    expect(statSync(join(dir, 'output', 'trajectories.jsonl')).mode & 0o077).toBe(0);
  });

  it("hands files a rollback restored back to the agent, and keeps .git the server's", async () => {
    const engine = await startEngine({
      script: {
        turns: [bash('echo v1 > a.txt && mkdir -p d && echo x > d/f'), bash('rm -r a.txt d'), { text: 'done' }],
        on_instruction: [
          {
            when: 'append',
            turns: [
              bash(
                'echo v2 >> a.txt && echo y >> d/f && cat a.txt d/f && touch .git/x 2>&1; mv .git .g 2>&1; ls -d .git',
              ),
              { text: 'done again' },
            ],
          },
        ],
      },
    });
    try {
      const s = await engine.manager.start({ task: 'files', annotator: 'ann' });
      await waitForEvent(engine, s.id, ended);
      const [first] = await engine.store.listSteps(s.id);
      const ws = (await engine.store.getSession(s.id))!.workspace;
      // The server (root) wrote a.txt and d/ back; the agent can change them again.
      await s.rollback({ toStepId: first!.id, reason: 'keep the files', instruction: 'append', annotator: 'ann' });
      await s.done;
      const last = (await engine.store.listSteps(s.id)).filter((st) => st.type === 'bash_command').at(-1);
      // .git is the server's pointer file to its own repository (outside the workspace): not a
      // folder the agent can write into, and the sticky workspace folder keeps it from being moved.
      expect(output(last)).toBe(
        "v1\nv2\nx\ny\ntouch: cannot touch '.git/x': Not a directory\nmv: cannot move '.git' to '.g': Operation not permitted\n.git\n",
      );
      expect(statSync(join(ws, 'd/f')).uid).toBe(61000);
      expect(statSync(ws).mode & 0o7777).toBe(0o1770);
      expect(statSync(join(ws, '.git')).uid).toBe(0);
    } finally {
      await engine.close();
    }
  });
});

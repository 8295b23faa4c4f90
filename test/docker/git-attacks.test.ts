/**
 * @module test/docker/git-attacks
 * The Docker sandbox (network off): the same scripted attack as test/security/git-attacks —
 * config keys, includes, hooks, attributes, a replaced `.git`, a `.git` symlink and file, a nested
 * repository, and writing the checkpoint repository itself, which is mounted read-only. After
 * checkpoints, rollback into a branch, the index write, session end and a user's own git, no
 * payload has run on the host.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, it } from 'vitest';
import { type Engine, startEngine } from '../engine/harness.js';
import { runGitAttack } from '../security/git-attacks.js';
import { BUSYBOX_IMAGE, ensureDockerImages } from './engine.js';

let engine: Engine | undefined;
let markerDir = '';
afterEach(async () => {
  await engine?.close();
  engine = undefined;
  rmSync(markerDir, { recursive: true, force: true });
  delete process.env.POTATO_TEST_SECRET;
});

beforeAll(() => ensureDockerImages());

describe('git in the workspace cannot run anything on the host (Docker sandbox)', () => {
  it('no payload runs, and the checkpoint repository is read-only in the container', async () => {
    markerDir = mkdtempSync(join(tmpdir(), 'potato-markers-'));
    engine = await runGitAttack(
      (script) =>
        startEngine({
          script,
          config: { live_coding_agent: { sandbox: { type: 'docker', image: BUSYBOX_IMAGE, network: false } } },
        }),
      markerDir,
      /Read-only file system/,
      async (id) => {
        const containers = () =>
          execFileSync('docker', ['ps', '-a', '--filter', `label=potato.session=${id}`, '--format', '{{.ID}}'], {
            encoding: 'utf8',
          }).trim();
        for (let i = 0; containers() !== ''; i++) {
          if (i > 100) throw new Error(`the container of ${id} was not removed`);
          await new Promise((r) => setTimeout(r, 200));
        }
      },
    );
  }, 300_000);
});

/**
 * @module test/docker/engine
 * Brings up what the Docker tests need: a running engine and the two test images, by running
 * the project's own scripts. Throws (so the tests fail, not skip) when Docker cannot run here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema, type SandboxConfig } from '../../src/config/schema.js';

const scripts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/docker');

export const BUSYBOX_IMAGE = 'potato-test/busybox:latest';
export const PYTHON_IMAGE = 'potato-test/python:latest';

let ready = false;

export function ensureDockerImages(): void {
  if (ready) return;
  for (const script of ['start-engine.sh', 'build-test-images.sh']) {
    try {
      execFileSync(path.join(scripts, script), { stdio: 'pipe', timeout: 15 * 60_000 });
    } catch (err) {
      const e = err as { stderr?: Buffer; stdout?: Buffer; message: string };
      throw new Error(`scripts/docker/${script} failed: ${e.stderr?.toString() || e.stdout?.toString() || e.message}`);
    }
  }
  ready = true;
}

/** A sandbox config as the config loader would produce it (defaults filled, paths absolute). */
export function sandboxConfig(overrides: Partial<SandboxConfig> & { workspace: string }): SandboxConfig {
  const parsed = configSchema.parse({
    live_coding_agent: { backend: 'scripted', sandbox: { type: 'docker', image: BUSYBOX_IMAGE } },
    annotators: [{ username: 'a', password: 'b' }],
  });
  return { ...parsed.live_coding_agent.sandbox, ...overrides };
}

export function tempWorkspace(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `potato-docker-${name}-`));
}

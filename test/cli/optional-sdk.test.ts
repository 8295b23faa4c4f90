/**
 * @module test/cli/optional-sdk.test
 * An install without the optional Claude Agent SDK (as `npm install` leaves it for a user who
 * never configures that backend): the sources and every other package, but no
 * `@anthropic-ai/claude-agent-sdk`. Other backends validate as before; a claude_agent_sdk
 * config is refused by `potato validate` and by the backend's preflight, each saying what to
 * install.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const MODULES = join(ROOT, 'node_modules');
const INSTALL = 'npm install @anthropic-ai/claude-agent-sdk';
const exec = promisify(execFile);

/** A project folder outside the repository whose node_modules lacks the SDK and its binaries. */
function installWithoutSdk(): string {
  const dir = mkdtempSync(join(tmpdir(), 'potato-no-sdk-'));
  cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  cpSync(join(ROOT, 'test/fixtures/configs'), join(dir, 'configs'), { recursive: true });
  mkdirSync(join(dir, 'node_modules/@anthropic-ai'), { recursive: true });
  for (const name of readdirSync(MODULES)) {
    if (name === '@anthropic-ai') continue;
    symlinkSync(join(MODULES, name), join(dir, 'node_modules', name));
  }
  for (const name of readdirSync(join(MODULES, '@anthropic-ai'))) {
    if (name.startsWith('claude-agent-sdk')) continue;
    symlinkSync(join(MODULES, '@anthropic-ai', name), join(dir, 'node_modules/@anthropic-ai', name));
  }
  return dir;
}

type Failure = { code: number; stdout: string; stderr: string };

describe('without the optional Claude Agent SDK', () => {
  let dir: string;
  const node = (...args: string[]) =>
    exec(process.execPath, ['--import', 'tsx', ...args], {
      cwd: dir,
      env: { ...process.env, ANTHROPIC_API_KEY: 'sk-ant-test' },
    });

  beforeAll(() => {
    dir = installWithoutSdk();
  });

  it('validates a config of another backend as before', async () => {
    const { stdout, stderr } = await node('src/cli/main.ts', 'validate', 'configs/anthropic.yaml');
    expect(stderr).toBe('');
    expect(stdout).toContain('backend: anthropic');
  });

  it('refuses a claude_agent_sdk config in validate, naming the key and the install command', async () => {
    const failure = await node('src/cli/main.ts', 'validate', 'configs/claude_agent_sdk.yaml').then(
      () => undefined,
      (err: Failure) => err,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stdout).toBe('');
    expect(failure?.stderr).toContain('live_coding_agent.backend: the claude_agent_sdk backend needs');
    expect(failure?.stderr).toContain(INSTALL);
  });

  it("fails the backend's preflight with the same words", async () => {
    const script = [
      "import { loadConfig } from './src/config/load.ts';",
      "import { createClaudeAgentSdkBackend } from './src/backends/claude-agent-sdk/index.ts';",
      "const cfg = loadConfig('configs/claude_agent_sdk.yaml');",
      'const backend = createClaudeAgentSdkBackend(cfg.live_coding_agent.claude_agent_sdk);',
      'await backend.check().then(() => console.log("passed"), (e) => console.log(e.name, e.code + ":", e.message));',
    ].join('\n');
    const { stdout } = await node('--input-type=module', '-e', script);
    expect(stdout).toContain('BackendError config: the claude_agent_sdk backend needs');
    expect(stdout).toContain(INSTALL);
  });
});

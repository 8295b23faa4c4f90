/**
 * @module cli/main.test
 * The `potato` command as a user meets it: help, version, exit codes, `validate`. Most cases run
 * in-process through `run`; two run the real entry point as a child process.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { UsageError } from './errors.js';
import { buildProgram, type Io, run } from './main.js';
import { LOCAL_SANDBOX_NOTE, SDK_LOCAL_NOTE } from './validate.js';

const root = path.resolve(import.meta.dirname, '../..');
const fixture = (name: string) => path.join(root, 'test/fixtures/configs', name);
const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

function capture(): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    stdout: () => out,
    stderr: () => err,
  };
}

async function potato(...args: string[]) {
  const io = capture();
  const code = await run(['node', 'potato', ...args], io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

describe('potato (in-process)', () => {
  it('prints the package version', async () => {
    expect(await potato('--version')).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('lists the subcommands in --help', async () => {
    const { code, stdout } = await potato('--help');
    expect(code).toBe(0);
    for (const command of ['validate', 'start', 'export']) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  });

  it('exits 2 on commander usage errors, with its message', async () => {
    const unknown = await potato('strat');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'strat'");
    expect(unknown.stderr).toContain('(Did you mean start?)');
    const missing = await potato('validate');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("error: missing required argument 'config'");
    expect((await potato()).code).toBe(2);
  });

  it('validate prints the resolved config as YAML with secrets masked', async () => {
    const { code, stdout, stderr } = await potato('validate', fixture('quickstart.yaml'));
    // A local sandbox is valid, and still said not to be a boundary.
    expect(stderr).toBe(LOCAL_SANDBOX_NOTE);
    expect(stderr).toMatch(/^note: sandbox\.type local is not a security boundary; use docker/);
    expect(stderr).toContain('use the network');
    expect(code).toBe(0);
    const printed = parse(stdout);
    expect(printed.live_coding_agent.backend).toBe('ollama');
    expect(printed.live_coding_agent.sandbox.workspace).toBe(fixture('workspace/repo'));
    expect(printed.annotators).toEqual([{ username: 'observer1', password_hash: '<hashed>', role: 'annotator' }]);
    expect(stdout).not.toContain('observer_pw_1');
  });

  it('validate warns on stderr about each key that has no effect with the backend and sandbox, and still succeeds', async () => {
    const file = fixture('no-effect.yaml');
    const { code, stdout, stderr } = await potato('validate', file);
    expect(code).toBe(0);
    expect(parse(stdout).live_coding_agent.backend).toBe('claude_agent_sdk');
    expect(stderr).toBe(
      [
        `warning: config ${file} line 7: live_coding_agent.ollama has no effect: backend is "claude_agent_sdk", so only live_coding_agent.claude_agent_sdk is read`,
        `warning: config ${file} line 12: live_coding_agent.sandbox.image has no effect: it applies to sandbox.type docker only`,
        `warning: config ${file} line 13: live_coding_agent.sandbox.network has no effect: it applies to sandbox.type docker only`,
        `warning: config ${file} line 14: live_coding_agent.sandbox.max_output_bytes has no effect: Claude Code's Bash and Read keep their own output limits with backend claude_agent_sdk`,
        LOCAL_SANDBOX_NOTE + SDK_LOCAL_NOTE,
      ].join('\n'),
    );
    // allowed_commands and local_user do apply to claude_agent_sdk now: no warning for them.
    expect(stderr).not.toContain('allowed_commands');
    expect(stderr).not.toContain('local_user has no effect');
  });

  it('validate exits 2 and lists every problem of a bad config, without a stack trace', async () => {
    const { code, stdout, stderr } = await potato('validate', fixture('bad/many-problems.yaml'));
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: config .*many-problems\.yaml has 9 problems:\n/);
    expect(stderr).toContain('  line 7: live_coding_agent.sandbox.timout: unknown key; did you mean "timeout"?\n');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('maps UsageError to 2 and any other error to 1, message only', async () => {
    const io = capture();
    const program = await buildProgram(io);
    program.command('usage-fail').action(() => {
      throw new UsageError('--port must be a number between 1 and 65535, got "abc"');
    });
    program.command('crash').action(async () => {
      throw new Error('disk on fire');
    });
    expect(await run(['node', 'potato', 'usage-fail'], io, program)).toBe(2);
    expect(await run(['node', 'potato', 'crash'], io, program)).toBe(1);
    expect(io.stderr()).toBe('error: --port must be a number between 1 and 65535, got "abc"\nerror: disk on fire\n');
  });
});

describe('potato as a child process', () => {
  const exec = promisify(execFile);
  // The real entry point, run from source: the same module bin/potato.js loads once built.
  const cli = (...args: string[]) =>
    exec(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args], {
      cwd: root,
      env: { ...process.env, ANTHROPIC_API_KEY: 'sk-ant-child-secret' },
    });

  it('exits 0 and prints masked config: no password, no key value', async () => {
    const { stdout, stderr } = await cli('validate', fixture('anthropic.yaml'));
    expect(stderr).toBe('');
    expect(stdout).toContain('api_key_env: ANTHROPIC_API_KEY (set)');
    expect(stdout).toContain('password_hash: <hashed>');
    expect(stdout).not.toContain('observer_pw_1');
    expect(stdout).not.toContain('sk-ant-child-secret');
  });

  it('exits 2 with the problem on stderr', async () => {
    const failure = await cli('validate', fixture('bad/bad-enum.yaml')).then(
      () => undefined,
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stdout).toBe('');
    expect(failure?.stderr).toBe(
      `error: config ${fixture('bad/bad-enum.yaml')} has 1 problem:\n` +
        '  line 4: live_coding_agent.sandbox.type: expected "docker" or "local", got "dokcer"\n',
    );
  });
});

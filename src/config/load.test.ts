/**
 * @module config/load.test
 * loadConfig on the source's example configs and on broken ones: what a user sees.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { loadConfig } from './load.js';
import { verifyPassword } from './passwords.js';

const fixtures = path.resolve(import.meta.dirname, '../../test/fixtures/configs');
const fixture = (name: string) => path.join(fixtures, name);

/** The problems of a config that must fail, as the sentences a user reads. */
function problemsOf(file: string): string[] {
  try {
    loadConfig(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => p.text);
  }
  throw new Error(`${file} loaded without error`);
}

/** A config file in a fresh folder that also holds `files` and an empty `workspace/` (the default workspace). */
function tempConfig(yaml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'potato-config-'));
  mkdirSync(path.join(dir, 'workspace'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

const ANNOTATOR = 'annotators:\n  - username: alice\n    password: pw\n';

describe('loadConfig on the source examples', () => {
  it('loads the Ollama example with its values and fills the sections it leaves out', () => {
    const cfg = loadConfig(fixture('ollama.yaml'));
    expect(cfg.project_name).toBe('Live Agent Observation - Ollama');
    expect(cfg.live_coding_agent.backend).toBe('ollama');
    expect(cfg.live_coding_agent.ollama).toEqual({
      model: 'qwen2.5-coder:32b',
      host: 'http://localhost:11434',
      temperature: 0.2,
      max_tokens: 4096,
      num_ctx: 32768,
    });
    expect(cfg.live_coding_agent.sandbox.type).toBe('docker');
    expect(cfg.live_coding_agent.sandbox.timeout).toBe(600);
    expect(cfg.live_coding_agent.checkpoints.commit_message_prefix).toBe('[potato-checkpoint]');
    // Sections the example omits come with the source's defaults.
    expect(cfg.live_coding_agent.controls.pause_keyboard_shortcut).toBe('Space');
    expect(cfg.live_coding_agent.controls.instruction_keyboard_shortcut).toBe('i');
    expect(cfg.live_coding_agent.branching.auto_name_branches).toBe(true);
    expect(cfg.output.format).toBe('jsonl');
  });

  it('loads the Anthropic example: tools, folded system prompt, allowed commands', () => {
    const cfg = loadConfig(fixture('anthropic.yaml'));
    const anthropic = cfg.live_coding_agent.anthropic!;
    expect(anthropic.api_key_env).toBe('ANTHROPIC_API_KEY');
    expect(anthropic.max_tokens).toBe(8192);
    expect(anthropic.tools).toEqual(['file_read', 'file_edit', 'bash_command', 'directory_list', 'file_search']);
    expect(anthropic.system_prompt).toMatch(/^You are a coding agent\. .* by running tests\.\n$/);
    expect(cfg.live_coding_agent.sandbox.allowed_commands).toEqual([
      'python',
      'pip',
      'pytest',
      'git',
      'ls',
      'cat',
      'find',
      'grep',
    ]);
    expect(cfg.live_coding_agent.streaming).toMatchObject({ update_interval_ms: 50, show_thinking: true });
  });

  it('loads the Claude Agent SDK example and resolves the host side of mount_volumes', () => {
    const cfg = loadConfig(fixture('claude_agent_sdk.yaml'));
    const sdk = cfg.live_coding_agent.claude_agent_sdk!;
    expect(sdk.permission_mode).toBe('auto');
    expect(sdk.allowed_tools).toEqual(['Read', 'Edit', 'Write', 'Bash', 'Glob', 'Grep']);
    expect(sdk.restricted_commands).toEqual(['rm -rf /', 'sudo', 'curl', 'wget']);
    expect(cfg.live_coding_agent.sandbox.image).toBe('node:20-slim');
    expect(cfg.live_coding_agent.sandbox.mount_volumes).toEqual([
      `${path.join(fixtures, 'test-repo')}:/workspace/repo`,
    ]);
    expect(cfg.live_coding_agent.checkpoints.max_checkpoints).toBe(100);
  });

  it('loads the quick-start config with its annotation schemes and export formats', () => {
    const cfg = loadConfig(fixture('quickstart.yaml'));
    expect(cfg.annotation_schemes.map((s) => [s.annotation_type, s.name])).toEqual([
      ['radio', 'outcome'],
      ['text_input', 'notes'],
    ]);
    expect(cfg.output.export_formats).toEqual(['trajectories', 'branch_preferences', 'prm_from_branches']);
    expect(cfg.live_coding_agent.branching.max_branches_per_session).toBe(5);
    expect(cfg.live_coding_agent.sandbox.workspace).toBe(path.join(fixtures, 'workspace/repo'));
  });
});

describe('defaults, paths and passwords', () => {
  it('fills every default into a minimal config and resolves paths against the config folder', () => {
    const cfg = loadConfig(fixture('minimal.yaml'));
    expect(cfg.config_path).toBe(fixture('minimal.yaml'));
    expect(cfg.config_dir).toBe(fixtures);
    expect(cfg.port).toBe(8000);
    expect(cfg.project_name).toBe('Potato Live');
    // The selected backend's section is filled with its defaults.
    expect(cfg.live_coding_agent.ollama).toMatchObject({ model: 'qwen2.5-coder:32b', host: 'http://localhost:11434' });
    expect(cfg.live_coding_agent.anthropic).toBeUndefined();
    expect(cfg.live_coding_agent.sandbox).toMatchObject({ type: 'local', timeout: 600 });
    expect(cfg.live_coding_agent.sandbox.workspace).toBe(path.join(fixtures, 'workspace'));
    expect(cfg.output.path).toBe(path.join(fixtures, 'output'));
    expect(cfg.live_coding_agent.streaming.update_interval_ms).toBe(100);
  });

  it('resolves relative paths against the config folder, not the working directory', () => {
    const file = tempConfig(
      [
        'live_coding_agent:',
        '  backend: scripted',
        '  scripted: { script: scripts/demo.jsonl }',
        '  sandbox: { workspace: ../ws, mount_volumes: ["data:/data:ro", "/abs/host:/x"] }',
        'output: { path: out }',
        ANNOTATOR,
      ].join('\n'),
      { 'scripts/demo.jsonl': '' },
    );
    const dir = path.dirname(file);
    mkdirSync(path.resolve(dir, '../ws'), { recursive: true });
    const cfg = loadConfig(path.relative(process.cwd(), file));
    expect(cfg.live_coding_agent.scripted!.script).toBe(path.join(dir, 'scripts/demo.jsonl'));
    expect(cfg.live_coding_agent.sandbox.workspace).toBe(path.resolve(dir, '../ws'));
    expect(cfg.live_coding_agent.sandbox.mount_volumes).toEqual([`${path.join(dir, 'data')}:/data:ro`, '/abs/host:/x']);
    expect(cfg.output.path).toBe(path.join(dir, 'out'));
  });

  it('hashes annotator passwords and keeps the plain text nowhere', () => {
    const cfg = loadConfig(fixture('minimal.yaml'));
    const [alice] = cfg.annotators;
    expect(alice!.username).toBe('alice');
    expect(alice!.password_hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(verifyPassword('correct horse battery staple', alice!.password_hash)).toBe(true);
    expect(verifyPassword('wrong', alice!.password_hash)).toBe(false);
    expect(JSON.stringify(cfg)).not.toContain('correct horse');
    expect(Object.keys(alice!)).toEqual(['username', 'password_hash', 'role']);
    expect(alice!.role).toBe('annotator');
  });

  it('checks an annotator role like every key: annotator (default) or lead', () => {
    const withRole = (role: string) =>
      tempConfig(
        [
          'live_coding_agent:',
          '  backend: scripted',
          '  scripted: { script: demo.yaml }',
          `annotators:\n  - username: alice\n    password: pw\n    role: ${role}\n`,
        ].join('\n'),
        { 'demo.yaml': 'turns: []\n' },
      );
    const lead = loadConfig(withRole('lead'));
    expect(lead.annotators[0]!.role).toBe('lead');
    expect(problemsOf(withRole('boss'))).toEqual(['annotators[0].role: expected "annotator" or "lead", got "boss"']);
  });

  it('treats an empty section of the selected backend as absent', () => {
    const cfg = loadConfig(tempConfig(`live_coding_agent:\n  backend: ollama\n  ollama:\n  #  model: x\n${ANNOTATOR}`));
    expect(cfg.live_coding_agent.ollama?.model).toBe('qwen2.5-coder:32b');
  });

  it('allows a section for a backend that is not selected', () => {
    const cfg = loadConfig(
      tempConfig(
        `live_coding_agent:\n  backend: ollama\n  anthropic: { model: claude-x }\n  openai: { model: m }\n${ANNOTATOR}`,
      ),
    );
    expect(cfg.live_coding_agent.anthropic?.model).toBe('claude-x');
    expect(cfg.live_coding_agent.openai?.model).toBe('m');
  });
});

describe('loadConfig on bad configs', () => {
  it('checks the OpenAI-compatible request settings like every key, with defaults for OpenAI', () => {
    const good = loadConfig(tempConfig(`live_coding_agent:\n  backend: openai\n  openai: { model: m }\n${ANNOTATOR}`));
    expect(good.live_coding_agent.openai).toMatchObject({
      max_tokens_param: 'max_completion_tokens',
      send_reasoning_as: 'none',
    });
    expect(good.live_coding_agent.openai?.temperature).toBeUndefined();
    const bad = tempConfig(
      'live_coding_agent:\n  backend: openai\n  openai:\n    model: m\n    max_tokens_param: max_token\n' +
        `    send_reasoning_as: thinking\n${ANNOTATOR}`,
    );
    expect(problemsOf(bad)).toEqual([
      'live_coding_agent.openai.max_tokens_param: expected "max_completion_tokens", "max_tokens" or "none", got "max_token"',
      'live_coding_agent.openai.send_reasoning_as: expected "none", "reasoning_content" or "reasoning", got "thinking"',
    ]);
  });

  it('names a wrong type with what was expected and what was found', () => {
    expect(problemsOf(fixture('bad/wrong-type.yaml'))).toEqual([
      'live_coding_agent.streaming.update_interval_ms: expected an integer, got "fast" (a string)',
    ]);
  });

  it('rejects an unknown key with a did-you-mean', () => {
    expect(problemsOf(fixture('bad/unknown-key.yaml'))).toEqual([
      'live_coding_agent.sandbox.timout: unknown key; did you mean "timeout"?',
    ]);
  });

  it('lists the known keys when an unknown key resembles none', () => {
    const problems = problemsOf(
      tempConfig(`live_coding_agent:\n  backend: ollama\n  streaming: { colour: red }\n${ANNOTATOR}`),
    );
    expect(problems).toEqual([
      'live_coding_agent.streaming.colour: unknown key; known keys are update_interval_ms, buffer_output, show_thinking, show_tool_inputs',
    ]);
  });

  it('says a missing required key is required, and names every missing one', () => {
    expect(problemsOf(fixture('bad/missing-key.yaml'))).toEqual([
      'live_coding_agent.backend: required key missing; expected "ollama", "anthropic", "claude_agent_sdk", "openai" or "scripted"',
      'annotators[0].password: required key missing; expected a string',
    ]);
  });

  it('names the allowed values of an enum', () => {
    expect(problemsOf(fixture('bad/bad-enum.yaml'))).toEqual([
      'live_coding_agent.sandbox.type: expected "docker" or "local", got "dokcer"',
    ]);
  });

  it('checks output.export_options like every key, and fills their defaults', () => {
    const base = 'live_coding_agent:\n  backend: scripted\n  scripted: { script: ./s.yaml }\n';
    const ok = loadConfig(tempConfig(`${base}${ANNOTATOR}`, { 's.yaml': 'turns: []\n' }));
    expect(ok.output.export_options).toEqual({
      annotator_calls: 'mark',
      rollback_instruction: 'prompt',
      prm_window: 8,
      prm_sparse_labels: false,
      outcome_order: [],
    });
    const bad = tempConfig(
      `${base}output:\n  export_options: { annotator_calls: hide, prm_window: 0, prm_sparse: true }\n${ANNOTATOR}`,
      { 's.yaml': 'turns: []\n' },
    );
    const problems = problemsOf(bad).join('\n');
    expect(problems).toContain('output.export_options.annotator_calls: expected "mark" or "exclude", got "hide"');
    expect(problems).toContain('output.export_options.prm_window: expected an integer >= 1, got 0 (a number)');
    expect(problems).toContain('output.export_options.prm_sparse: unknown key; known keys are annotator_calls');
  });

  it('checks output.database_url_env like every key: an environment variable name, absent by default', () => {
    const base = 'live_coding_agent:\n  backend: scripted\n  scripted: { script: ./s.yaml }\n';
    const files = { 's.yaml': 'turns: []\n' };
    expect(loadConfig(tempConfig(`${base}${ANNOTATOR}`, files)).output.database_url_env).toBeUndefined();
    const set = tempConfig(`${base}output:\n  database_url_env: POTATO_DATABASE_URL\n${ANNOTATOR}`, files);
    expect(loadConfig(set).output.database_url_env).toBe('POTATO_DATABASE_URL');
    // A URL pasted where the variable's name belongs is refused, and not repeated back.
    const pasted = tempConfig(
      `${base}output:\n  database_url_env: "postgresql://potato:hunter2@db/potato"\n${ANNOTATOR}`,
      files,
    );
    const problems = problemsOf(pasted).join('\n');
    expect(problems).toContain('output.database_url_env: expected an environment variable name');
  });

  it('checks session_lease like every key, with the heartbeat well under the TTL', () => {
    const base = 'live_coding_agent:\n  backend: scripted\n  scripted: { script: ./s.yaml }\n';
    const files = { 's.yaml': 'turns: []\n' };
    expect(loadConfig(tempConfig(`${base}${ANNOTATOR}`, files)).session_lease).toEqual({
      ttl_ms: 30_000,
      heartbeat_ms: 5_000,
    });
    const short = tempConfig(`${base}session_lease: { ttl_ms: 3000, heartbeat_ms: 1000 }\n${ANNOTATOR}`, files);
    expect(loadConfig(short).session_lease).toEqual({ ttl_ms: 3000, heartbeat_ms: 1000 });
    expect(
      problemsOf(
        tempConfig(`${base}session_lease: { ttl_ms: "30s", heartbeat_ms: 50, tll_ms: 1 }\n${ANNOTATOR}`, files),
      ),
    ).toEqual([
      'session_lease.ttl_ms: expected an integer, got "30s" (a string)',
      'session_lease.heartbeat_ms: expected an integer >= 100, got 50 (a number)',
      'session_lease.tll_ms: unknown key; did you mean "ttl_ms"?',
    ]);
    expect(problemsOf(tempConfig(`${base}session_lease: { ttl_ms: 500 }\n${ANNOTATOR}`, files))).toEqual([
      'session_lease.ttl_ms: expected an integer >= 1000, got 500 (a number)',
    ]);
    // Well under: a third of the TTL at most, said with the numbers and the reason.
    const close = tempConfig(`${base}session_lease:\n  ttl_ms: 10000\n  heartbeat_ms: 5000\n${ANNOTATOR}`, files);
    expect(() => loadConfig(close)).toThrow(/line 6: session_lease\.heartbeat_ms: expected at most 3333/);
    expect(problemsOf(close)).toEqual([
      'session_lease.heartbeat_ms: expected at most 3333 (a third of session_lease.ttl_ms, 10000), got 5000 (a number): the heartbeat must be well under the TTL, or one slow renewal hands a live session to another replica',
    ]);
    // The default heartbeat (5 s) against a short TTL is caught the same way.
    expect(problemsOf(tempConfig(`${base}session_lease: { ttl_ms: 6000 }\n${ANNOTATOR}`, files))[0]).toContain(
      'session_lease.heartbeat_ms: expected at most 2000 (a third of session_lease.ttl_ms, 6000), got 5000',
    );
  });

  it('names the file, line and column of a YAML syntax error', () => {
    const file = fixture('bad/yaml-syntax.yaml');
    expect(problemsOf(file)).toEqual([
      `${file}:5:1: YAML syntax error: All mapping items must start at the same column`,
    ]);
  });

  it('reports every problem at once, in file order, with their lines', () => {
    const file = fixture('bad/many-problems.yaml');
    let error: ConfigError | undefined;
    try {
      loadConfig(file);
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.file).toBe(file);
    expect(error!.problems.map((p) => [p.line, p.text])).toEqual([
      [1, 'port: expected an integer, got "eighty" (a string)'],
      [2, 'project_nme: unknown key; did you mean "project_name"?'],
      [4, 'live_coding_agent.openai.model: required key missing (the "openai" backend needs it); expected a string'],
      [6, 'live_coding_agent.sandbox.type: expected "docker" or "local", got "dokcer"'],
      [7, 'live_coding_agent.sandbox.timout: unknown key; did you mean "timeout"?'],
      [9, 'live_coding_agent.streaming.update_interval_ms: expected an integer >= 10, got 5 (a number)'],
      [
        11,
        'annotation_schemes[0].annotation_type: expected "radio", "select", "multiselect", "checkbox", "likert", "number" or "text_input", got "radoi"',
      ],
      [
        14,
        'output.export_formats[1]: expected "trajectories", "branch_preferences", "prm_from_branches", "code_review", "dpo", "dpo_step" or "prm_stepwise", got "nope"',
      ],
      [18, 'annotators[1].username: "alice" is already used by annotators[0]; usernames must be unique'],
    ]);
    expect(error!.message).toContain(`config ${file} has 9 problems:\n  line 1: port: expected an integer`);
  });

  it('suggests keys of the right annotation scheme type', () => {
    const file = tempConfig(
      [
        'live_coding_agent: { backend: ollama }',
        'annotation_schemes:',
        '  - { annotation_type: text_input, name: notes, placholder: "..." }',
        '  - { annotation_type: likert, name: quality, sise: 7 }',
        '  - { name: orphan }',
        ANNOTATOR,
      ].join('\n'),
    );
    expect(problemsOf(file)).toEqual([
      'annotation_schemes[0].placholder: unknown key; did you mean "placeholder"?',
      'annotation_schemes[1].sise: unknown key; did you mean "size"?',
      'annotation_schemes[2].annotation_type: required key missing; expected "radio", "select", "multiselect", "checkbox", "likert", "number" or "text_input"',
    ]);
  });

  it('requires the script of the scripted backend, and that it exists', () => {
    expect(problemsOf(tempConfig(`live_coding_agent:\n  backend: scripted\n${ANNOTATOR}`))).toEqual([
      'live_coding_agent.scripted.script: required key missing (the "scripted" backend needs it); expected a string',
    ]);
    const file = tempConfig(
      `live_coding_agent:\n  backend: scripted\n  scripted: { script: nowhere.jsonl }\n${ANNOTATOR}`,
    );
    expect(problemsOf(file)).toEqual([
      `live_coding_agent.scripted.script: file not found: ${path.join(path.dirname(file), 'nowhere.jsonl')}`,
    ]);
  });

  it('requires sandbox.workspace to be a folder that exists, naming the key and the resolved path', () => {
    const missing = tempConfig(
      `live_coding_agent:\n  backend: ollama\n  sandbox: { workspace: ./wrokspace }\n${ANNOTATOR}`,
    );
    const dir = path.dirname(missing);
    expect(problemsOf(missing)).toEqual([
      `live_coding_agent.sandbox.workspace: no such folder: ${path.join(dir, 'wrokspace')} (create it, or fix the path; an empty folder is fine)`,
    ]);
    // The line of the key is reported, as for every other problem.
    expect(() => loadConfig(missing)).toThrow(/line 3: live_coding_agent\.sandbox\.workspace: no such folder/);

    const file = tempConfig(
      `live_coding_agent:\n  backend: ollama\n  sandbox: { workspace: notes.txt }\n${ANNOTATOR}`,
      {
        'notes.txt': 'a file',
      },
    );
    expect(problemsOf(file)).toEqual([
      `live_coding_agent.sandbox.workspace: ${path.join(path.dirname(file), 'notes.txt')} is a file, not a folder; give the folder the agent works in`,
    ]);

    // Not set: the default ./workspace/ must exist too, and the message says the default was used.
    const bare = tempConfig(`live_coding_agent:\n  backend: ollama\n${ANNOTATOR}`);
    const rm = path.join(path.dirname(bare), 'workspace');
    rmdirSync(rm);
    expect(problemsOf(bare)).toEqual([
      `live_coding_agent.sandbox.workspace (not set, so the default "./workspace/"): no such folder: ${rm} (create it, or fix the path; an empty folder is fine)`,
    ]);
  });

  it.skipIf(process.getuid?.() === 0)('requires sandbox.workspace to be readable', () => {
    const file = tempConfig(`live_coding_agent:\n  backend: ollama\n  sandbox: { workspace: locked }\n${ANNOTATOR}`);
    const locked = path.join(path.dirname(file), 'locked');
    mkdirSync(locked, { mode: 0o000 });
    try {
      expect(problemsOf(file)).toEqual([
        `live_coding_agent.sandbox.workspace: ${locked} is not readable by this user (${process.getuid?.()}): permission denied`,
      ]);
    } finally {
      chmodSync(locked, 0o755);
    }
  });

  it('explains values out of range, bad formats, empty values and empty lists', () => {
    const problems = problemsOf(
      tempConfig(
        [
          'port: 70000',
          'live_coding_agent:',
          '  backend: anthropic',
          '  anthropic: { api_key_env: "my key", base_url: not-a-url, temperature: 1.5 }',
          '  sandbox: { mount_volumes: ["./repo"], image: "" }',
          '  controls:',
          '    pause_enabled:',
          'annotators: []',
        ].join('\n'),
      ),
    );
    expect(problems).toEqual([
      'port: expected an integer <= 65535, got 70000 (a number)',
      'live_coding_agent.anthropic.api_key_env: expected an environment variable name, got "my key" (a string)',
      'live_coding_agent.anthropic.base_url: expected a URL such as http://localhost:8080, got "not-a-url" (a string)',
      'live_coding_agent.anthropic.temperature: expected a number <= 1, got 1.5 (a number)',
      'live_coding_agent.sandbox.image: expected a non-empty string, got "" (a string)',
      'live_coding_agent.sandbox.mount_volumes[0]: expected HOST:CONTAINER[:ro|rw], got "./repo" (a string)',
      'live_coding_agent.controls.pause_enabled: expected true or false, got an empty value (null)',
      'annotators: expected at least 1 item, got an empty list',
    ]);
  });

  it('checks allowed_origins one by one and keeps them in the form a browser sends', () => {
    const problems = problemsOf(
      tempConfig(
        [
          'allowed_origins:',
          '  - https://potato.example.com/app',
          '  - potato.example.com',
          '  - http://host:99999',
          '  - "*"',
          'live_coding_agent: { backend: scripted, scripted: { script: s.yaml } }',
          ANNOTATOR,
        ].join('\n'),
      ),
    );
    const hint = 'an origin such as https://potato.example.com (scheme, host and optional port; no path)';
    expect(problems).toEqual([
      `allowed_origins[0]: expected ${hint}, got "https://potato.example.com/app" (a string)`,
      `allowed_origins[1]: expected ${hint}, got "potato.example.com" (a string)`,
      `allowed_origins[2]: expected ${hint}, got "http://host:99999" (a string)`,
      `allowed_origins[3]: expected ${hint}, got "*" (a string)`,
    ]);
    const ok = loadConfig(
      tempConfig(
        [
          'allowed_origins: ["https://Potato.Example.com:443", "http://10.0.0.5:8080"]',
          'live_coding_agent: { backend: scripted, scripted: { script: s.yaml } }',
          ANNOTATOR,
        ].join('\n'),
        { 's.yaml': 'turns: []\n' },
      ),
    );
    expect(ok.allowed_origins).toEqual(['https://potato.example.com', 'http://10.0.0.5:8080']);
    expect(loadConfig(fixture('ollama.yaml')).allowed_origins).toEqual([]);
  });

  it('refuses a YAML alias bomb with a clear error', () => {
    const rows = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++)
      rows.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    const file = tempConfig(rows.join('\n'));
    expect(problemsOf(file)).toEqual([expect.stringMatching(/: cannot read the YAML: Excessive alias count/)]);
  });

  it('says what to do with an empty file, a missing file and a folder', () => {
    expect(problemsOf(tempConfig(''))).toEqual([
      'the file is empty; expected a mapping with at least live_coding_agent and annotators',
    ]);
    const missing = path.join(tmpdir(), 'potato-no-such-config.yaml');
    expect(problemsOf(missing)).toEqual([`cannot read config ${missing}: no such file; check the path`]);
    expect(problemsOf(fixtures)).toEqual([
      `cannot read config ${fixtures}: it is a folder; give the path of the YAML file`,
    ]);
  });
});

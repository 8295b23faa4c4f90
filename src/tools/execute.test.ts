/**
 * @module tools/execute.test
 * The five tools through executeTool on a real LocalSandbox in a temporary workspace: real
 * files, real child processes, real process groups.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalSandbox } from '../sandbox/local/local-sandbox.js';
import type { ToolCall } from '../steps/types.js';
import { executeTool } from './execute.js';
import { TOOL_SPECS } from './specs.js';
import type { ToolContext } from './types.js';

let dir: string;
let ws: string;
let sandbox: LocalSandbox;
let ctx: ToolContext;
let n = 0;

const call = (name: string, input: Record<string, unknown>): ToolCall => ({ id: `call_${++n}`, name, input });
const run = (name: string, input: Record<string, unknown>, extra: Partial<ToolContext> = {}) =>
  executeTool(call(name, input), { ...ctx, ...extra });

function processGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1]?.startsWith('Z') ?? true; // a zombie has exited
  } catch {
    return true;
  }
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-tools-'));
  ws = path.join(dir, 'ws');
  fs.mkdirSync(ws);
  fs.writeFileSync(path.join(dir, 'outside.txt'), 'secret outside\n');
  sandbox = new LocalSandbox({ workspace: ws, maxOutputBytes: 64 * 1024, killGraceMs: 300 });
  await sandbox.start();
  ctx = { sandbox, policy: { restricted: [] }, commandTimeoutMs: 20_000, maxOutputBytes: 64 * 1024 };
});

afterEach(async () => {
  await sandbox.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('file_read', () => {
  it('returns the chosen lines, numbered for the model and raw in the step', async () => {
    fs.writeFileSync(path.join(ws, 'a.py'), 'one\ntwo\nthree\nfour\n');
    const out = await run('file_read', { path: 'a.py', start_line: 2, end_line: 3 });
    expect(out.isError).toBe(false);
    expect(out.payload).toEqual({
      type: 'file_read',
      path: 'a.py',
      content: 'two\nthree',
      start_line: 2,
      truncated: false,
    });
    expect(out.result).toBe('2\ttwo\n3\tthree\n[lines 2-3 of 4]');
    expect(out.changed).toEqual([]);
  });

  it('cuts a file larger than the cap at a line boundary and says where to go on', async () => {
    fs.writeFileSync(path.join(ws, 'big.txt'), `${'x'.repeat(99)}\n`.repeat(50));
    const out = await run('file_read', { path: './big.txt' }, { maxOutputBytes: 1000 });
    expect(out.payload).toMatchObject({ type: 'file_read', path: 'big.txt', truncated: true });
    if (out.payload.type !== 'file_read') return;
    expect(out.payload.content.split('\n')).toHaveLength(10);
    expect(out.result).toContain('read on with start_line=11');
  });

  it('reports a missing file as a tool error', async () => {
    const out = await run('file_read', { path: 'nope.py' });
    expect(out).toMatchObject({ isError: true, payload: { type: 'error', kind: 'tool_error' } });
    expect(out.result).toBe('nope.py: no such file or directory');
  });
});

describe('file_edit', () => {
  const original = `${Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n')}\n`;

  it('replaces the single occurrence and records the diff and the modified lines', async () => {
    fs.writeFileSync(path.join(ws, 'f.txt'), original);
    const out = await run('file_edit', {
      path: 'f.txt',
      old_text: 'line 4\nline 5\n',
      new_text: 'four\nfive\nfive and a half\n',
    });
    expect(out.isError).toBe(false);
    expect(fs.readFileSync(path.join(ws, 'f.txt'), 'utf8')).toBe(
      original.replace('line 4\nline 5\n', 'four\nfive\nfive and a half\n'),
    );
    expect(out.payload).toEqual({
      type: 'file_edit',
      path: 'f.txt',
      created: false,
      modified_lines: [[4, 6]],
      diff: [
        '--- a/f.txt',
        '+++ b/f.txt',
        '@@ -1,8 +1,9 @@',
        ' line 1',
        ' line 2',
        ' line 3',
        '-line 4',
        '-line 5',
        '+four',
        '+five',
        '+five and a half',
        ' line 6',
        ' line 7',
        ' line 8',
        '',
      ].join('\n'),
    });
    expect(out.result).toBe('Edited f.txt: replaced 1 occurrence (lines 4-6).');
    expect(out.changed).toEqual(['f.txt']);
  });

  it('gives separate ranges for separate changes and places a deletion', async () => {
    fs.writeFileSync(path.join(ws, 'f.txt'), original);
    const after = original.replace('line 2\n', 'LINE 2\n').replace('line 9\n', '');
    const out = await run('file_edit', { path: 'f.txt', new_text: after });
    expect(out.payload).toMatchObject({
      type: 'file_edit',
      created: false,
      modified_lines: [
        [2, 2],
        [9, 9],
      ],
    });
  });

  it('refuses old_text that is missing or ambiguous, saying how many matches', async () => {
    fs.writeFileSync(path.join(ws, 'f.txt'), 'a = 1\nb = 1\na = 1\n');
    const twice = await run('file_edit', { path: 'f.txt', old_text: 'a = 1', new_text: 'a = 2' });
    expect(twice).toMatchObject({ isError: true, payload: { type: 'error', kind: 'tool_error' } });
    expect(twice.result).toContain('old_text matches 2 places in f.txt');
    const none = await run('file_edit', { path: 'f.txt', old_text: 'c = 1', new_text: 'c = 2' });
    expect(none.result).toContain('old_text was not found in f.txt');
    expect(fs.readFileSync(path.join(ws, 'f.txt'), 'utf8')).toBe('a = 1\nb = 1\na = 1\n');
  });

  it('creates a missing file (and its directories) as a file_write step', async () => {
    const out = await run('file_edit', { path: 'src/new/mod.py', new_text: 'x = 1\ny = 2\n' });
    expect(out.payload).toEqual({
      type: 'file_write',
      path: 'src/new/mod.py',
      created: true,
      modified_lines: [[1, 2]],
      diff: '--- /dev/null\n+++ b/src/new/mod.py\n@@ -0,0 +1,2 @@\n+x = 1\n+y = 2\n',
    });
    expect(fs.readFileSync(path.join(ws, 'src/new/mod.py'), 'utf8')).toBe('x = 1\ny = 2\n');
    expect(out.changed).toEqual(['src/new/mod.py']);
  });

  it('matches old_text written with \\n in a file written with \\r\\n', async () => {
    fs.writeFileSync(path.join(ws, 'w.txt'), 'a\r\nb\r\nc\r\n');
    const out = await run('file_edit', { path: 'w.txt', old_text: 'a\nb', new_text: 'A\nB' });
    expect(out.isError).toBe(false);
    expect(fs.readFileSync(path.join(ws, 'w.txt'), 'utf8')).toBe('A\r\nB\r\nc\r\n');
  });
});

describe('paths stay in the workspace', () => {
  it.each([
    ['file_read', { path: '../outside.txt' }],
    ['file_read', { path: 'sub/../../outside.txt' }],
    ['file_edit', { path: '../planted.txt', new_text: 'x' }],
    ['directory_list', { path: '..' }],
    ['file_search', { pattern: 'secret', path: '..' }],
  ])('%s %j is refused', async (tool, input) => {
    const out = await run(tool, input);
    expect(out).toMatchObject({ isError: true, payload: { type: 'error', kind: 'tool_error' } });
    expect(out.result).toContain('outside the workspace');
    expect(fs.existsSync(path.join(dir, 'planted.txt'))).toBe(false);
  });

  it('refuses symlinks that lead outside, for reading and for writing', async () => {
    fs.symlinkSync(dir, path.join(ws, 'escape'));
    fs.symlinkSync(path.join(dir, 'not-yet.txt'), path.join(ws, 'dangling'));
    fs.symlinkSync('a.txt', path.join(ws, 'inside-link'));
    fs.writeFileSync(path.join(ws, 'a.txt'), 'inside\n');
    expect((await run('file_read', { path: 'escape/outside.txt' })).result).toContain('outside the workspace');
    expect((await run('file_edit', { path: 'escape/new.txt', new_text: 'x' })).result).toContain(
      'outside the workspace',
    );
    expect((await run('file_edit', { path: 'dangling', new_text: 'x' })).result).toContain('outside the workspace');
    expect(fs.existsSync(path.join(dir, 'not-yet.txt'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'new.txt'))).toBe(false);
    // A symlink that stays inside is fine.
    expect((await run('file_read', { path: 'inside-link' })).payload).toMatchObject({ content: 'inside' });
  });

  it('accepts an absolute path inside the workspace and records it relative', async () => {
    fs.writeFileSync(path.join(ws, 'a.txt'), 'hi\n');
    const out = await run('file_read', { path: path.join(ws, 'a.txt') });
    expect(out.payload).toMatchObject({ type: 'file_read', path: 'a.txt', content: 'hi' });
  });
});

describe('bash_command', () => {
  it('runs in the workspace and returns output and exit code, streaming as it goes', async () => {
    const chunks: string[] = [];
    const out = await run(
      'bash_command',
      { command: 'pwd; echo out; echo err >&2; exit 3' },
      { onOutput: (c) => chunks.push(c) },
    );
    expect(out.payload).toEqual({
      type: 'bash_command',
      command: 'pwd; echo out; echo err >&2; exit 3',
      output: `${fs.realpathSync(ws)}\nout\nerr\n`,
      exit_code: 3,
      timed_out: false,
      truncated: false,
    });
    expect(chunks.join('')).toBe(`${fs.realpathSync(ws)}\nout\nerr\n`);
    expect(out.result).toContain('[exit code: 3]');
    expect(out.changed).toBe('unknown');
  });

  it('keeps the head and tail of long output with a note that it was cut', async () => {
    const small = new LocalSandbox({ workspace: ws, maxOutputBytes: 1000 });
    const out = await executeTool(
      call('bash_command', { command: "printf START; head -c 20000 /dev/zero | tr '\\0' x; printf END" }),
      {
        ...ctx,
        sandbox: small,
      },
    );
    expect(out.payload).toMatchObject({ type: 'bash_command', truncated: true, exit_code: 0 });
    if (out.payload.type !== 'bash_command') return;
    expect(out.payload.output.startsWith('START')).toBe(true);
    expect(out.payload.output.endsWith('END')).toBe(true);
    expect(out.payload.output).toContain('[... output cut: 19008 bytes omitted of 20008;');
    expect(out.payload.output.length).toBeLessThan(1200);
  });

  it('on timeout kills the whole process group, background grandchildren too', async () => {
    const out = await run('bash_command', {
      command: 'sleep 100 & echo $! > marker.pid; sleep 100',
      timeout_seconds: 1,
    });
    expect(out.payload).toMatchObject({ type: 'bash_command', timed_out: true, exit_code: null });
    expect(out.isError).toBe(true);
    expect(out.result).toContain('timed out after 1 s');
    const marker = Number(fs.readFileSync(path.join(ws, 'marker.pid'), 'utf8'));
    expect(marker).toBeGreaterThan(0);
    expect(await waitFor(() => processGone(marker), 3000)).toBe(true);
  });

  it('returns when the shell exits even if a background child keeps running; close() ends it', async () => {
    const started = Date.now();
    const out = await run('bash_command', { command: 'sleep 60 & echo $! > bg.pid; echo started' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(out.payload).toMatchObject({ exit_code: 0, output: 'started\n' });
    const bg = Number(fs.readFileSync(path.join(ws, 'bg.pid'), 'utf8'));
    expect(processGone(bg)).toBe(false);
    await sandbox.close();
    expect(await waitFor(() => processGone(bg), 3000)).toBe(true);
  });

  it('stops the command when the signal aborts', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const out = await run('bash_command', { command: 'sleep 30' }, { signal: ac.signal });
    expect(out.payload).toMatchObject({ timed_out: false, exit_code: null });
    expect(out.result).toContain('[stopped by the annotator]');
  });

  it('runs nothing when the policy refuses the command', async () => {
    let before = 0;
    const out = await run(
      'bash_command',
      { command: 'ls && touch made.txt' },
      { policy: { allowed: ['ls'], restricted: [] }, beforeCommand: async () => void before++ },
    );
    expect(out.isError).toBe(true);
    expect(out.payload).toMatchObject({
      type: 'bash_command',
      output: '',
      exit_code: null,
      refused: 'refused: "touch" is not in allowed_commands (ls)',
    });
    expect(out.result).toBe('refused: "touch" is not in allowed_commands (ls)\nNothing was run.');
    expect(before).toBe(0);
    expect(fs.existsSync(path.join(ws, 'made.txt'))).toBe(false);
    const bashC = await run(
      'bash_command',
      { command: 'bash -c "touch made.txt"' },
      { policy: { restricted: ['touch'] } },
    );
    expect(bashC.payload).toMatchObject({
      refused: 'refused: "touch" matches restricted_commands entry "touch"; it is run via bash -c',
    });
    expect(fs.existsSync(path.join(ws, 'made.txt'))).toBe(false);
  });

  it('keeps the server secrets out of the child environment', async () => {
    const names = [
      'ANTHROPIC_API_KEY',
      'OPENAI_API_KEY',
      'MY_SERVICE_TOKEN',
      'DB_PASSWORD',
      'CUSTOM_LLM',
      'PLAIN_SETTING',
    ];
    const saved = names.map((k) => process.env[k]);
    for (const k of names) process.env[k] = `value-of-${k}`;
    try {
      const s = new LocalSandbox({ workspace: ws, secretEnvNames: ['CUSTOM_LLM'] });
      const out = await executeTool(call('bash_command', { command: 'env' }), { ...ctx, sandbox: s });
      if (out.payload.type !== 'bash_command') throw new Error('expected a bash_command step');
      for (const k of names.slice(0, 5)) expect(out.payload.output).not.toContain(`value-of-${k}`);
      expect(out.payload.output).toContain('PLAIN_SETTING=value-of-PLAIN_SETTING');
    } finally {
      names.forEach((k, i) => {
        if (saved[i] === undefined) delete process.env[k];
        else process.env[k] = saved[i];
      });
    }
  });
});

describe('directory_list and file_search', () => {
  beforeEach(() => {
    fs.mkdirSync(path.join(ws, '.git/objects'), { recursive: true });
    fs.writeFileSync(path.join(ws, '.git/config'), 'def parse_config\n');
    fs.mkdirSync(path.join(ws, 'src/deep/deeper'), { recursive: true });
    fs.writeFileSync(path.join(ws, 'src/parser.py'), 'import re\n\ndef parse_config(x):\n    return x\n');
    fs.writeFileSync(path.join(ws, 'src/deep/util.ts'), 'export function parse_value() {}\n');
    fs.writeFileSync(path.join(ws, 'src/deep/deeper/x.py'), 'def parse_deep(): pass\n');
    fs.writeFileSync(path.join(ws, 'README.md'), '# parse_ docs\n');
  });

  it('lists with a depth limit and skips .git', async () => {
    const out = await run('directory_list', { depth: 2 });
    expect(out.payload).toEqual({
      type: 'directory_list',
      path: '.',
      entries: ['README.md', 'src/', 'src/deep/', 'src/parser.py'],
      truncated: false,
    });
    const sub = await run('directory_list', { path: 'src/deep', depth: 5 });
    expect(sub.payload).toMatchObject({ entries: ['src/deep/deeper/', 'src/deep/deeper/x.py', 'src/deep/util.ts'] });
  });

  it('refuses file_read and file_edit on the workspace .git (the checkpoint repository pointer), also through a symlink', async () => {
    fs.symlinkSync('.git', path.join(ws, 'g'));
    const attempts = [
      await run('file_read', { path: '.git/config' }),
      await run('file_edit', { path: '.git/config', new_text: '[core]\n\tfsmonitor = touch /tmp/x\n' }),
      await run('file_edit', { path: './.git/hooks/post-checkout', new_text: '#!/bin/sh\n' }),
      await run('file_read', { path: 'g/config' }),
    ];
    for (const out of attempts) {
      expect(out.isError).toBe(true);
      expect(out.result).toMatch(/\.git, which points at the checkpoint repository/);
    }
    expect(fs.readFileSync(path.join(ws, '.git/config'), 'utf8')).toBe('def parse_config\n');
    expect(fs.existsSync(path.join(ws, '.git/hooks/post-checkout'))).toBe(false);
  });

  it('searches with a regex, limited by a glob, never inside .git', async () => {
    const out = await run('file_search', { pattern: 'def parse_\\w+', glob: '*.py' });
    expect(out.payload).toEqual({
      type: 'file_search',
      pattern: 'def parse_\\w+',
      path: '.',
      truncated: false,
      matches: [
        { path: 'src/deep/deeper/x.py', line: 1, text: 'def parse_deep(): pass' },
        { path: 'src/parser.py', line: 3, text: 'def parse_config(x):' },
      ],
    });
    expect(out.result).toBe('src/deep/deeper/x.py:1: def parse_deep(): pass\nsrc/parser.py:3: def parse_config(x):');
    const ts = await run('file_search', { pattern: 'parse_', path: 'src', glob: 'src/**/*.ts' });
    expect(ts.payload).toMatchObject({ matches: [{ path: 'src/deep/util.ts', line: 1 }] });
  });

  it('answers an invalid regex with a tool error', async () => {
    const out = await run('file_search', { pattern: 'def (' });
    expect(out).toMatchObject({ isError: true, payload: { type: 'error', kind: 'tool_error' } });
    expect(out.result).toContain('pattern is not a valid regular expression');
  });
});

describe('bad tool calls', () => {
  it.each([
    [
      'file_read',
      {},
      'Bad call to file_read: "path" is required. Expected {path: string, start_line?: integer, end_line?: integer}.',
    ],
    ['file_read', { path: 'a', start_line: '3' }, '"start_line": expected number, received string'],
    ['file_edit', { path: 'a' }, '"new_text" is required'],
    ['file_edit', { path: 'a', old_text: '', new_text: 'x' }, 'omit old_text to write the whole file'],
    ['bash_command', { command: 42 }, '"command": expected string, received number'],
    ['directory_list', { depth: 0 }, '"depth"'],
    ['file_search', {}, '"pattern" is required'],
  ])('%s %j is answered, not thrown', async (tool, input, message) => {
    const out = await run(tool, input);
    expect(out).toMatchObject({ isError: true, payload: { type: 'error', kind: 'bad_tool_call' }, changed: [] });
    expect(out.result).toContain(message);
  });

  it('names the tools when the model calls an unknown one', async () => {
    const out = await run('delete_everything', {});
    expect(out.payload).toEqual({
      type: 'error',
      kind: 'bad_tool_call',
      message:
        'Unknown tool "delete_everything". The tools are: file_read, file_edit, bash_command, directory_list, file_search.',
    });
  });
});

describe('TOOL_SPECS', () => {
  it('describes each tool with a JSON schema of its inputs', () => {
    const edit = TOOL_SPECS.find((s) => s.name === 'file_edit')!;
    expect(edit.input_schema.type).toBe('object');
    expect(edit.input_schema.required).toEqual(['path', 'new_text']);
    expect(Object.keys(edit.input_schema.properties)).toEqual(['path', 'old_text', 'new_text']);
    for (const spec of TOOL_SPECS) {
      expect(spec.description.length).toBeGreaterThan(40);
      expect(JSON.stringify(spec.input_schema)).not.toContain('$schema');
    }
  });
});

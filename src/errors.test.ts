/**
 * @module errors.test
 * The one error base and its two maps: every product error is a PotatoError whose code gives
 * the HTTP status and the exit code a user sees; wrapped failures keep their cause; ignored
 * failures are reported; and no catch in src/ drops an error without saying why.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError } from './backends/types.js';
import { GitCommandError } from './checkpoints/git/git.js';
import { CheckpointError } from './checkpoints/git/store.js';
import { EXIT_CODE, exitCodeFor, UsageError } from './cli/errors.js';
import { type Io, run } from './cli/main.js';
import { SessionFailedError } from './cli/start.js';
import { ConfigError, MissingSecretError } from './config/errors.js';
import {
  causeChain,
  describeError,
  ERROR_CODES,
  errorCode,
  ignored,
  PotatoError,
  reportIgnored,
  setIgnoredSink,
} from './errors.js';
import { ExportError } from './export/types.js';
import { SandboxError } from './sandbox/types.js';
import {
  BadRequestError,
  errorAnswer,
  ForbiddenError,
  HTTP_STATUS,
  NotFoundError,
  TooManyAttemptsError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from './server/errors.js';
import { ControlError } from './session/types.js';
import { StoreError } from './store/sqlite/store.js';
import { PolicyParseError } from './tools/policy.js';

const src = path.dirname(fileURLToPath(import.meta.url));

describe('the error maps', () => {
  // [error, HTTP status, exit code]: what the API client and the shell see for each kind.
  const cases: [Error, number, number][] = [
    [new ConfigError([{ text: 'sandbox.type: expected "docker" or "local", got "dokcer"' }]), 400, 2],
    [new MissingSecretError('ANTHROPIC_API_KEY', 'backends.anthropic.api_key_env'), 400, 2],
    [new UsageError('--format: expected one of dpo, reward'), 400, 2],
    [new ExportError('unknown export format "dop"'), 400, 2],
    [new ExportError('no session s1 in the store', 'not_found'), 404, 2],
    [new PolicyParseError('line 1: unclosed quote'), 400, 2],
    [new SandboxError('../etc/passwd is outside the workspace', 'outside_workspace'), 400, 2],
    [new SandboxError('notes.txt: no such file or directory', 'not_found'), 404, 2],
    [new SandboxError('Docker is not reachable at /var/run/docker.sock', 'unavailable'), 503, 1],
    [new SandboxError('notes.txt: permission denied', 'io'), 500, 1],
    [new ControlError('branching is turned off', 'disabled'), 403, 1],
    [new ControlError('the session is not running', 'invalid_state'), 409, 1],
    [new CheckpointError('branch b1 already exists', 'conflict'), 409, 1],
    [new CheckpointError('no commit 0123abc', 'not_found'), 404, 2],
    [new CheckpointError('the checkpoint store is closed.'), 500, 1],
    [new StoreError('cannot update session s1: no such session', 'not_found'), 404, 2],
    [new StoreError('the database was written by a newer potato'), 500, 1],
    [new GitCommandError(['init'], 'fatal: not a git repository', 128), 500, 1],
    [new BackendError('cannot reach http://localhost:11434', 'unreachable'), 502, 1],
    [new BackendError('rate limited: retry later', 'rate_limited'), 503, 1],
    [new SessionFailedError('s1', 'the backend is unreachable'), 500, 1],
    [new UnauthorizedError(), 401, 1],
    [new ForbiddenError('a request from another site'), 403, 1],
    [new UnsupportedMediaTypeError('text/plain'), 415, 2],
    [new TooManyAttemptsError(30), 429, 1],
    [new NotFoundError('no session s1'), 404, 2],
    [new BadRequestError('the request body is not valid JSON'), 400, 2],
    [new ValidationError('rating: expected 1 to 5', 'rating'), 400, 2],
    [new Error('a bug'), 500, 1],
  ];

  it.each(cases)('%s → HTTP %i, exit %i', (err, status, exit) => {
    expect(errorAnswer(err).status).toBe(status);
    expect(exitCodeFor(err)).toBe(exit);
    if (!(err instanceof PotatoError)) return;
    expect(err).toBeInstanceOf(Error);
    expect(ERROR_CODES).toContain(err.code);
  });

  it('shows the message of a 4xx with its own code and hides that of a 5xx', () => {
    expect(errorAnswer(new CheckpointError('no commit 0123abc: pass a checkpoint id', 'not_found')).body).toEqual({
      error: 'no commit 0123abc: pass a checkpoint id',
      code: 'not_found',
    });
    const hidden = errorAnswer(new GitCommandError(['cat-file', '-p', 'HEAD:/srv/keys'], 'fatal: bad object', 128));
    expect(hidden).toEqual({
      status: 500,
      body: { error: 'internal error: see the server log', code: 'internal' },
      internal: true,
    });
    expect(errorAnswer(new ValidationError('rating: expected 1 to 5', 'rating')).body.scheme).toBe('rating');
  });

  it('has an HTTP status and an exit code for every code, and only 1 or 2 as failures', () => {
    expect(Object.keys(HTTP_STATUS).sort()).toEqual([...ERROR_CODES].sort());
    expect(Object.keys(EXIT_CODE).sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      expect([1, 2]).toContain(EXIT_CODE[code]);
      // What the user must fix in the command or config is a 4xx too, never a server fault.
      if (EXIT_CODE[code] === 2) expect(HTTP_STATUS[code]).toBeLessThan(500);
    }
  });
});

describe('causes', () => {
  it('keeps the wrapped error as the standard cause and walks the chain', () => {
    const disk = new Error('SQLITE_IOERR: disk I/O error');
    const store = new StoreError('could not write the step', 'store_failed', { cause: disk });
    const checkpoint = new CheckpointError('could not record the checkpoint', 'checkpoint_failed', { cause: store });
    expect(checkpoint.cause).toBe(store);
    expect(causeChain(checkpoint)).toEqual([checkpoint, store, disk]);
    expect(errorCode(checkpoint)).toBe('checkpoint_failed');
    const text = describeError(checkpoint);
    expect(text).toMatch(/^CheckpointError: could not record the checkpoint\n/);
    expect(text).toContain('caused by: StoreError: could not write the step');
    expect(text).toContain('caused by: Error: SQLITE_IOERR: disk I/O error');
  });

  it('stops on a cause chain that loops', () => {
    const a = new PotatoError('a', 'internal');
    const b = new PotatoError('b', 'internal', { cause: a });
    Object.defineProperty(a, 'cause', { value: b });
    expect(causeChain(a)).toHaveLength(8);
  });

  it('prints the cause of a runtime failure after its message and exits 1; a usage error alone with 2', async () => {
    const io = { out: '', err: '' };
    const capture: Io = {
      out: (t) => {
        io.out += t;
      },
      err: (t) => {
        io.err += t;
      },
    };
    const failing = (err: Error) =>
      new Command('potato')
        .exitOverride()
        .configureOutput({ writeOut: capture.out, writeErr: capture.err })
        .action(() => {
          throw err;
        });
    const wrapped = new SandboxError('could not run the command with /bin/bash', 'unavailable', {
      cause: new Error('spawn /bin/bash ENOENT'),
    });
    expect(await run(['node', 'potato'], capture, failing(wrapped))).toBe(1);
    expect(io.err).toBe(
      'error: could not run the command with /bin/bash\n' +
        'caused by: spawn /bin/bash ENOENT (POTATO_DEBUG=1 shows the stack)\n',
    );
    io.err = '';
    const usage = new UsageError('--format: expected one of dpo, reward', { cause: new Error('inner') });
    expect(await run(['node', 'potato'], capture, failing(usage))).toBe(2);
    expect(io.err).toBe('error: --format: expected one of dpo, reward\n');
  });
});

describe('ignored failures', () => {
  let restore: ((line: string) => void) | undefined;
  afterEach(() => {
    if (restore) setIgnoredSink(restore);
  });

  it('reports what was being done and the whole cause chain, on one sink', async () => {
    const lines: string[] = [];
    restore = setIgnoredSink((line) => lines.push(line));
    reportIgnored(new Error('EBUSY'), 'closing a sandbox at shutdown');
    await Promise.reject(new SandboxError('container gone', 'io', { cause: new Error('404 no such container') })).catch(
      ignored('closing the sandbox of ended session s1'),
    );
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^potato: ignored while closing a sandbox at shutdown: Error: EBUSY\n/);
    expect(lines[1]).toContain('ignored while closing the sandbox of ended session s1: SandboxError: container gone');
    expect(lines[1]).toContain('caused by: Error: 404 no such container');
  });
});

describe('swallowed errors', () => {
  /** Every `catch {` and `.catch(() =>` in src/ (tests aside) without a comment beside it. */
  function uncommentedDrops(): string[] {
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (/\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name)) {
          const lines = readFileSync(file, 'utf8').split('\n');
          lines.forEach((line, i) => {
            if (!/\bcatch\s*\{|\.catch\(\s*\(\)\s*=>/.test(line)) return;
            const commentAbove = /^\s*(\/\/|\/\*|\*)/.test(lines[i - 1] ?? '');
            if (line.includes('//') || commentAbove || (lines[i + 1] ?? '').includes('//')) return;
            found.push(`${path.relative(src, file)}:${i + 1}: ${line.trim()}`);
          });
        }
      }
    };
    walk(src);
    return found;
  }

  it('drop none without a comment saying why that is safe', () => {
    expect(uncommentedDrops()).toEqual([]);
  });
});

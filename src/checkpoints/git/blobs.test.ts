/**
 * @module checkpoints/git/blobs.test
 * Large files through the git CheckpointStore, in repositories whose objects live in packs (a
 * clone, or after `git gc`) and loose: a small change to a multi-megabyte file is checkpointed
 * and rolled back byte for byte, the objects written are ones git itself accepts, and closing
 * the store in the middle of a restore leaves each file whole (old or new bytes), no temp file.
 * The 100 MB / 1 GB runs with a live server are in test/server/large-files.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STREAM_MIN_BYTES } from './blobs.js';
import { ObjectStore } from './objects.js';
import { GitCheckpointStore } from './store.js';

const dirs: string[] = [];
const stores: GitCheckpointStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=t@example.com', ...args], {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MB = 1 << 20;

/** Text-like bytes that deflate well, and random bytes that do not: both paths of the writer. */
function textBytes(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0, n = 0; i < size; n++) i += b.write(`line ${n}: the quick brown fox ${n * 7919}\n`, i);
  return b;
}

/** A repository whose files are in a pack only (as after a clone or `git gc`). */
function packedRepo(files: Record<string, Buffer>): string {
  const d = mkdtempSync(join(tmpdir(), 'potato-blobs-'));
  dirs.push(d);
  git(d, 'init', '-q', '-b', 'main');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(d, name), content);
  git(d, 'add', '-A');
  git(d, 'commit', '-qm', 'user commit');
  git(d, 'gc', '-q', '--prune=now');
  expect(git(d, 'count-objects', '-v')).toMatch(/^count: 0$/m);
  return d;
}

function patch(file: string, at: number, bytes: string): void {
  const b = readFileSync(file);
  b.write(bytes, at);
  writeFileSync(file, b);
}

function open(d: string): GitCheckpointStore {
  // No background index sync mid-test: its race with ref updates is issue 11 item 1, not this file's.
  // The checkpoint repository is the server's, beside the workspace (never inside it).
  dirs.push(`${d}.checkpoints`);
  const s = new GitCheckpointStore({ workspace: d, gitDir: `${d}.checkpoints`, indexSyncDelayMs: 600_000 });
  stores.push(s);
  return s;
}

describe('large files in a packed repository', () => {
  it('checkpoints a 17-byte change to multi-megabyte files and rolls back byte for byte', async () => {
    const text = textBytes(12 * MB + 5);
    const noise = randomBytes(9 * MB + 3);
    const d = packedRepo({ 'text.log': text, 'noise.bin': noise, 'small.txt': Buffer.from('small\n') });
    chmodSync(join(d, 'noise.bin'), 0o600);
    const s = open(d);
    const init = await s.init('s', 'branch-A');

    patch(join(d, 'text.log'), 7 * MB, 'potato-live-17byt');
    patch(join(d, 'noise.bin'), 5 * MB + 1, 'potato-live-17byt');
    const changed = { text: sha(readFileSync(join(d, 'text.log'))), noise: sha(readFileSync(join(d, 'noise.bin'))) };
    const step1 = await s.commit({ message: 'step 1' });
    expect(step1).not.toBeNull();
    // The checkpoint holds exactly the changed bytes, as git reads them.
    expect(
      sha(Buffer.from(execFileSync('git', ['cat-file', 'blob', `${step1}:text.log`], { cwd: d, maxBuffer: 1 << 30 }))),
    ).toBe(changed.text);
    expect(
      sha(Buffer.from(execFileSync('git', ['cat-file', 'blob', `${step1}:noise.bin`], { cwd: d, maxBuffer: 1 << 30 }))),
    ).toBe(changed.noise);

    // Step 0's blobs are in the pack: the rollback reads them from there.
    await s.reset(init.baseCommit);
    expect(sha(readFileSync(join(d, 'text.log')))).toBe(sha(text));
    expect(sha(readFileSync(join(d, 'noise.bin')))).toBe(sha(noise));
    expect(statSync(join(d, 'noise.bin')).mode & 0o777).toBe(0o600);

    // And forward again: step 1's blobs are loose objects written by the store.
    await s.reset(step1!);
    expect(sha(readFileSync(join(d, 'text.log')))).toBe(changed.text);
    expect(sha(readFileSync(join(d, 'noise.bin')))).toBe(changed.noise);

    // After `git gc` the step-1 blobs are packed too (likely as deltas of step 0's).
    await s.reset(init.baseCommit);
    git(d, 'gc', '-q', '--prune=now');
    await s.reset(step1!);
    expect(sha(readFileSync(join(d, 'text.log')))).toBe(changed.text);
    expect(sha(readFileSync(join(d, 'noise.bin')))).toBe(changed.noise);

    expect(readdirSync(d).filter((n) => n.startsWith('.potato-restore-'))).toEqual([]);
    expect(readdirSync(join(`${d}.checkpoints`, 'objects')).filter((n) => n.startsWith('.potato-restore-'))).toEqual(
      [],
    );
    await s.close();
    expect(git(d, 'fsck', '--strict', '--no-progress')).toBe('');
    expect(git(d, 'status', '--porcelain')).toBe('');
  });

  it('closing the store during a restore leaves each file old or new, whole, and no temp file', async () => {
    const big = randomBytes(40 * MB);
    const d = packedRepo({ 'big.bin': big });
    const s = open(d);
    const init = await s.init('s', 'branch-A');
    patch(join(d, 'big.bin'), 3 * MB, 'potato-live-17byt');
    const changed = sha(readFileSync(join(d, 'big.bin')));
    const step1 = (await s.commit({ message: 'step 1' }))!;
    const objects = join(`${d}.checkpoints`, 'objects');
    const temps = () =>
      [...readdirSync(d), ...readdirSync(objects)].filter(
        (n) => n.startsWith('.potato-restore-') || n.startsWith('tmp_obj_'),
      );
    const restoring = () => temps().length > 0;

    // Roll back and forth until the close lands while a restore is writing (usually at once).
    let outcome = 'done';
    for (let i = 0; i < 10 && outcome === 'done'; i++) {
      let settled = false;
      const rollback = s.reset(i % 2 === 0 ? init.baseCommit : step1).finally(() => (settled = true));
      while (!settled && !restoring()) await new Promise((r) => setImmediate(r));
      if (settled) {
        await rollback;
        continue;
      }
      const closing = s.close();
      outcome = await rollback.then(
        () => 'done',
        (err: Error) => err.message,
      );
      await closing;
      expect(outcome).toMatch(/cancelled: the store closed/);
    }
    expect(outcome).not.toBe('done');
    expect([sha(big), changed]).toContain(sha(readFileSync(join(d, 'big.bin'))));
    expect(temps()).toEqual([]);
  });

  it('streams only from STREAM_MIN_BYTES up, and a file just below it still round-trips', async () => {
    const below = randomBytes(STREAM_MIN_BYTES - 1);
    const at = randomBytes(STREAM_MIN_BYTES);
    const d = packedRepo({ 'below.bin': below, 'at.bin': at });
    const s = open(d);
    const init = await s.init('s', 'branch-A');
    rmSync(join(d, 'below.bin'));
    writeFileSync(join(d, 'at.bin'), 'replaced\n');
    await s.commit({ message: 'step 1' });
    await s.reset(init.baseCommit);
    expect(sha(readFileSync(join(d, 'below.bin')))).toBe(sha(below));
    expect(sha(readFileSync(join(d, 'at.bin')))).toBe(sha(at));
  });

  it('a FIFO or symlink swapped in after the lstat is not read: no hang, no file outside followed', async () => {
    const d = packedRepo({ 'a.txt': Buffer.from('a\n') });
    const db = new ObjectStore(join(d, '.git', 'objects'), join(d, '.git'));
    execFileSync('mkfifo', [join(d, 'pipe')]);
    symlinkSync('/etc/hostname', join(d, 'link'));
    for (const size of [10, STREAM_MIN_BYTES * 4]) {
      expect(await db.writeFileBlob(join(d, 'pipe'), size)).toBeNull();
      expect(await db.writeFileBlob(join(d, 'link'), size)).toBeNull();
    }
    db.close();
  });
});

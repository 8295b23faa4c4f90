/**
 * @module bench/checkpoint/main
 * The git CheckpointStore on a generated repository of 20,000 files, against what a naive store
 * would do in the same run on an identical copy: per step `git add -A`, `git status --porcelain`,
 * `git commit`, `git rev-parse HEAD` as child processes, and `git reset --hard` for a rollback.
 * Measures (a) a one-file edit checkpoint with the path known, (b) a shell step that changed 10
 * files (watches on, and the full stat-scan fallback), (c) a rollback across a 10-file difference,
 * (d) a 100 MB file in a packed repository (random bytes, then text): checkpoint of a 17-byte
 * change and rollback, against `git add` + `git commit` and `git reset --hard` on a copy, and
 * against reading and writing the file once.
 * Only the store's work is timed; the edits themselves happen before the clock starts.
 * Run: npx tsx bench/checkpoint/main.ts [iterations] [--large-only]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  cpSync,
  createReadStream,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GitCheckpointStore } from '../../src/checkpoints/git/index.js';

const ITERATIONS = Number(process.argv[2] ?? 200);
/** `--large-only`: just (d), the large-file rows. */
const LARGE_ONLY = process.argv.includes('--large-only');
const MB = 1 << 20;
const LARGE_ROUNDS = 6;
const NAIVE_ITERATIONS = Math.max(10, Math.floor(ITERATIONS / 10));
const TOP = 20;
const SUB = 10;
const FILES = 100;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

interface Figures {
  p50: number;
  p95: number;
}

/** `prepare` runs untimed before each sample (the agent's own edit); `run` is timed. */
async function measure(
  n: number,
  prepare: (i: number) => void,
  run: () => Promise<unknown> | unknown,
): Promise<Figures> {
  const samples: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    prepare(i);
    const t = performance.now();
    await run();
    if (i >= 3) samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return { p50: pct(samples, 50), p95: pct(samples, 95) };
}

const fileAt = (i: number) => {
  const f = i % (TOP * SUB * FILES);
  return `pkg${Math.floor(f / (SUB * FILES))}/mod${Math.floor(f / FILES) % SUB}/file${f % FILES}.py`;
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@localhost', ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
}

const work = mkdtempSync(path.join(tmpdir(), 'potato-bench-cp-'));
try {
  if (!LARGE_ONLY) await manyFiles(work);
  // (d) one 100 MB file in a packed repository
  console.log('\n(d) one 100 MB file in a packed repository: ours vs git on a copy, and vs one read + write');
  for (const kind of ['random', 'text'] as const) await largeFile(work, kind);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** (a) to (c): the generated repository of 20,000 files. */
async function manyFiles(work: string): Promise<void> {
  const ours = path.join(work, 'ours');
  const naive = path.join(work, 'naive');
  let t = performance.now();
  for (let a = 0; a < TOP; a++) {
    for (let b = 0; b < SUB; b++) {
      const dir = path.join(ours, `pkg${a}`, `mod${b}`);
      mkdirSync(dir, { recursive: true });
      for (let c = 0; c < FILES; c++) {
        writeFileSync(path.join(dir, `file${c}.py`), `# ${a}/${b}/${c}\n${'def f():\n    return 1\n'.repeat(8)}`);
      }
    }
  }
  writeFileSync(path.join(ours, '.gitignore'), '__pycache__/\n*.pyc\n');
  git(ours, 'init', '-q', '-b', 'main');
  // No automatic gc mid-measurement in either repository; both start packed, as a real one would.
  git(ours, 'config', 'gc.auto', '0');
  git(ours, 'add', '-A');
  git(ours, 'commit', '-qm', 'generated');
  git(ours, 'gc', '-q');
  cpSync(ours, naive, { recursive: true });
  git(naive, 'reset', '-q'); // the copy's index stat data is stale; refresh it untimed
  console.log(`generated ${TOP * SUB * FILES} files in ${(performance.now() - t).toFixed(0)} ms`);

  const store = new GitCheckpointStore({
    workspace: ours,
    gitDir: path.join(work, 'ours.git'),
    indexSyncDelayMs: 60_000,
  });
  t = performance.now();
  await store.init('bench', 'branch-A');
  console.log(
    `init (step 0 + watches on ${TOP * SUB + TOP + 1} directories): ${(performance.now() - t).toFixed(0)} ms`,
  );

  let step = 0;
  const edit = (root: string, i: number, k = 0) =>
    writeFileSync(path.join(root, fileAt(i * 37 + k * 1009)), `# edit ${step++}\n`);
  const naiveStep = () => {
    git(naive, 'add', '-A');
    const changed = git(naive, 'status', '--porcelain') !== '';
    if (changed) git(naive, 'commit', '-qm', `step ${step}`);
    git(naive, 'rev-parse', 'HEAD');
  };

  // (a) one-file edit, path known
  let current = 0;
  const aFixed = await measure(
    ITERATIONS,
    (i) => {
      current = i + 5000;
      writeFileSync(path.join(ours, fileAt(current)), `# a ${step++}\n`);
    },
    () =>
      store.commit({ message: `[potato-checkpoint] Step ${step}: Edit ${fileAt(current)}`, paths: [fileAt(current)] }),
  );
  const aNaive = await measure(NAIVE_ITERATIONS, (i) => edit(naive, i), naiveStep);

  // (b) shell step that changed 10 files: path unknown
  const tenEdits = (root: string, i: number) => {
    for (let k = 0; k < 10; k++) edit(root, i, k);
  };
  const bOurs = await measure(
    ITERATIONS,
    (i) => tenEdits(ours, i),
    async () => {
      await store.beforeCommand();
      await store.commit({ message: `[potato-checkpoint] Step ${step}: Run command` });
    },
  );
  const bMode = store.lastDetection;
  const bNaive = await measure(NAIVE_ITERATIONS, (i) => tenEdits(naive, i), naiveStep);

  // (c) rollback across a 10-file difference, alternating between two checkpoints
  await store.commit({ message: 'settle' });
  tenEdits(ours, 999);
  const baseOurs = store.currentCommit;
  const y = await store.commit({ message: 'y' });
  if (!y) throw new Error('bench setup: the 10-file step produced no checkpoint');
  let to = '';
  const cOurs = await measure(
    ITERATIONS,
    (i) => {
      to = i % 2 ? y : baseOurs;
    },
    () => store.reset(to),
  );
  const nx = git(naive, 'rev-parse', 'HEAD').trim();
  tenEdits(naive, 999);
  naiveStep();
  const ny = git(naive, 'rev-parse', 'HEAD').trim();
  const cNaive = await measure(
    NAIVE_ITERATIONS,
    (i) => {
      to = i % 2 ? ny : nx;
    },
    () => git(naive, 'reset', '-q', '--hard', to),
  );
  await store.close();
  const status = git(ours, 'status', '--porcelain');
  git(ours, 'fsck', '--no-progress', '--no-dangling');

  // (b') the same shell step with watches off: the full stat-scan fallback
  const scan = new GitCheckpointStore({
    workspace: ours,
    gitDir: path.join(work, 'ours.git'),
    watch: false,
    indexSyncDelayMs: 60_000,
  });
  await scan.open('bench', 'branch-A');
  const bScan = await measure(
    Math.max(20, Math.floor(ITERATIONS / 5)),
    (i) => tenEdits(ours, i + 7),
    () => scan.commit({ message: `[potato-checkpoint] Step ${step}: Run command` }),
  );
  await scan.close();

  const row = (name: string, o: Figures, n: Figures, target: string) =>
    console.log(
      `${name.padEnd(40)} ours p50 ${o.p50.toFixed(2).padStart(7)} ms  p95 ${o.p95.toFixed(2).padStart(7)} ms | ` +
        `naive p50 ${n.p50.toFixed(1).padStart(7)} ms  p95 ${n.p95.toFixed(1).padStart(7)} ms | ` +
        `x${(n.p50 / o.p50).toFixed(1)} faster (p50) | target ${target}`,
    );
  console.log(`\niterations: ours ${ITERATIONS}, naive ${NAIVE_ITERATIONS}, on ${TOP * SUB * FILES} files`);
  row('(a) one-file edit, path known', aFixed, aNaive, '< 10 ms p50');
  row(`(b) shell step, 10 files (${bMode})`, bOurs, bNaive, '< 40 ms p50');
  row('(b) same, full stat-scan fallback', bScan, bNaive, 'correctness fallback');
  row('(c) rollback, 10-file difference', cOurs, cNaive, '< 30 ms p50 and >= 2x vs reset --hard');
  console.log(
    `after close: git status --porcelain ${status === '' ? 'empty' : `NOT EMPTY:\n${status}`}; git fsck clean`,
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** 100 MB of random bytes (nothing to compress) or of text lines (compresses ~15x). */
function writeLarge(file: string, kind: 'random' | 'text'): void {
  const fd = openSync(file, 'w');
  const line = (n: number) => `${n}: the quick brown fox jumps over the lazy dog ${n * 7919}\n`;
  for (let i = 0, n = 0; i < 100; i++) {
    if (kind === 'random') writeSync(fd, randomBytes(MB));
    else {
      const b = Buffer.alloc(MB);
      for (let at = 0; at < MB; n++) at += b.write(line(n), at);
      writeSync(fd, b);
    }
  }
  closeSync(fd);
}

/** 17 bytes overwritten somewhere in the file, as an agent's small edit would. */
function poke(file: string, round: number): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, `potato-round-${String(round).padStart(4, '0')}`, (round * 7_777_777) % (99 * MB));
  closeSync(fd);
}

async function largeFile(work: string, kind: 'random' | 'text'): Promise<void> {
  const ours = path.join(work, `large-${kind}-ours`);
  const plain = path.join(work, `large-${kind}-git`);
  mkdirSync(ours);
  writeLarge(path.join(ours, 'big.bin'), kind);
  git(ours, 'init', '-q', '-b', 'main');
  git(ours, 'config', 'gc.auto', '0');
  git(ours, 'add', '-A');
  git(ours, 'commit', '-qm', 'a large file');
  git(ours, 'gc', '-q', '--prune=now');
  cpSync(ours, plain, { recursive: true });
  git(plain, 'reset', '-q');

  // The reference: reading the file and writing a copy of it once, streamed.
  const once: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await pipeline(createReadStream(path.join(ours, 'big.bin')), createWriteStream(path.join(work, 'copy.bin')));
    once.push(performance.now() - t);
    rmSync(path.join(work, 'copy.bin'));
  }

  const store = new GitCheckpointStore({
    workspace: ours,
    gitDir: `${ours}.git`,
    indexSyncDelayMs: 60_000,
  });
  await store.init('bench', 'branch-A');
  const base = store.currentCommit;
  const plainBase = git(plain, 'rev-parse', 'HEAD').trim();
  const cp = { ours: [] as number[], git: [] as number[] };
  const rb = { ours: [] as number[], git: [] as number[] };
  for (let round = 0; round < LARGE_ROUNDS; round++) {
    poke(path.join(ours, 'big.bin'), round);
    let t = performance.now();
    const step = await store.commit({ message: `[potato-checkpoint] Step ${round + 1}`, paths: ['big.bin'] });
    cp.ours.push(performance.now() - t);
    if (!step) throw new Error('bench: the 17-byte change made no checkpoint');
    t = performance.now();
    await store.reset(base);
    rb.ours.push(performance.now() - t);

    poke(path.join(plain, 'big.bin'), round);
    t = performance.now();
    git(plain, 'add', 'big.bin');
    git(plain, 'commit', '-qm', `step ${round + 1}`);
    cp.git.push(performance.now() - t);
    t = performance.now();
    git(plain, 'reset', '-q', '--hard', plainBase);
    rb.git.push(performance.now() - t);
  }
  await store.close();
  git(ours, 'fsck', '--no-progress', '--no-dangling');
  const same = git(ours, 'hash-object', 'big.bin') === git(plain, 'hash-object', 'big.bin');
  if (!same) throw new Error('bench: after the rollbacks the two copies of big.bin differ');

  const ms = (x: number) => `${x.toFixed(0).padStart(6)} ms`;
  const row = (what: string, o: number[], g: number[], gitWhat: string) =>
    console.log(
      `${`${kind}: ${what}`.padEnd(40)} ours p50 ${ms(median(o))} | ${gitWhat} p50 ${ms(median(g))} | ` +
        `x${(median(g) / median(o)).toFixed(2)} vs git | ${(median(o) / median(once)).toFixed(2)}x one read + write`,
    );
  console.log(`${kind}: read + write the 100 MB file once      p50 ${ms(median(once))}`);
  row('checkpoint of a 17-byte change', cp.ours, cp.git, 'git add + commit');
  row('rollback to the packed step 0', rb.ours, rb.git, 'git reset --hard');
  rmSync(ours, { recursive: true, force: true });
  rmSync(plain, { recursive: true, force: true });
}

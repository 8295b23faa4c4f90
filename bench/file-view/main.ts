/**
 * @module bench/file-view
 * The file tree and viewer at a checkpoint: the CheckpointReader (in process) against the
 * sealed git processes the server ran before (`rev-parse` for HEAD, `ls-tree -r` for the tree,
 * `cat-file -t`, `-s` and `blob` for a file), as the baseline in the same run. The repository is
 * what a real GitCheckpointStore leaves: the user's packed history of FILES files, then STEPS
 * steps that each change a few files (loose objects). Each iteration resolves HEAD, lists the
 * tree and opens one file (packed and loose alternately), with the reader kept open (as the
 * manager keeps it: parsed trees and the cat-file for packed objects reused) and with a reader
 * opened and closed per view.
 *
 *   npx tsx bench/file-view/main.ts [files=2000] [steps=20] [iterations=200]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { git as sealedGit } from '../../src/checkpoints/git/git.js';
import { GitCheckpointReader } from '../../src/checkpoints/git/reader.js';
import { GitCheckpointStore } from '../../src/checkpoints/git/store.js';

const FILES = Number(process.argv[2] ?? 2000);
const STEPS = Number(process.argv[3] ?? 20);
const ITERATIONS = Number(process.argv[4] ?? 200);
const WARMUP = 10;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'potato-bench-files-'));
  const ws = join(root, 'workspace');
  const gitDir = join(root, 'checkpoints', 'workspace');
  try {
    mkdirSync(ws);
    const paths: string[] = [];
    for (let i = 0; i < FILES; i++) {
      const p = `src/mod${i % 40}/file${i}.py`;
      mkdirSync(join(ws, p, '..'), { recursive: true });
      writeFileSync(join(ws, p), `# file ${i}\n${'x = 1\n'.repeat(50 + (i % 200))}`);
      paths.push(p);
    }
    const g = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=B', '-c', 'user.email=b@b', ...args], { cwd: ws });
    g('init', '-q');
    g('add', '-A');
    g('commit', '-qm', 'user history');
    g('gc', '-q');
    const store = new GitCheckpointStore({ workspace: ws, gitDir, watch: false });
    await store.init('bench', 'main');
    const changed: string[] = [];
    for (let s = 1; s <= STEPS; s++) {
      const step = [paths[(s * 7) % FILES]!, paths[(s * 13) % FILES]!];
      for (const p of step) writeFileSync(join(ws, p), `# step ${s}\n${'y = 2\n'.repeat(100)}`);
      await store.commit({ message: `step ${s}`, paths: step });
      changed.push(...step);
    }
    await store.close();
    const unchanged = paths.filter((p) => !changed.includes(p));
    const fileOf = (i: number) => (i % 2 === 0 ? changed[i % changed.length]! : unchanged[i % unchanged.length]!);

    const viaGit = async (i: number): Promise<number> => {
      const run = async (args: string[]) => (await sealedGit(args, { gitDir })).stdout;
      const head = (await run(['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
      const files = (await run(['ls-tree', '-r', '-z', '--name-only', head])).split('\0').filter(Boolean);
      const object = `${head}:${fileOf(i)}`;
      await run(['cat-file', '-t', object]);
      await run(['cat-file', '-s', object]);
      const text = await run(['cat-file', 'blob', object]);
      return files.length + text.length;
    };
    const reader = new GitCheckpointReader(gitDir);
    const inProcess = async (i: number): Promise<number> => {
      const head = (await reader.head())!;
      const files = await reader.listFiles(head);
      const f = await reader.readFile(head, fileOf(i), 1024 * 1024);
      return files.length + (f.kind === 'file' ? f.data.toString('utf8').length : 0);
    };

    // A reader opened for the view and closed after it: no tree kept, a cat-file for packed objects.
    const cold = async (i: number): Promise<number> => {
      const r = new GitCheckpointReader(gitDir);
      try {
        const head = (await r.head())!;
        const files = await r.listFiles(head);
        const f = await r.readFile(head, fileOf(i), 1024 * 1024);
        return files.length + (f.kind === 'file' ? f.data.toString('utf8').length : 0);
      } finally {
        await r.close();
      }
    };

    const measure = async (fn: (i: number) => Promise<number>) => {
      const ms: number[] = [];
      for (let i = 0; i < WARMUP + ITERATIONS; i++) {
        const t = performance.now();
        await fn(i);
        if (i >= WARMUP) ms.push(performance.now() - t);
      }
      return ms;
    };
    // Both must answer alike before either is timed.
    for (let i = 0; i < 4; i++) {
      if ((await viaGit(i)) !== (await inProcess(i))) throw new Error(`the two ways disagree on view ${i}`);
    }
    const base = await measure(viaGit);
    const mine = await measure(inProcess);
    const coldMs = await measure(cold);
    await reader.close();
    const row = (name: string, xs: number[]) =>
      `| ${name} | ${pct(xs, 50).toFixed(2)} ms | ${pct(xs, 95).toFixed(2)} ms |`;
    console.log(
      `${FILES} files (packed), ${STEPS} steps (loose), ${ITERATIONS} views of HEAD + tree + one file; load average ${loadavg()[0]!.toFixed(1)}`,
    );
    console.log('| what | p50 | p95 |\n|---|---|---|');
    console.log(row('git processes (baseline: rev-parse, ls-tree, cat-file ×3)', base));
    console.log(row('CheckpointReader, kept open (as the manager keeps it)', mine));
    console.log(row('CheckpointReader, opened and closed per view', coldMs));
    console.log(`ratio p50 baseline / reader kept open: ${(pct(base, 50) / pct(mine, 50)).toFixed(1)}×`);
    console.log(`ratio p50 baseline / reader per view: ${(pct(base, 50) / pct(coldMs, 50)).toFixed(1)}×`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();

/**
 * @module bench/cli-startup/main
 * What `potato validate` costs a user, and where the time goes. Two parts, each with its
 * baseline measured in the same run:
 *  - the CLI as a child process: `validate` (imports only its own subcommand) against `--help`
 *    (imports every subcommand, `start`'s whole engine included: what `validate` would cost if
 *    main.ts imported them all);
 *  - loadConfig in-process: the full load against YAML parse + schema check alone (the rest is
 *    scrypt hashing of annotator passwords, one hash per annotator).
 * Run: npx tsx bench/cli-startup/main.ts [iterations]   (uses dist/ when built, else tsx).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

const ITERATIONS = Number(process.argv[2] ?? 10);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const config = path.join(root, 'test/fixtures/configs/quickstart.yaml');
const built = existsSync(path.join(root, 'dist/cli/main.js'));
const cli = built ? [path.join(root, 'bin/potato.js')] : ['--import', 'tsx', path.join(root, 'src/cli/main.ts')];

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function stats(samples: number[]): { p50: number; p95: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: pct(sorted, 50), p95: pct(sorted, 95) };
}

function runCli(args: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, [...cli, ...args], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`potato ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return performance.now() - t;
}

const fmt = (n: number) => n.toFixed(1).padStart(8);
const row = (what: string, s: { p50: number; p95: number }) =>
  console.log(`${what.padEnd(44)}${fmt(s.p50)}${fmt(s.p95)}`);

console.log(`CLI from ${built ? 'dist/ (built)' : 'source through tsx'}; ${ITERATIONS} runs each, interleaved, ms`);
console.log(`${'what'.padEnd(44)}${'p50'.padStart(8)}${'p95'.padStart(8)}`);
runCli(['validate', config]);
runCli(['--help']);
const validate: number[] = [];
const help: number[] = [];
for (let i = 0; i < ITERATIONS; i++) {
  validate.push(runCli(['validate', config]));
  help.push(runCli(['--help']));
}
const v = stats(validate);
const h = stats(help);
row('potato validate (its own subcommand only)', v);
row('potato --help (every subcommand imported)', h);
console.log(`ratio at p50: --help / validate = ${(h.p50 / v.p50).toFixed(2)}x`);

const text = readFileSync(config, 'utf8');
const full: number[] = [];
const checkOnly: number[] = [];
for (let i = 0; i < 3; i++) loadConfig(config);
for (let i = 0; i < ITERATIONS * 5; i++) {
  let t = performance.now();
  loadConfig(config);
  full.push(performance.now() - t);
  t = performance.now();
  configSchema.parse(parse(text));
  checkOnly.push(performance.now() - t);
}
const f = stats(full);
const c = stats(checkOnly);
console.log('');
row('loadConfig (1 annotator)', f);
row('YAML parse + schema check only', c);
console.log(`ratio at p50: loadConfig / check only = ${(f.p50 / c.p50).toFixed(1)}x`);

/**
 * @module bench/run
 * `npm run bench [-- name... --flag...]`: runs every bench/<name>/main.ts (or only those named), one
 * after another, each in its own process under tsx so one benchmark's heap and timers do not
 * colour the next; flags are handed to each. Exits non-zero when any of them failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const all = readdirSync(benchDir, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(path.join(benchDir, e.name, 'main.ts')))
  .map((e) => e.name)
  .sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
// Flags (e.g. --short) go to every benchmark run.
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`No benchmark named ${unknown.join(', ')}. Available: ${all.join(', ')}.`);
  process.exit(2);
}
const failed: string[] = [];
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n=== bench/${name} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(benchDir, name, 'main.ts'), ...flags], {
    stdio: 'inherit',
    cwd: path.resolve(benchDir, '..'),
  });
  if (r.status !== 0) failed.push(`${name} (exit ${r.status ?? r.signal})`);
}
if (failed.length > 0) {
  console.error(`\nFailed: ${failed.join(', ')}`);
  process.exit(1);
}

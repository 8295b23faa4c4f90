/**
 * @module bench/command-policy/main
 * How much the command policy adds before a bash_command runs. Measured in the same run:
 * checkCommand (mvdan-sh parse + walk + match), a bare sh-syntax parse (the wasm build of the
 * same parser) and the LocalSandbox running `true` (the least any command costs).
 * Run: npx tsx bench/command-policy/main.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as shSyntaxParse } from 'sh-syntax';
import { LocalSandbox } from '../../src/sandbox/local/local-sandbox.js';
import { checkCommand } from '../../src/tools/policy.js';

const LINES = [
  'pytest -q | tail -5',
  'git status && ls -la',
  'cd src && python -m pytest tests/test_parser.py -x -q 2>&1 | tail -20',
  'find . -name "*.py" -exec grep -l TODO {} + | xargs cat',
  'bash -c "ls; curl x"',
  'cat <<EOF > f.txt\nhello\nworld\nEOF',
  'for f in $(ls src); do echo "$f"; done; if [ -f x ]; then rm -rf ./build; fi',
];
const policy = {
  allowed: ['python', 'pip', 'pytest', 'git', 'ls', 'cat', 'find', 'grep', 'tail', 'xargs', 'rm'],
  restricted: ['sudo', 'rm -rf /', 'curl'],
};

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function measure(label: string, rounds: number, fn: (line: string) => unknown): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const line of LINES) {
      const t0 = performance.now();
      await fn(line);
      times.push(performance.now() - t0);
    }
  }
  console.log(
    `${label.padEnd(34)} p50 ${pct(times, 50).toFixed(3)} ms   p95 ${pct(times, 95).toFixed(3)} ms   (n=${times.length})`,
  );
  return times;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potato-bench-'));
const sandbox = new LocalSandbox({ workspace: dir });
await sandbox.start();
try {
  await measure('warm-up', 5, (l) => checkCommand(l, policy));
  const policyTimes = await measure('checkCommand (mvdan-sh)', 100, (l) => checkCommand(l, policy));
  const shSyntax = await measure('sh-syntax parse only (baseline)', 20, (l) => shSyntaxParse(l));
  const exec = await measure('LocalSandbox exec `true` (baseline)', 5, () => sandbox.exec('true', { timeoutMs: 5000 }));
  const p50 = pct(policyTimes, 50);
  console.log(`ratio p50: sh-syntax parse / checkCommand = ${(pct(shSyntax, 50) / p50).toFixed(1)}x`);
  console.log(`ratio p50: exec true / checkCommand = ${(pct(exec, 50) / p50).toFixed(1)}x`);
} finally {
  await sandbox.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

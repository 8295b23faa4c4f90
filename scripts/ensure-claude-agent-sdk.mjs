#!/usr/bin/env node
// The Claude Agent SDK is an optional peer dependency: its bundled Claude Code binary is ~390 MB,
// more than the rest of the install, so `npm ci` leaves it out. The tests exercise that backend
// for real, so `npm test` (pretest) and .ci/run install it here, without touching package.json or
// the lockfile: into .test-deps/ (npm will not add a package the root lists as an optional peer),
// linked into node_modules/@anthropic-ai/. The version is the one the tests are written against.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const TESTED_VERSION = '0.3.332';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scope = join(root, 'node_modules', '@anthropic-ai');
const manifest = join(scope, 'claude-agent-sdk', 'package.json');
const installed = existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).version : null;
if (installed === TESTED_VERSION) process.exit(0);
process.stdout.write(
  `installing @anthropic-ai/claude-agent-sdk@${TESTED_VERSION} for the tests into .test-deps/ (${installed ? `found ${installed}` : 'not installed'}; package.json untouched)\n`,
);
const deps = join(root, '.test-deps');
mkdirSync(deps, { recursive: true });
writeFileSync(
  join(deps, 'package.json'),
  `${JSON.stringify({ private: true, dependencies: { '@anthropic-ai/claude-agent-sdk': TESTED_VERSION } }, null, 2)}\n`,
);
execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock'], { cwd: deps, stdio: 'inherit' });
// The SDK and its platform packages (the Claude Code binary) where the code and the SDK look for them.
mkdirSync(scope, { recursive: true });
const from = join(deps, 'node_modules', '@anthropic-ai');
for (const name of readdirSync(from).filter((n) => n.startsWith('claude-agent-sdk'))) {
  const link = join(scope, name);
  rmSync(link, { recursive: true, force: true });
  symlinkSync(relative(scope, join(from, name)), link, 'dir');
}

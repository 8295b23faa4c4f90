#!/usr/bin/env node
// The Claude Agent SDK is an optional peer dependency: its bundled Claude Code binary is ~390 MB,
// more than the rest of the install, so `npm ci` leaves it out. The tests exercise that backend
// for real, so `npm test` (pretest) and .ci/run install it here, without touching package.json or
// the lockfile. The version is the one the tests are written against.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TESTED_VERSION = '0.3.332';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = join(root, 'node_modules', '@anthropic-ai', 'claude-agent-sdk', 'package.json');
const installed = existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).version : null;
if (installed === TESTED_VERSION) process.exit(0);
process.stdout.write(
  `installing @anthropic-ai/claude-agent-sdk@${TESTED_VERSION} for the tests (${installed ? `found ${installed}` : 'not installed'}; not saved to package.json)\n`,
);
execFileSync(
  'npm',
  ['install', '--no-save', '--no-audit', '--no-fund', `@anthropic-ai/claude-agent-sdk@${TESTED_VERSION}`],
  { cwd: root, stdio: 'inherit' },
);

/**
 * @module cli/apply
 * `potato apply SESSION [--branch NAME] --repo PATH [--project DIR] [--as NEW]`: a new branch
 * in the user's repository with the session branch's result as one commit (results/apply).
 */

import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { checkpointGitDir, GitCheckpointReader } from '../checkpoints/git/index.js';
import { applyResult } from '../results/apply.js';
import { branchResult, ResultError } from '../results/branch-result.js';
import { openSqliteStore } from '../store/sqlite/store.js';
import { UsageError } from './errors.js';
import { DB_FILE } from './export.js';

interface ApplyCliOptions {
  branch?: string;
  repo: string;
  project: string;
  as?: string;
}

export function register(program: Command): void {
  program
    .command('apply')
    .description("create a branch in your repository with a session branch's result as one commit")
    .argument('<session>', 'the session id (as in the session page address)')
    .option('--branch <name>', "the session's branch to take (default: its current branch)")
    .requiredOption('--repo <path>', 'your repository; its checkout, index and other branches are left as they are')
    .option('--project <dir>', 'the project output folder (output.path in the config), holding potato.db', './output')
    .option('--as <branch>', 'name of the new branch (default potato/<session>-<branch>)')
    .action(async (sessionId: string, options: ApplyCliOptions, command: Command) => {
      const dbPath = path.join(path.resolve(options.project), DB_FILE);
      if (!fs.existsSync(dbPath)) {
        throw new UsageError(
          `no data in ${path.resolve(options.project)}: ${DB_FILE} is missing. Pass --project the output.path folder of your config`,
        );
      }
      const store = openSqliteStore(dbPath);
      try {
        const session = await store.getSession(sessionId);
        if (!session) throw new UsageError(`no session ${sessionId} in ${dbPath}`);
        const gitDir = checkpointGitDir({ output: { path: path.resolve(options.project) } }, session.workspace);
        const checkpoints = new GitCheckpointReader(gitDir);
        let applied: Awaited<ReturnType<typeof applyResult>>;
        try {
          const result = await branchResult(store, session, checkpoints, options.branch);
          applied = await applyResult(result, {
            repo: path.resolve(options.repo),
            ...(options.as ? { as: options.as } : {}),
          });
        } finally {
          await checkpoints.close();
        }
        command
          .configureOutput()
          .writeOut?.(
            `created branch ${applied.branch} at ${applied.commit.slice(0, 12)} (${applied.files} ${applied.files === 1 ? 'file' : 'files'} changed on ${applied.parent.slice(0, 12)}); your checkout was not touched\n`,
          );
      } catch (err) {
        if (err instanceof ResultError) throw new UsageError(err.message);
        throw err;
      } finally {
        await store.close();
      }
    });
}

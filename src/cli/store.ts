/**
 * @module cli/store
 * `potato store copy [--config FILE] [--project DIR] [--database_url_env NAME]`: every session,
 * step, branch, intervention, annotation, label, event (with its number) and login of a project's
 * SQLite file (`<DIR>/potato.db`) into an empty PostgreSQL database, for a team that outgrows one
 * machine (docs/deploy.md, "Moving from one machine to replicas"). The database is named by the
 * environment variable holding its URL, never by the URL: no password on a command line. All or
 * nothing and checked (store/copy.ts); the file is left as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { envVarName } from '../config/schema.js';
import { sessionWorkspace } from '../config/workspace.js';
import { ownerDead } from '../session/lease.js';
import { type CopyReport, copyStore } from '../store/copy.js';
import { describeStore, openStore } from '../store/open.js';
import { openSqliteStore } from '../store/sqlite/store.js';
import type { SessionRecord } from '../store/types.js';
import { UsageError } from './errors.js';
import { DB_FILE } from './export.js';

interface CopyCliOptions {
  config?: string;
  project?: string;
  database_url_env?: string;
}

/** Where the copy reads from and writes to, from the flags and the config. */
interface CopyPlan {
  dbPath: string;
  /** output.path of the deployment on the target: where the sessions' workspaces belong. */
  outputPath: string;
  envName: string;
}

function planOf(opts: CopyCliOptions): CopyPlan {
  const config = opts.config ? loadConfig(opts.config) : undefined;
  const envName = opts.database_url_env ?? config?.output.database_url_env;
  if (envName === undefined) {
    throw new UsageError(
      'name the PostgreSQL database to copy into: --config with a config whose output.database_url_env names the variable holding its URL, or --database_url_env NAME',
    );
  }
  // The value is not repeated: a URL given here by mistake may hold a password.
  if (!envVarName.safeParse(envName).success) {
    throw new UsageError(
      '--database_url_env takes the NAME of the environment variable that holds the database URL (e.g. POTATO_DATABASE_URL), not the URL: export the URL in that variable',
    );
  }
  const project = opts.project ?? config?.output.path;
  if (project === undefined) {
    throw new UsageError(
      'name the SQLite store to copy: --project the output.path folder holding potato.db, or --config',
    );
  }
  const dbPath = path.join(path.resolve(project), DB_FILE);
  if (!fs.existsSync(dbPath)) {
    throw new UsageError(
      `nothing to copy in ${path.resolve(project)}: ${DB_FILE} is missing. Pass --project the output.path folder of the config you ran on SQLite`,
    );
  }
  return { dbPath, outputPath: path.resolve(config?.output.path ?? project), envName };
}

/**
 * A session's workspace under the target's output.path: where a server on the target looks for it
 * (moved with the folder when the folder moved). A path of another shape is kept as it is.
 */
function workspaceIn(outputPath: string): (s: SessionRecord) => string {
  return (s) =>
    path.basename(s.workspace) === s.id && path.basename(path.dirname(s.workspace)) === 'workspaces'
      ? sessionWorkspace(outputPath, s.id)
      : s.workspace;
}

/** The report a user reads: rows per table on both sides, what is not copied and why, what to do next. */
function render(report: CopyReport, plan: CopyPlan, missing: string[]): string {
  const width = Math.max(...report.tables.map((t) => t.table.length), 'table'.length);
  const num = (n: number) => n.toLocaleString('en').padStart(10);
  const lines = [`${'table'.padEnd(width)} ${'source'.padStart(10)} ${'target'.padStart(10)}`];
  for (const t of report.tables) {
    const note =
      t.fate.kind === 'left'
        ? `  not copied: ${t.fate.why}`
        : t.fate.kind === 'rebuilt'
          ? `  rebuilt: ${t.fate.from}`
          : '';
    lines.push(`${t.table.padEnd(width)} ${num(t.source)} ${num(t.target)}${note}`);
  }
  const s = (n: number, one: string, many: string) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
  lines.push(
    '',
    `verified: every copied table, and every rebuilt one the source has too, holds as many rows as in the source, and every session (${report.sessions.toLocaleString('en')}) has the same last event number and step count`,
  );
  if (report.movedWorkspaces > 0) {
    lines.push(
      `${s(report.movedWorkspaces, "session's workspace path now points", "sessions' workspace paths now point")} into ${path.join(plan.outputPath, 'workspaces')} (output.path)`,
    );
  }
  lines.push(
    '',
    `Not in the database: the workspaces, their checkpoint history and the exports stay in the folder ${plan.outputPath} (output.path).`,
    'Every replica needs that same folder at that same path (a shared mount): move or share it before you start them (docs/deploy.md).',
  );
  if (missing.length > 0) {
    lines.push(
      `${s(missing.length, "session's workspace is", "sessions' workspaces are")} not there (${missing[0]}${missing.length > 1 ? ', …' : ''}): ${missing.length === 1 ? 'it' : 'they'} can be viewed, labelled and exported, but not continued or rolled back until the folder is.`,
    );
  }
  lines.push(
    `${plan.dbPath} is left as it was: keep it as a backup, and move it out of output.path once the sessions show on PostgreSQL (a server on PostgreSQL warns while it is there).`,
    '',
  );
  return lines.join('\n');
}

export async function runCopy(opts: CopyCliOptions, out: (text: string) => void): Promise<CopyReport> {
  const plan = planOf(opts);
  const target = await openStore({ output: { path: plan.outputPath, database_url_env: plan.envName } });
  try {
    const source = openSqliteStore(plan.dbPath);
    try {
      out(
        `copying SQLite ${plan.dbPath} into ${describeStore({ output: { path: plan.outputPath, database_url_env: plan.envName } })}\n`,
      );
      const workspace = workspaceIn(plan.outputPath);
      const report = await copyStore(source, target, {
        leaseIsLive: (lease) => lease.expires_at > Date.now() && !ownerDead(lease.owner),
        workspace,
      });
      const missing = (await target.listSessions()).map((s) => s.workspace).filter((w) => !fs.existsSync(w));
      out(render(report, plan, missing));
      return report;
    } finally {
      await source.close();
    }
  } finally {
    await target.close();
  }
}

export function register(program: Command): void {
  const store = program
    .command('store')
    .description('move what the server keeps (sessions, events, logins) from one store to another');
  store
    .command('copy')
    .description(
      "copy every session, event and login of a project's SQLite file into an empty PostgreSQL database, all or nothing, and check the copy",
    )
    .option(
      '--config <file>',
      'the config to run on PostgreSQL: output.database_url_env names the database, output.path holds potato.db',
    )
    .option('--project <dir>', 'the folder holding potato.db (default: output.path of --config)')
    .option(
      '--database_url_env <NAME>',
      'the environment variable holding the database URL (default: output.database_url_env of --config); never the URL itself',
    )
    .action(async (options: CopyCliOptions, command: Command) => {
      const write = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
      await runCopy(options, write);
    });
}

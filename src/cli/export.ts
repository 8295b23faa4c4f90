/**
 * @module cli/export
 * `potato export --format F --project DIR --output FILE [--flatten_branches true|false]`:
 * stream every session of `<DIR>/potato.db` through one exporter into FILE (written to a
 * temporary file and renamed, so FILE is never half written). User errors exit 2.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { EXPORT_FORMATS } from '../config/schema.js';
import { ExportError, exportLines, FLATTENABLE, parseFormat } from '../export/index.js';
import { AtomicJsonlWriter } from '../export/jsonl.js';
import { openSqliteStore } from '../store/sqlite/store.js';
import { UsageError } from './errors.js';

export const DB_FILE = 'potato.db';

interface ExportCliOptions {
  format: string;
  project: string;
  output: string;
  flatten_branches?: string;
}

function parseBool(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`--flatten_branches takes true or false, not "${value}"`);
}

/** Export every session in the project; returns lines and sessions written. */
export function runExport(opts: ExportCliOptions): { lines: number; sessions: number; file: string } {
  const format = parseFormat(opts.format);
  let flatten = false;
  if (opts.flatten_branches !== undefined) {
    if (!FLATTENABLE.includes(format)) {
      throw new ExportError(
        `--flatten_branches applies only to ${FLATTENABLE.join(', ')}; ${format} has one line per branch point already: drop the option`,
      );
    }
    flatten = parseBool(opts.flatten_branches);
  }
  const project = path.resolve(opts.project);
  const dbPath = path.join(project, DB_FILE);
  if (!fs.existsSync(project)) {
    throw new ExportError(`project folder ${project} does not exist: pass the output.path folder of your config`);
  }
  if (!fs.existsSync(dbPath)) {
    throw new ExportError(
      `no data in ${project}: ${DB_FILE} is missing. Pass the folder named by output.path in your config, after running at least one session with \`potato start\``,
    );
  }
  const output = path.resolve(opts.output);
  if (fs.existsSync(output) && fs.statSync(output).isDirectory()) {
    throw new ExportError(
      `--output ${output} is a folder: give a file name such as ${path.join(output, `${format}.jsonl`)}`,
    );
  }
  fs.mkdirSync(path.dirname(output), { recursive: true });

  const store = openSqliteStore(dbPath);
  try {
    const sessions = store.listSessions();
    if (sessions.length === 0) {
      throw new ExportError(`no sessions in ${dbPath} yet: run a session with \`potato start\` first`);
    }
    const writer = new AtomicJsonlWriter(output);
    try {
      for (const line of exportLines(store, format, { flattenBranches: flatten })) writer.write(line);
      writer.commit();
    } catch (err) {
      writer.abort();
      throw err;
    }
    return { lines: writer.lines, sessions: sessions.length, file: output };
  } finally {
    store.close();
  }
}

export function register(program: Command): void {
  program
    .command('export')
    .description('export collected sessions as JSONL')
    .requiredOption('--format <format>', `export format: ${EXPORT_FORMATS.join(', ')}`)
    .requiredOption('--project <dir>', 'the project output folder (output.path in the config), holding potato.db')
    .requiredOption('--output <file>', 'JSONL file to write')
    .option('--flatten_branches <bool>', 'trajectories: one line per branch (true) or one per session tree (false)')
    .action((options: ExportCliOptions, command: Command) => {
      try {
        const result = runExport(options);
        command
          .configureOutput()
          .writeOut?.(
            `wrote ${result.lines} ${result.lines === 1 ? 'line' : 'lines'} from ${result.sessions} ${result.sessions === 1 ? 'session' : 'sessions'} to ${result.file}\n`,
          );
      } catch (err) {
        if (err instanceof ExportError) throw new UsageError(err.message);
        throw err;
      }
    });
}

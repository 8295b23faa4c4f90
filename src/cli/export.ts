/**
 * @module cli/export
 * `potato export --format F --project DIR --output FILE [--flatten_branches true|false] [options]`:
 * stream every session of `<DIR>/potato.db` through one exporter into FILE (written to a
 * temporary file and renamed, so FILE is never half written), and write the dataset card
 * README.md beside it. The export options come from `--config` (output.export_options) and the
 * flags, which win; a `--config` naming a PostgreSQL database (output.database_url_env) is read
 * instead of the file. User errors exit 2.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { EXPORT_FORMATS, type ExportFormat } from '../config/schema.js';
import type { PotatoConfig } from '../config/types.js';
import { type CardFile, writeCard } from '../export/card.js';
import { ExportError, type ExportOptions, exportLines, FLATTENABLE, parseFormat } from '../export/index.js';
import { AtomicJsonlWriter } from '../export/jsonl.js';
import { exportOptionsOf } from '../export/types.js';
import { describeStore, openStore } from '../store/open.js';
import { openSqliteStore } from '../store/sqlite/store.js';
import { UsageError } from './errors.js';

export const DB_FILE = 'potato.db';

interface ExportCliOptions {
  format: string;
  project: string;
  output: string;
  flatten_branches?: string;
  config?: string;
  annotator_calls?: string;
  rollback_instruction?: string;
  prm_window?: string;
  prm_sparse_labels?: string;
  outcome_order?: string;
}

function parseBool(flag: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`--${flag} takes true or false, not "${value}"`);
}

function parseChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${flag} takes ${choices.join(' or ')}, not "${value}"`);
}

/** The export options: output.export_options of --config, then the flags. */
function optionsFrom(opts: ExportCliOptions): { options: ExportOptions; config?: PotatoConfig } {
  const config = opts.config ? loadConfig(opts.config) : undefined;
  const options: ExportOptions = config ? exportOptionsOf(config) : {};
  if (opts.annotator_calls !== undefined) {
    options.annotatorCalls = parseChoice('annotator_calls', opts.annotator_calls, ['mark', 'exclude'] as const);
  }
  if (opts.rollback_instruction !== undefined) {
    options.rollbackInstruction = parseChoice('rollback_instruction', opts.rollback_instruction, [
      'prompt',
      'exclude',
    ] as const);
  }
  if (opts.prm_window !== undefined) {
    const n = Number(opts.prm_window);
    if (!Number.isInteger(n) || n < 1 || n > 1000) {
      throw new UsageError(`--prm_window takes a whole number of steps from 1 to 1000, not "${opts.prm_window}"`);
    }
    options.prmWindow = n;
  }
  if (opts.prm_sparse_labels !== undefined) {
    options.prmSparseLabels = parseBool('prm_sparse_labels', opts.prm_sparse_labels);
  }
  if (opts.outcome_order !== undefined) {
    const order = opts.outcome_order.split(',').map((v) => v.trim());
    if (order.some((v) => v === '')) {
      throw new UsageError(
        `--outcome_order takes outcome values separated by commas, best first (e.g. resolved,partial,failed), not "${opts.outcome_order}"`,
      );
    }
    options.outcomeOrder = order;
  }
  return { options, config };
}

/** Lines of a JSONL file, or null when it is not there. */
function countLines(file: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // Not there (or unreadable): the caller reports no count for it.
    return null;
  }
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Export every session in the project; returns lines and sessions written. */
export async function runExport(
  opts: ExportCliOptions,
): Promise<{ lines: number; sessions: number; file: string; card: string }> {
  const format = parseFormat(opts.format);
  const { options, config } = optionsFrom(opts);
  let flatten = false;
  if (opts.flatten_branches !== undefined) {
    if (!FLATTENABLE.includes(format)) {
      throw new ExportError(
        `--flatten_branches applies only to ${FLATTENABLE.join(', ')}; ${format} has one line per branch point already: drop the option`,
      );
    }
    flatten = parseBool('flatten_branches', opts.flatten_branches);
  }
  const project = path.resolve(opts.project);
  const dbPath = path.join(project, DB_FILE);
  const database = config?.output.database_url_env ? config : undefined;
  if (database) {
    // The sessions are in PostgreSQL: no file to look for.
  } else if (!fs.existsSync(project)) {
    throw new ExportError(`project folder ${project} does not exist: pass the output.path folder of your config`);
  } else if (!fs.existsSync(dbPath)) {
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

  const store = database ? await openStore(database) : openSqliteStore(dbPath);
  try {
    const sessions = await store.listSessions();
    if (sessions.length === 0) {
      throw new ExportError(
        `no sessions in ${database ? describeStore(database) : dbPath} yet: run a session with \`potato start\` first`,
      );
    }
    const writer = new AtomicJsonlWriter(output);
    const all: ExportOptions = { ...options, flattenBranches: flatten };
    try {
      for await (const line of exportLines(store, format, all)) writer.write(line);
      writer.commit();
    } catch (err) {
      writer.abort();
      throw err;
    }
    // The card describes this file and any other format's `<format>.jsonl` already beside it.
    const dir = path.dirname(output);
    const files: CardFile[] = [{ format, file: path.basename(output), lines: writer.lines }];
    for (const other of EXPORT_FORMATS) {
      const file = `${other}.jsonl`;
      if (file === path.basename(output)) continue;
      const lines = countLines(path.join(dir, file));
      if (lines !== null) files.push({ format: other as ExportFormat, file, lines });
    }
    const card = writeCard(dir, { files, sessions: sessions.length, options: all, config });
    return { lines: writer.lines, sessions: sessions.length, file: output, card };
  } finally {
    await store.close();
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
    .option('--config <file>', 'a config whose output.export_options to use (the flags below win)')
    .option(
      '--annotator_calls <mode>',
      "dpo, dpo_step: an annotator's edited tool call as a marked user turn (mark) or the pair left out (exclude)",
    )
    .option(
      '--rollback_instruction <mode>',
      'dpo, dpo_step: the instruction sent with a rollback in the prompt (prompt) or the pair left out (exclude)',
    )
    .option('--prm_window <n>', 'prm_stepwise: steps of context before each line, and most completions per line')
    .option(
      '--prm_sparse_labels <bool>',
      'prm_stepwise: one line per labelled step (true) or runs of labelled steps (false)',
    )
    .option(
      '--outcome_order <values>',
      'outcome values best first, e.g. resolved,partial,failed: a pair whose rejected branch has the better outcome is left out',
    )
    .action(async (options: ExportCliOptions, command: Command) => {
      try {
        const result = await runExport(options);
        command
          .configureOutput()
          .writeOut?.(
            `wrote ${result.lines} ${result.lines === 1 ? 'line' : 'lines'} from ${result.sessions} ${result.sessions === 1 ? 'session' : 'sessions'} to ${result.file}, and the dataset card ${result.card}\n`,
          );
      } catch (err) {
        if (err instanceof ExportError) throw new UsageError(err.message, { cause: err });
        throw err;
      }
    });
}

/**
 * @module cli/main
 * The `potato` command: builds the commander program from the subcommand modules (each exports
 * `register(program)`) and turns a thrown error into an exit code through cli/errors.ts — 0 success, 2 a user error (bad usage, bad config), 1
 * anything else. Runs itself when it is the entry point (bin/potato.js or `tsx src/cli/main.ts`).
 */
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { causeChain, describeError } from '../errors.js';
import { EXIT_OK, EXIT_USAGE, exitCodeFor } from './errors.js';

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './errors.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const here = path.dirname(fileURLToPath(import.meta.url));
// src/cli/main.ts and dist/cli/main.js are both two levels below the package root.
const packageRoot = path.resolve(here, '..', '..');

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

interface CommandModule {
  register(program: Command): void;
}

/**
 * Each subcommand's module, imported only when it is the one being run (all of them for help):
 * `start` pulls in the whole engine (SQLite, Docker, every model SDK), which `validate` and
 * `export` should not pay for at every start-up.
 */
const COMMAND_MODULES: Record<string, () => Promise<CommandModule>> = {
  validate: () => import('./validate.js'),
  start: () => import('./start.js'),
  export: () => import('./export.js'),
  apply: () => import('./apply.js'),
  store: () => import('./store.js'),
};

/**
 * The `potato` program with the subcommands `argv` needs registered: none for --version, the
 * named one, or every one when `argv` is not given or names no known command (so help and
 * did-you-mean see them all).
 */
export async function buildProgram(io: Io = processIo, argv?: readonly string[]): Promise<Command> {
  const program = new Command('potato');
  // Before any subcommand is added: commander copies these settings to subcommands when they are created.
  program
    .description('Watch, steer, rewind, branch and label an AI coding agent live; export the result as training data.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run `potato --help` for usage)');
  const requested = argv?.[2];
  const loaders =
    requested === '--version' || requested === '-V'
      ? []
      : requested !== undefined && Object.hasOwn(COMMAND_MODULES, requested)
        ? [COMMAND_MODULES[requested]!]
        : Object.values(COMMAND_MODULES);
  for (const mod of await Promise.all(loaders.map((load) => load()))) mod.register(program);
  return program;
}

/**
 * Run the CLI on `argv` (as in process.argv: node, script, args…) and return the exit code.
 * `program` defaults to the real one; tests pass one built with `buildProgram(io)` plus extras.
 */
export async function run(argv: readonly string[], io: Io = processIo, program?: Command): Promise<number> {
  try {
    await (program ?? (await buildProgram(io, argv))).parseAsync([...argv]);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message (or the help or version); only the code is ours.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    const code = exitCodeFor(err);
    const message = err instanceof Error ? err.message : String(err);
    io.err(`error: ${message}\n`);
    // The user's own mistakes need the message alone; anything else may need its cause chain.
    if (code !== EXIT_USAGE && err instanceof Error) {
      if (process.env.POTATO_DEBUG) io.err(`${describeError(err)}\n`);
      else if (err.cause !== undefined) {
        const causes = causeChain(err.cause).map((c) => (c instanceof Error ? c.message : String(c)));
        io.err(`caused by: ${causes.join(': ')} (POTATO_DEBUG=1 shows the stack)\n`);
      }
    }
    return code;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    const entry = realpathSync(script);
    return (
      entry === realpathSync(fileURLToPath(import.meta.url)) || entry === path.join(packageRoot, 'bin', 'potato.js')
    );
  } catch {
    // The script path does not resolve: this module is not the entry point.
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await run(process.argv);
}

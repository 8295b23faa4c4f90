/**
 * @module cli/start
 * `potato start CONFIG [-p PORT]` — being written (engine owner). Registers the command.
 */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('start')
    .argument('<config>', 'YAML config file')
    .option('-p, --port <port>', 'port to listen on (overrides `port`)')
    .description('start the server with a YAML config')
    .action(() => {
      throw new Error('potato start is not wired yet');
    });
}

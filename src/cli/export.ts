/**
 * @module cli/export
 * `potato export` — being written (exports owner). Registers the command.
 */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('export')
    .description('export collected sessions as JSONL')
    .action(() => {
      throw new Error('potato export is not wired yet');
    });
}

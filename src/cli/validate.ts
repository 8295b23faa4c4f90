/**
 * @module cli/validate
 * `potato validate CONFIG`: load the config and print it resolved (defaults applied, paths
 * absolute) as YAML with secrets masked; a bad config throws ConfigError, which main.ts reports.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { loadConfig } from '../config/load.js';
import { maskedConfig } from '../config/secrets.js';

export function register(program: Command): void {
  program
    .command('validate')
    .argument('<config>', 'YAML config file')
    .description('check a config file and print it resolved, with secrets masked')
    .action((configPath: string, _options: unknown, command: Command) => {
      const cfg = loadConfig(configPath);
      command.configureOutput().writeOut?.(stringify(maskedConfig(cfg), { lineWidth: 0 }));
    });
}

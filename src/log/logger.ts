/**
 * @module log/logger
 * The server's structured log (pino): one JSON object a line on stdout by default, a readable
 * coloured line (pino-pretty) when stdout is a terminal. The level comes from the config key
 * `log_level`, overridden by the env var `POTATO_LOG_LEVEL`, both checked against the same list.
 * Keys that could hold a secret are censored wherever they appear in a logged object.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError } from '../config/errors.js';
import { LOG_LEVELS } from '../config/schema.js';

export type { Logger } from 'pino';
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Paths pino censors: API keys, passwords, cookies, whatever an object calls them. */
const REDACT = [
  'password',
  'password_hash',
  'api_key',
  'apiKey',
  'authorization',
  'cookie',
  '*.password',
  '*.password_hash',
  '*.api_key',
  '*.apiKey',
  '*.authorization',
  '*.cookie',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** The level to use: POTATO_LOG_LEVEL when set (it must be one of LOG_LEVELS), else the config's. */
export function resolveLogLevel(configured: LogLevel, env: NodeJS.ProcessEnv = process.env): LogLevel {
  const raw = env.POTATO_LOG_LEVEL;
  if (raw === undefined || raw === '') return configured;
  const level = raw.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError([
      { text: `POTATO_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got "${raw}"`, path: 'POTATO_LOG_LEVEL' },
    ]);
  }
  return level as LogLevel;
}

export interface LoggerOptions {
  level: LogLevel;
  /** Readable lines instead of JSON (default: when stdout is a terminal). */
  pretty?: boolean;
  /** Where lines go (default stdout). */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = { level: opts.level, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } };
  const usePretty = opts.pretty ?? (!opts.destination && process.stdout.isTTY === true);
  if (usePretty) return pino(base, pretty({ colorize: true, destination: 1, sync: true }));
  return pino(base, opts.destination ?? pino.destination({ fd: 1, sync: true }));
}

/** A logger whose JSON lines go to a function (tests and embedders that collect lines). */
export function loggerTo(write: (line: string) => void, level: LogLevel = 'info'): Logger {
  return createLogger({ level, destination: { write: (line: string) => write(line.trimEnd()) } });
}

/** A logger that writes nothing: the default for engine parts built without one (tests). */
export const silentLogger: Logger = pino({ level: 'silent' });

/** An error as a log field: pino's `err` serialiser keeps type, message, stack and code. */
export function errField(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * @module cli/start
 * `potato start CONFIG [-p PORT]` serves the UI and API. With `--task`, it runs one session
 * headless instead: steps are printed as they happen, and Ctrl-C stops the agent cleanly with
 * everything saved (the session can be exported or reopened in the UI later).
 */
import type { Command } from 'commander';
import { loadConfigWithWarnings } from '../config/load.js';
import type { PotatoConfig } from '../config/types.js';
import { renderWarnings } from '../config/warnings.js';
import { ignored, PotatoError } from '../errors.js';
import { action } from '../session/checkpoint-message.js';
import type { SessionEvent } from '../session/events.js';
import { createSessionManager } from '../session/manager.js';
import { openStore } from '../store/open.js';
import { UsageError } from './errors.js';

interface StartOptions {
  port?: string;
  host?: string;
  task?: string;
}

export function register(program: Command): void {
  program
    .command('start')
    .argument('<config>', 'YAML config file')
    .option('-p, --port <port>', 'port to listen on (overrides `port` in the config)')
    .option('--host <host>', 'address to listen on (overrides `host` in the config)')
    .option('--task <text>', 'run one session headless on this task, printing steps, instead of serving the UI')
    .description('start the server with a YAML config (or run one headless session with --task)')
    .action(async (file: string, opts: StartOptions) => {
      const { config, warnings } = loadConfigWithWarnings(file);
      if (warnings.length > 0) process.stderr.write(renderWarnings(warnings, config.config_path));
      if (opts.port !== undefined) config.port = parsePort(opts.port);
      if (opts.host !== undefined) config.host = opts.host;
      if (opts.task !== undefined) await runHeadless(config, opts.task);
      else await serve(config);
    });
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`-p/--port: expected a port number from 1 to 65535, got "${text}"`);
  }
  return port;
}

async function serve(config: PotatoConfig): Promise<void> {
  const { startServer } = await import('../server/start.js');
  const server = await startServer(config);
  process.stdout.write(`Potato Live "${config.project_name}" on ${server.url} (Ctrl-C stops it)\n`);
  await server.closed;
}

async function runHeadless(config: PotatoConfig, task: string): Promise<void> {
  const store = await openStore(config);
  const manager = createSessionManager({ config, store });
  const annotator = config.annotators[0]!.username;
  const session = await manager.start({ task, annotator });
  process.stdout.write(`session ${session.id}: ${task}\n`);
  manager.subscribe(session.id, (e) => printEvent(e));
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping the agent; everything so far is saved…\n');
    void session.stop(annotator).catch(ignored('stopping the session after a signal'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await session.done;
  const final = (await store.getSession(session.id))!;
  process.stdout.write(
    `session ${final.id} ${final.status}: ${final.end_reason ?? ''}\nworkspace: ${final.workspace}\n`,
  );
  await manager.shutdown();
  await store.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  // main.ts maps this to exit code 1, after the summary above: a script can tell a failed session from a finished one.
  if (final.status === 'failed') throw new SessionFailedError(final.id, final.end_reason);
}

/** A headless session that ended as failed (backend unreachable, model error, …): exit code 1. */
export class SessionFailedError extends PotatoError<'session_failed'> {
  override readonly name = 'SessionFailedError';
  constructor(sessionId: string, reason: string | null) {
    super(`session ${sessionId} failed${reason ? `: ${reason}` : ''}`, 'session_failed');
  }
}

function printEvent(e: SessionEvent): void {
  if (e.type !== 'step') return;
  const { step } = e;
  const p = step.payload;
  let detail = '';
  if (p.type === 'thinking' || p.type === 'message') detail = ` ${p.content.replace(/\s+/g, ' ').slice(0, 160)}`;
  if (p.type === 'bash_command')
    detail = ` → exit ${p.exit_code ?? (p.refused ? 'refused' : '?')}${p.refused ? ` (${p.refused})` : ''}`;
  if (p.type === 'error') detail = ` ${p.message}`;
  const commit = step.changed_files && step.checkpoint ? ` [${step.checkpoint.slice(0, 7)}]` : '';
  process.stdout.write(`step ${step.step_idx}: ${action(p)}${detail}${commit}\n`);
}

/**
 * @module server/process-guard
 * The last line of defence, behind the fixes at each source: an error nobody caught (a rejected
 * promise, a throw in a timer) is logged with its stack instead of ending the process, so one
 * session's fault cannot cut every other session and viewer. The faults themselves are handled
 * where they happen (session/lifecycle, session/hub, session/manager); reaching this handler
 * is a bug to fix: its log line carries `uncaught: true`.
 */
import { errField, type Logger } from '../log/logger.js';

/** Install the handlers; returns a function that removes them. */
export function guardProcess(logger: Logger): () => void {
  const onRejection = (reason: unknown) => {
    logger.error({ err: errField(reason), uncaught: true }, 'unhandled promise rejection (the server goes on)');
  };
  const onException = (err: Error) => {
    logger.error({ err, uncaught: true }, 'uncaught exception (the server goes on)');
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}

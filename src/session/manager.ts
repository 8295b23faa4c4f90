/**
 * @module session/manager
 * The SessionManager: makes a session's parts (workspace copy, backend, sandbox, checkpoints),
 * runs its controller, and keeps the live ones. Each session works in its own copy of
 * `sandbox.workspace` under `<output.path>/workspaces/<id>`, so sessions never share files and
 * the user's own folder is never touched.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { CheckpointReaders } from '../checkpoints/readers.js';
import type { CheckpointStore } from '../checkpoints/types.js';
import { ConfigError } from '../config/errors.js';
import type { PotatoConfig } from '../config/types.js';
import { sessionWorkspace, WORKSPACE_KEY, workspaceProblem } from '../config/workspace.js';
import { createSessionDriver, defaultEngineParts, type EngineParts, modelSettings } from '../engine.js';
import { errorCode, ignored, PotatoError } from '../errors.js';
import { maskSecrets } from '../export/provenance.js';
import { ExportSync, observeStore } from '../export/sync.js';
import { exportOptionsOf } from '../export/types.js';
import { errField, type Logger, silentLogger } from '../log/logger.js';
import { withLimitHint } from '../process/limits.js';
import type { Sandbox } from '../sandbox/types.js';
import { branchName } from '../store/tree.js';
import type { BranchRecord, SessionRecord, Store } from '../store/types.js';
import { annotationOps } from './annotations.js';
import { initialStateMessage } from './checkpoint-message.js';
import { EventHub } from './hub.js';
import { leaseTimingsOf, SessionLeases } from './lease.js';
import { SessionLifecycle } from './lifecycle.js';
import { SessionRecorder } from './recorder.js';
import { ControlError, type EventListener, type SessionManager } from './types.js';

export interface ManagerOptions {
  config: PotatoConfig;
  store: Store;
  parts?: EngineParts;
  /** Called after a session's loop ends (the server exports it). */
  onSessionEnded?: (session: SessionRecord) => Promise<void> | void;
  /** Session starts, ends, failures and faults (default: nowhere). */
  logger?: Logger;
  /** This process's id in session leases (default: a new one). */
  ownerId?: string;
}

/** How long an ended session's sandbox and checkpoint store stay open (see releaseWhenIdle). */
const RELEASE_IDLE_MS = 10 * 60_000;

export interface EngineSessionManager extends SessionManager {
  readonly hub: EventHub;
  /**
   * The store to give everything else that writes sessions (the server's routes): with
   * `output.export_formats` set, every change to an ended session re-exports it.
   */
  readonly store: Store;
  /** The export kept in step with the store, when formats are configured. */
  readonly exports: ExportSync | null;
  readonly leases: SessionLeases;
}

export function createSessionManager(opts: ManagerOptions): EngineSessionManager {
  const { config } = opts;
  const parts = opts.parts ?? defaultEngineParts();
  // Export after every change, not only at the end: labels and answers come after a session ends.
  const logger = opts.logger ?? silentLogger;
  let reportExportError = (message: string, sessionId: string | null) => logger.error({ session: sessionId }, message);
  const exports =
    config.output.export_formats.length === 0
      ? null
      : new ExportSync({
          store: opts.store,
          outputDir: config.output.path,
          formats: config.output.export_formats,
          options: exportOptionsOf(config),
          cardConfig: config,
          onError: (sessionId, err) => {
            reportExportError(`export failed: ${err instanceof Error ? err.message : String(err)}`, sessionId);
          },
        });
  const store = exports ? observeStore(opts.store, (id) => exports.markDirty(id)) : opts.store;
  const hub = new EventHub(store, undefined, logger);
  const leases = new SessionLeases(store, {
    ...leaseTimingsOf(config),
    owner: opts.ownerId,
    logger,
    onLost: (sessionId, holder) => {
      const entry = live.get(sessionId);
      if (!entry) return;
      live.delete(sessionId);
      void entry.controller
        .abandon(`server process ${holder.owner} took this session over; this one stopped running it`)
        .then(() => entry.sandbox.close())
        .catch(ignored(`letting go of session ${sessionId}, which another process took over`));
    },
  });
  // Through the same hub as the agent's events: one path from a change to the viewers.
  const annotations = annotationOps({ store, hub, schemes: config.annotation_schemes });
  const readers = new CheckpointReaders((workspace) => parts.readCheckpoints(config, workspace));
  reportExportError = (message, sessionId) => {
    logger.error({ session: sessionId }, message);
    if (!sessionId) return;
    void opts.store
      .getSession(sessionId)
      .then((session) =>
        session ? hub.emit(session.id, { type: 'status', status: session.status, activity: 'idle', message }) : null,
      )
      .catch((err: unknown) => {
        // The same full disk refuses the note too: the log has it, and the next change re-exports.
        logger.error({ session: sessionId, err: errField(err) }, 'could not record the export failure');
      });
  };
  // Old sessions' exports are repaired in the background; a new session starts after that.
  const reconciled = exports
    ? exports
        .reconcile()
        .then(() => undefined)
        .catch((err: unknown) => logger.error({ err: errField(err) }, 'could not reconcile the exports at start'))
    : Promise.resolve();
  const live = new Map<
    string,
    { controller: SessionLifecycle; sandbox: Sandbox; checkpoints: CheckpointStore | null }
  >();

  /** The session's shards are current when its end is announced (the change marked it already). */
  async function exportEnded(session: SessionRecord): Promise<void> {
    exports?.markDirty(session.id);
    await exports?.flushDirty();
  }

  /**
   * An ended session keeps its sandbox and checkpoint store (file watchers, a git process) for a
   * while, so an annotator who rolls it back right away pays nothing; then they are released, and
   * a later rollback rebuilds them from the store (reopen).
   */
  function releaseWhenIdle(sessionId: string): void {
    const entry = live.get(sessionId);
    if (!entry) return;
    const release = async () => {
      const now = live.get(sessionId);
      if (now !== entry || ['running', 'paused'].includes(entry.controller.status())) return;
      live.delete(sessionId);
      await leases.release(sessionId);
      await entry.checkpoints?.close().catch(ignored(`closing the checkpoints of ended session ${sessionId}`));
      await entry.sandbox.close().catch(ignored(`closing the sandbox of ended session ${sessionId}`));
    };
    // A container is removed as soon as its session ends.
    const releaseLogged = () => release().catch(ignored(`releasing ended session ${sessionId}`));
    if (entry.sandbox.type === 'docker') return void releaseLogged();
    setTimeout(releaseLogged, RELEASE_IDLE_MS).unref();
  }

  /** Controllers whose backend failed its preflight: they are not started. */
  const preflightFailed = new WeakSet<SessionLifecycle>();

  async function launch(
    session: SessionRecord,
    branch: BranchRecord,
    sandbox: Sandbox,
    checkpoints: CheckpointStore | null,
    startLoop = true,
  ) {
    const onEnded = async (ended: SessionRecord) => {
      const fields = { session: ended.id, status: ended.status, end_reason: ended.end_reason };
      if (ended.status === 'failed') logger.error(fields, 'session failed');
      else logger.info(fields, 'session ended');
      await exportEnded(ended);
      releaseWhenIdle(ended.id);
      await opts.onSessionEnded?.(ended);
    };
    const recorder = await SessionRecorder.open({ config, store, hub, session, branch, beforeEndShown: exportEnded });
    // The engine picks the driver: model turns we run, or a backend that runs its own loop.
    const driver = createSessionDriver(parts, { config, store, hub, sandbox, checkpoints, session });
    const controller = new SessionLifecycle({ config, recorder, sandbox, checkpoints, onEnded, logger }, driver);
    live.set(session.id, { controller, sandbox, checkpoints });
    try {
      // The driver's preflight: the backend answers (and a self-driven one can run in its sandbox).
      await controller.check();
    } catch (err) {
      // The session exists and says why it could not start; nothing silently falls back.
      logger.error({ session: session.id, err: errField(err) }, 'session could not start: backend check failed');
      await controller.failToStart(err instanceof Error ? err.message : String(err));
      preflightFailed.add(controller);
      await exportEnded(await recorder.session());
      releaseWhenIdle(session.id);
      return controller;
    }
    if (startLoop) await controller.start();
    logger.info({ session: session.id, annotator: session.annotator, backend: session.backend }, 'session started');
    return controller;
  }

  /**
   * Rebuild an ended session's parts from the store (after a restart, or to roll back a finished
   * one): the workspace goes back to the last checkpoint of the current branch, so whatever a
   * killed process left half-done is dropped.
   */
  async function revive(sessionId: string, startLoop: boolean): Promise<SessionLifecycle> {
    const session = await store.getSession(sessionId);
    if (!session) throw new ControlError(`no session ${sessionId}`, 'not_found');
    // Before anything else: a session another live process runs is refused naming that process.
    await leases.acquire(sessionId);
    if (!['interrupted', 'stopped', 'failed', 'finished'].includes(session.status)) {
      if (!live.has(sessionId)) await leases.release(sessionId);
      throw new ControlError(`cannot continue a session that is ${session.status}`, 'invalid_state');
    }
    // Another replica's session continues here only when its workspace is here too (a shared
    // output folder): otherwise say so, rather than run the agent in an empty folder.
    if (!existsSync(session.workspace)) {
      if (!live.has(sessionId)) await leases.release(sessionId);
      throw new ControlError(
        `the workspace of session ${sessionId} (${session.workspace}) is not reachable from this server: continue it on the server whose output folder holds it, or share output.path between the replicas (docs/deploy.md)`,
        'invalid_state',
      );
    }
    const branches = await store.listBranches(sessionId);
    const branch = branches.find((b) => b.id === session.current_branch_id);
    if (!branch) throw new ControlError(`session ${sessionId} has no current branch`, 'invalid_state');
    const old = live.get(sessionId);
    if (old) {
      live.delete(sessionId);
      await old.checkpoints?.close().catch(ignored(`closing the old checkpoints of reopened session ${sessionId}`));
      await old.sandbox.close().catch(ignored(`closing the old sandbox of reopened session ${sessionId}`));
    }
    const sandbox = parts.createSandbox(config, sessionId, session.workspace);
    const checkpoints = config.live_coding_agent.checkpoints.enabled
      ? parts.createCheckpoints(config, session.workspace)
      : null;
    await sandbox.start();
    if (checkpoints) {
      const head = branch.head_step_id ? await store.getStep(branch.head_step_id) : null;
      const commit = head?.checkpoint ?? session.base_commit;
      // The session store's heads are the truth: refs a crash left elsewhere are put back.
      const heads: Record<string, string> = {};
      for (const b of branches) {
        const at = b.head_step_id ?? b.fork_step_id;
        const h = at ? (await store.getStep(at))?.checkpoint : session.base_commit;
        if (h) heads[b.git_ref] = h;
      }
      await checkpoints.open(sessionId, branch.git_ref, heads);
      if (commit) await checkpoints.reset(commit);
      await sandbox.afterRestore?.();
    }
    return launch(session, branch, sandbox, checkpoints, startLoop);
  }

  return {
    hub,
    store,
    exports,
    leases,
    ...annotations,

    async start({ task, annotator }) {
      const text = task.trim();
      if (!text) throw new ControlError('a task is needed to start the agent', 'bad_request');
      const id = newSessionId();
      const workspace = sessionWorkspace(config.output.path, id);
      const agent = config.live_coding_agent;
      let sandbox: Sandbox | null = null;
      let checkpoints: CheckpointStore | null = null;
      const backendName = agent.backend;
      const now = Date.now();
      await reconciled;
      await store.createSession({
        id,
        task: text,
        annotator,
        backend: backendName,
        backend_settings: recordedSettings(config, parts),
        status: 'created',
        end_reason: null,
        workspace,
        base_commit: null,
        current_branch_id: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      });
      // Status `created` is not swept as running, so taking the lease right after the row is enough.
      await leases.acquire(id);
      const firstBranch = branchName(0, agent.branching.auto_name_branches);
      let baseCommit: string | null = null;
      try {
        // Inside the try: a workspace that went missing since the config was loaded fails this session, saying so.
        // So are making the sandbox and the checkpoint store, which create folders in output.path.
        sandbox = parts.createSandbox(config, id, workspace);
        checkpoints = agent.checkpoints.enabled ? parts.createCheckpoints(config, workspace) : null;
        await copyWorkspace(config.live_coding_agent.sandbox.workspace, workspace);
        await sandbox.start();
        if (checkpoints) {
          const init = await checkpoints.init(
            id,
            firstBranch,
            initialStateMessage(agent.checkpoints.commit_message_prefix),
          );
          baseCommit = init.baseCommit;
        }
      } catch (err) {
        const message = withLimitHint(err instanceof Error ? err.message : String(err), err);
        logger.error({ session: id, err: errField(err) }, `session could not start: ${message}`);
        const failed = await store.updateSession(id, { status: 'failed', end_reason: message });
        await hub.emit(id, { type: 'session', session: failed });
        await leases.release(id);
        // The start failure is thrown below; a failing cleanup after it is only logged.
        await sandbox?.close().catch(ignored(`closing the sandbox of session ${id}, which could not start`));
        throw Object.assign(
          new PotatoError(`the session could not start: ${message}`, errorCode(err), { cause: err }),
          {
            session: failed,
          },
        );
      }
      const branch: BranchRecord = {
        id: `br_${randomBytes(8).toString('hex')}`,
        session_id: id,
        name: firstBranch,
        fork_step_id: null,
        parent_branch_id: null,
        reason: null,
        head_step_id: null,
        git_ref: firstBranch,
        created_at: now,
      };
      const ready = await store.transaction(async (tx) => {
        await tx.insertBranch(branch);
        return tx.updateSession(id, { base_commit: baseCommit, current_branch_id: branch.id });
      });
      await hub.emit(id, { type: 'session', session: ready });
      await hub.emit(id, { type: 'branch', branch });
      return launch(ready, branch, sandbox, checkpoints);
    },

    get(sessionId) {
      return live.get(sessionId)?.controller;
    },

    async resumeSession(sessionId, annotator, instruction) {
      const running = live.get(sessionId)?.controller;
      if (running && ['running', 'paused'].includes(running.status())) {
        throw new ControlError('the session is already running', 'invalid_state');
      }
      const before = (await store.getSession(sessionId))?.status;
      const controller = await revive(sessionId, false);
      await controller.noteResume(`continued after the session was ${before}`, annotator);
      if (preflightFailed.has(controller)) return controller;
      await controller.start(instruction?.trim() ? { text: instruction, annotator } : undefined);
      return controller;
    },

    async reopen(sessionId) {
      return live.get(sessionId)?.controller ?? revive(sessionId, false);
    },

    checkpoints(session) {
      return readers.get(session.workspace);
    },

    subscribe(sessionId: string, listener: EventListener) {
      return hub.subscribe(sessionId, listener);
    },

    async shutdown(reason = 'the server shut down') {
      const ending: Promise<void>[] = [];
      for (const { controller } of live.values()) {
        if (['running', 'paused'].includes(controller.status())) {
          ending.push(
            controller
              .shutdown(reason)
              .catch((err: unknown) => logger.error({ session: controller.id, err: errField(err) }, 'shutdown')),
          );
        }
      }
      await Promise.all(ending);
      for (const { sandbox, checkpoints } of live.values()) {
        await checkpoints?.close().catch(ignored('closing checkpoints at shutdown'));
        await sandbox.close().catch(ignored('closing a sandbox at shutdown'));
      }
      live.clear();
      await readers.close();
      await leases.close();
      // Streamed text still being coalesced is written now: the caller closes the store next.
      await hub.flush();
      await exports?.flush();
    },
  };
}

function newSessionId(): string {
  const d = new Date();
  const day = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
  return `session_${day}_${randomBytes(4).toString('hex')}`;
}

async function copyWorkspace(from: string, to: string): Promise<void> {
  // Checked again here: the folder may have gone since the config was loaded.
  const wrong = workspaceProblem(from);
  if (wrong) throw new ConfigError([{ text: `${WORKSPACE_KEY}: ${wrong}`, path: WORKSPACE_KEY }]);
  await mkdir(to, { recursive: true });
  await cp(from, to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
}

/**
 * What is stored with the session about the model: the backend section (names of env vars are
 * kept, values never read; anything secret-looking masked), and for backends whose loop we run,
 * the system prompt and the tools the model was given (exports carry both).
 */
function recordedSettings(config: PotatoConfig, parts: EngineParts): Record<string, unknown> {
  const settings = maskSecrets(publicSettings(config)) as Record<string, unknown>;
  const model = modelSettings(parts, config);
  if (!model) return settings;
  return {
    ...settings,
    system_prompt: typeof settings.system_prompt === 'string' ? settings.system_prompt : model.system_prompt,
    tools: model.tools,
  };
}

/** The backend section as stored with the session: names of env vars are kept, values never read. */
function publicSettings(config: PotatoConfig): Record<string, unknown> {
  const agent = config.live_coding_agent;
  const section = (agent as Record<string, unknown>)[agent.backend];
  return section && typeof section === 'object' ? { ...(section as Record<string, unknown>) } : {};
}

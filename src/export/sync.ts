/**
 * @module export/sync
 * Keeps `output/` equal to the store. Each ended session has one shard per format,
 * `<output>/<format>/<session>.jsonl`, rewritten whole (temporary file, fsync, rename) whenever
 * anything that shows in an export changes: the session ending, a label, an answer, a rollback,
 * an instruction. A crash at any point leaves the previous complete shard; a session's lines are
 * never duplicated because they only ever live in its own shard. `<output>/<format>.jsonl`, the
 * merged file, is the shards concatenated in session order, rebuilt (also atomically) shortly
 * after the last change, so a burst of labels costs one merge.
 *
 * The store is observed rather than called from every place that writes it: `observeStore`
 * wraps it, and any write for a session marks that session; the marks are handled once the
 * current synchronous work (and so its transaction) is over.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { SessionRecord, Store } from '../store/types.js';
import { writeCard } from './card.js';
import { sessionLinesByFormat } from './index.js';
import { AtomicJsonlWriter } from './jsonl.js';
import type { ExportFormat, ExportOptions } from './types.js';

/** Statuses whose sessions are exported: a running one is exported when it ends. */
export const EXPORTED_STATUSES: readonly SessionRecord['status'][] = ['finished', 'stopped', 'failed', 'interrupted'];

export interface ExportSyncOptions {
  store: Store;
  outputDir: string;
  formats: readonly ExportFormat[];
  options?: ExportOptions;
  /** How long after the last change the merged files are rebuilt (default 250 ms). */
  mergeDelayMs?: number;
  /** The config as the dataset card shows it (secrets already masked). */
  cardConfig?: unknown;
  onError?: (sessionId: string | null, err: unknown) => void;
}

const STATE_DIR = '.export-state';

export class ExportSync {
  private readonly dirty = new Set<string>();
  private flushQueued = false;
  private mergeTimer: NodeJS.Timeout | null = null;
  private readonly opts: Required<Omit<ExportSyncOptions, 'cardConfig' | 'onError'>> &
    Pick<ExportSyncOptions, 'cardConfig' | 'onError'>;

  constructor(opts: ExportSyncOptions) {
    this.opts = { options: {}, mergeDelayMs: 250, ...opts };
    // Trajectories are one line per branch in the per-session files.
    this.opts.options = { flattenBranches: true, ...this.opts.options };
  }

  shardPath(format: ExportFormat, sessionId: string): string {
    return path.join(this.opts.outputDir, format, `${sessionId}.jsonl`);
  }

  mergedPath(format: ExportFormat): string {
    return path.join(this.opts.outputDir, `${format}.jsonl`);
  }

  /** Note that a session changed; its shards are rewritten once the current synchronous work is done. */
  markDirty(sessionId: string): void {
    this.dirty.add(sessionId);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => void this.flushDirty());
  }

  /**
   * Rewrite the shards of every session marked since the last flush. Flushes run one at a time,
   * so two never write the same shard at once; a failure goes to onError, never to the caller.
   */
  flushDirty(): Promise<void> {
    this.flushQueued = false;
    const ids = [...this.dirty];
    this.dirty.clear();
    const run = async () => {
      let changed = false;
      for (const id of ids) {
        try {
          changed = (await this.refresh(id)) || changed;
        } catch (err) {
          this.opts.onError?.(id, err);
        }
      }
      if (changed) this.scheduleMerge();
    };
    this.flushing = this.flushing.then(run, run);
    return this.flushing;
  }

  private flushing: Promise<void> = Promise.resolve();

  /**
   * Rewrite one session's shard in every format from the store, atomically; a format in which
   * the session has no line has no shard. Returns false (and writes nothing) for a session that
   * is not exported yet (still running) or not in the store.
   */
  async refresh(sessionId: string): Promise<boolean> {
    const { store, formats, options, outputDir } = this.opts;
    const session = await store.getSession(sessionId);
    if (!session || !EXPORTED_STATUSES.includes(session.status)) return false;
    const byFormat = await sessionLinesByFormat(store, sessionId, formats, options, session);
    for (const format of formats) {
      const lines = byFormat.get(format) ?? [];
      const file = this.shardPath(format, sessionId);
      if (lines.length === 0) {
        fs.rmSync(file, { force: true });
        this.written.delete(file);
        continue;
      }
      // A label changes a few formats' lines: a shard whose text this process wrote already stays.
      const digest = createHash('sha1');
      for (const line of lines) digest.update(line).update('\n');
      const sum = digest.digest('base64');
      if (this.written.get(file) === sum && fs.existsSync(file)) continue;
      this.ensureDir(path.dirname(file));
      // Not fsynced: a shard is rewritten on every label, and the store itself (WAL, synchronous
      // NORMAL) keeps no more than this across a power loss; reconcile() repairs at start.
      const writer = new AtomicJsonlWriter(file, false);
      try {
        for (const line of lines) writer.write(line);
        writer.commit();
        this.written.set(file, sum);
      } catch (err) {
        writer.abort();
        throw err;
      }
    }
    // When it was last written: a restart compares this with the store (reconcile).
    const mark = path.join(outputDir, STATE_DIR, sessionId);
    this.ensureDir(path.dirname(mark));
    fs.writeFileSync(mark, '');
    return true;
  }

  private readonly dirs = new Set<string>();
  /** Digest of the text last written to each shard by this process. */
  private readonly written = new Map<string, string>();
  private ensureDir(dir: string): void {
    if (this.dirs.has(dir)) return;
    fs.mkdirSync(dir, { recursive: true });
    this.dirs.add(dir);
  }

  private scheduleMerge(): void {
    if (this.mergeTimer) clearTimeout(this.mergeTimer);
    this.mergeTimer = setTimeout(() => {
      this.mergeTimer = null;
      void this.mergeSoon();
    }, this.opts.mergeDelayMs);
    this.mergeTimer.unref();
  }

  private merging: Promise<void> | null = null;
  private mergeAgain = false;

  /** Merge now, or right after the merge under way (which may have read a shard that changed since). */
  private mergeSoon(): Promise<void> {
    if (this.merging !== null) {
      this.mergeAgain = true;
      return this.merging;
    }
    this.merging = (async () => {
      do {
        this.mergeAgain = false;
        try {
          await this.merge();
        } catch (err) {
          this.opts.onError?.(null, err);
        }
      } while (this.mergeAgain);
    })().finally(() => {
      this.merging = null;
    });
    return this.merging;
  }

  /**
   * Rebuild every merged file from the shards, in session order, and the dataset card. Reads and
   * writes are asynchronous: on a large project this takes seconds, and the server keeps serving.
   */
  async merge(): Promise<Record<string, number>> {
    const { store, formats, outputDir } = this.opts;
    const sessions = await store.listSessions();
    const counts: Record<string, number> = {};
    await fs.promises.mkdir(outputDir, { recursive: true });
    for (const format of formats) {
      const file = this.mergedPath(format);
      const tmp = `${file}.tmp-${process.pid}`;
      const out = await fs.promises.open(tmp, 'w');
      let lines = 0;
      try {
        for (const s of sessions) {
          let text: Buffer;
          try {
            text = await fs.promises.readFile(this.shardPath(format, s.id));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
            throw err;
          }
          for (let i = text.indexOf(0x0a); i !== -1; i = text.indexOf(0x0a, i + 1)) lines++;
          await out.write(text);
        }
        await out.sync();
        await out.close();
        await fs.promises.rename(tmp, file);
      } catch (err) {
        // Closing after a failed write: the write's error, rethrown below, is the one to report.
        await out.close().catch(() => {});
        await fs.promises.rm(tmp, { force: true });
        throw err;
      }
      counts[format] = lines;
    }
    writeCard(outputDir, {
      files: formats.map((f) => ({ format: f, file: `${f}.jsonl`, lines: counts[f] ?? 0, shards: `${f}/*.jsonl` })),
      sessions: sessions.filter((s) => EXPORTED_STATUSES.includes(s.status)).length,
      options: this.opts.options,
      config: this.opts.cardConfig,
    });
    return counts;
  }

  /** Handle every pending change and rebuild the merged files now (shutdown, tests). */
  async flush(): Promise<void> {
    await this.flushDirty();
    if (this.mergeTimer) clearTimeout(this.mergeTimer);
    this.mergeTimer = null;
    await this.mergeSoon();
  }

  /**
   * After a restart: re-export every exported session that changed after its shards were last
   * written (or never was), e.g. one the server marked interrupted, or a label stored just
   * before a crash. Returns how many sessions were re-exported.
   */
  async reconcile(): Promise<number> {
    const { store, outputDir } = this.opts;
    let n = 0;
    for (const s of await store.listSessions()) {
      if (!EXPORTED_STATUSES.includes(s.status)) continue;
      let written = -1;
      try {
        written = fs.statSync(path.join(outputDir, STATE_DIR, s.id)).mtimeMs;
      } catch {
        // Never exported (no state file): -1 makes it export now.
      }
      const changed = Math.max(
        s.updated_at,
        ...(await store.listStepLabels(s.id)).map((l) => l.updated_at),
        ...(await store.listAnnotations(s.id)).map((a) => a.updated_at),
      );
      // An empty shard is what a kernel crash can leave of a file renamed before its data reached the disk.
      const torn = this.opts.formats.some((f) => {
        try {
          return fs.statSync(this.shardPath(f, s.id)).size === 0;
        } catch {
          // No shard yet: nothing torn; a missing export is caught by the state file's time.
          return false;
        }
      });
      if (written >= changed && !torn) continue;
      try {
        if (await this.refresh(s.id)) n++;
      } catch (err) {
        this.opts.onError?.(s.id, err);
      }
    }
    if (n > 0) this.scheduleMerge();
    return n;
  }
}

/**
 * The store, with every write that can change a session's export reported to `onChange` (the
 * session id). Reads and the event log pass straight through.
 */
export function observeStore(store: Store, onChange: (sessionId: string) => void): Store {
  const branchSession = new Map<string, string>();
  const observe = (inner: Store, onChange: (sessionId: string) => void): Store => {
    const observed: Store = Object.create(inner);
    Object.assign(observed, {
      createSession: async (s: Parameters<Store['createSession']>[0]) => {
        const r = await inner.createSession(s);
        onChange(s.id);
        return r;
      },
      updateSession: async (id: string, patch: Parameters<Store['updateSession']>[1]) => {
        const r = await inner.updateSession(id, patch);
        onChange(id);
        return r;
      },
      insertStep: async (step: Parameters<Store['insertStep']>[0]) => {
        await inner.insertStep(step);
        onChange(step.session_id);
      },
      insertBranch: async (b: Parameters<Store['insertBranch']>[0]) => {
        await inner.insertBranch(b);
        branchSession.set(b.id, b.session_id);
        onChange(b.session_id);
      },
      updateBranch: async (id: string, patch: Parameters<Store['updateBranch']>[1]) => {
        await inner.updateBranch(id, patch);
        const sessionId = branchSession.get(id) ?? (await inner.getBranch(id))?.session_id;
        if (sessionId) onChange(sessionId);
      },
      insertIntervention: async (i: Parameters<Store['insertIntervention']>[0]) => {
        await inner.insertIntervention(i);
        onChange(i.session_id);
      },
      upsertAnnotation: async (a: Parameters<Store['upsertAnnotation']>[0]) => {
        await inner.upsertAnnotation(a);
        onChange(a.session_id);
      },
      upsertStepLabel: async (l: Parameters<Store['upsertStepLabel']>[0]) => {
        await inner.upsertStepLabel(l);
        onChange(l.session_id);
      },
      restoreSession: async (r: Parameters<Store['restoreSession']>[0]) => {
        await inner.restoreSession(r);
        for (const b of r.branches) branchSession.set(b.id, b.session_id);
        onChange(r.session.id);
      },
      deleteStepLabel: async (sessionId: string, stepId: string, annotator: string) => {
        await inner.deleteStepLabel(sessionId, stepId, annotator);
        onChange(sessionId);
      },
      // Writes inside a transaction are reported once it has committed: on a store with several
      // connections (PostgreSQL) an export read at once would not see them yet, and nothing
      // would report them again. A try that is run again starts its list afresh.
      transaction: async <T>(fn: (tx: Store) => Promise<T>) => {
        let changed = new Set<string>();
        const value = await inner.transaction((tx) => {
          changed = new Set();
          return fn(observe(tx, (id) => changed.add(id)));
        });
        for (const id of changed) onChange(id);
        return value;
      },
    } satisfies Partial<Store>);
    return observed;
  };
  return observe(store, onChange);
}

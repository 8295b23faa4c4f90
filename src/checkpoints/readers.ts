/**
 * @module checkpoints/readers
 * The open CheckpointReaders, one per session workspace, shared by every request that reads
 * it. A reader may hold a `git cat-file` for packed objects: it is kept while it is used and
 * closed after `idleMs` without a read, and at most `max` stay open (the least recently used
 * goes first).
 */
import { ignored } from '../errors.js';
import type { CheckpointReader } from './types.js';

export class CheckpointReaders {
  private readonly open = new Map<string, { reader: CheckpointReader; timer: NodeJS.Timeout }>();

  constructor(
    private readonly make: (workspace: string) => CheckpointReader,
    private readonly idleMs = 60_000,
    private readonly max = 16,
  ) {}

  /** The reader of the checkpoints of `workspace`, opened if needed. */
  get(workspace: string): CheckpointReader {
    const had = this.open.get(workspace);
    if (had) clearTimeout(had.timer);
    const reader = had?.reader ?? this.make(workspace);
    // Re-inserted: the map's order is the order of last use.
    this.open.delete(workspace);
    const timer = setTimeout(() => void this.drop(workspace), this.idleMs);
    timer.unref();
    this.open.set(workspace, { reader, timer });
    for (const oldest of this.open.keys()) {
      if (this.open.size <= this.max) break;
      // drop() reports a failed close itself.
      void this.drop(oldest);
    }
    return reader;
  }

  /** Close every reader (shutdown). */
  async close(): Promise<void> {
    const all = [...this.open.keys()];
    await Promise.all(all.map((k) => this.drop(k)));
  }

  private drop(workspace: string): Promise<void> {
    const entry = this.open.get(workspace);
    if (!entry) return Promise.resolve();
    this.open.delete(workspace);
    clearTimeout(entry.timer);
    // A read still under way finishes: closing ends the reader's input, not its answers.
    return entry.reader.close().catch(ignored(`closing the checkpoint reader of ${workspace}`));
  }
}

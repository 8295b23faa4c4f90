/**
 * @module export/jsonl
 * Crash-safe JSONL files: every file (a whole export, a session's shard, a merged file) is
 * written to a temporary file, fsynced and renamed into place, so a reader or a crash only ever
 * sees the previous complete version or the new one.
 */
import fs from 'node:fs';

/**
 * Writes lines to `<file>.tmp-<pid>` in large chunks and renames it over `file` on commit: a
 * reader never sees half an export, and memory stays at one chunk.
 */
export class AtomicJsonlWriter {
  private readonly tmp: string;
  private readonly fd: number;
  private buf: string[] = [];
  private bufLen = 0;
  lines = 0;

  constructor(
    readonly file: string,
    /**
     * fsync before the rename, so even a power loss leaves the old or the new file whole. Without
     * it a crashed process still leaves one of the two (the rename is atomic); only the kernel's
     * own crash could leave an empty file, which ExportSync.reconcile rewrites at the next start.
     */
    private readonly durable = true,
    private readonly chunkChars = 1 << 20,
  ) {
    this.tmp = `${file}.tmp-${process.pid}`;
    this.fd = fs.openSync(this.tmp, 'w');
  }

  write(line: string): void {
    this.buf.push(line, '\n');
    this.bufLen += line.length + 1;
    this.lines++;
    if (this.bufLen >= this.chunkChars) this.flush();
  }

  /** Whole lines already joined, each ending in a newline (a shard being merged). */
  writeText(text: string): void {
    if (text.length === 0) return;
    let n = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
    this.buf.push(text.endsWith('\n') ? text : `${text}\n`);
    this.bufLen += text.length;
    this.lines += text.endsWith('\n') ? n : n + 1;
    if (this.bufLen >= this.chunkChars) this.flush();
  }

  private flush(): void {
    if (this.bufLen === 0) return;
    fs.writeSync(this.fd, this.buf.join(''));
    this.buf = [];
    this.bufLen = 0;
  }

  commit(): void {
    this.flush();
    if (this.durable) fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    fs.renameSync(this.tmp, this.file);
  }

  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // A failed write may have closed it already: the temp file is removed next either way.
    }
    fs.rmSync(this.tmp, { force: true });
  }
}

/**
 * Read a JSONL file, tolerating a torn last line (no trailing newline, not valid JSON): it is
 * skipped, as a writer that crashed mid-line would leave it. Any other bad line is an error.
 */
export function* readJsonl(file: string): Generator<unknown> {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line);
    } catch (err) {
      throw new Error(`${file}:${i + 1}: not a JSON line`, { cause: err });
    }
  }
  if (last.trim() !== '') {
    try {
      yield JSON.parse(last);
    } catch {
      // a torn tail from an interrupted append
    }
  }
}

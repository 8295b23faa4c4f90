/**
 * @module export/jsonl
 * Crash-safe JSONL files. A whole export goes to a temporary file renamed into place; a
 * per-session append is one write of all that session's lines followed by fsync, after
 * cutting off any torn last line an earlier crash (power loss) may have left.
 */
import fs from 'node:fs';

/** Truncate a file back to its last newline, so the next append starts on a fresh line. */
export function repairTail(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return;
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = fs.readSync(fd, chunk, 0, end - start, start);
      const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (nl !== -1) {
        const keep = start + nl + 1;
        if (keep !== size) fs.ftruncateSync(fd, keep);
        return;
      }
      end = start;
    }
    fs.ftruncateSync(fd, 0);
  } finally {
    fs.closeSync(fd);
  }
}

/** Append text (whole lines, ending in a newline) with one write and fsync it. */
export function appendDurably(file: string, text: string): void {
  repairTail(file);
  const fd = fs.openSync(file, 'a');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

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

  private flush(): void {
    if (this.bufLen === 0) return;
    fs.writeSync(this.fd, this.buf.join(''));
    this.buf = [];
    this.bufLen = 0;
  }

  commit(): void {
    this.flush();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    fs.renameSync(this.tmp, this.file);
  }

  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {}
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
    } catch {
      throw new Error(`${file}:${i + 1}: not a JSON line`);
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

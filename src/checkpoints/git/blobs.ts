/**
 * @module checkpoints/git/blobs
 * Blobs of any size, streamed: time O(size), memory bounded, and no long piece of work on the
 * event loop (a checkpoint or rollback of a 1 GB file must not freeze the server).
 *
 * Writing a file as a loose object is one pass over it: each 1 MB slice is hashed here (SHA-1,
 * well under a millisecond) and deflated on zlib's thread pool into a temp object, renamed to
 * its name once the hash is known. A file whose samples do not compress (media, archives,
 * weights) is written in deflate's stored blocks: level 1 crawls through random bytes at
 * ~60 MB/s and gains nothing, stored blocks run at disk speed. Git reads both alike.
 *
 * Restoring writes a temp file (in the object directory, or beside the destination) and renames
 * it over the destination, so a file holds either its old or its new bytes, also when the
 * restore is cancelled half-way. A loose object
 * is inflated stream-wise (and its id checked); a packed one is written by `git cat-file blob`
 * with its stdout opened on the temp file, so its bytes never pass through the server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, constants as fsConstants, openSync, readSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createDeflate, createInflate, deflateSync, inflateSync } from 'node:zlib';
import { PotatoError } from '../../errors.js';

/** Below this size a blob is handled in memory: a stream's setup costs more than it saves. */
export const STREAM_MIN_BYTES = 1 << 20;
const SLICE = 1 << 20;
const SAMPLE = 16 << 10;
const SAMPLES = 8;
/** A sample whose sample deflates to more than this share of its size is stored, not compressed. */
const INCOMPRESSIBLE = 0.9;
const ATTEMPTS = 3;

/**
 * How a workspace file is opened for reading: a symlink swapped in since the lstat is not
 * followed out of the workspace, and a FIFO swapped in does not block the open (it then fails
 * the regular-file check).
 */
export const SAFE_READ = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

export class BlobError extends PotatoError<'checkpoint_failed'> {
  override name = 'BlobError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'checkpoint_failed', options);
  }
}

/** The type and size of a loose object, from its first compressed bytes; null when it is not loose. */
export function looseHeader(file: string): { type: string; size: number } | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const head = Buffer.alloc(1024);
    const n = readSync(fd, head, 0, head.length, 0);
    // A prefix of the stream: sync-flush inflates what is there instead of failing on the end.
    const out = inflateSync(head.subarray(0, n), { finishFlush: constants.Z_SYNC_FLUSH });
    const header = parseHeader(out, file);
    return { type: header.type, size: header.size };
  } finally {
    closeSync(fd);
  }
}

function parseHeader(buf: Buffer, what: string): { type: string; size: number; length: number } {
  const nul = buf.indexOf(0);
  const m = nul > 0 ? /^(blob|tree|commit|tag) (\d+)$/.exec(buf.subarray(0, nul).toString('latin1')) : null;
  if (!m) throw new BlobError(`${what} is not a git object (no "<type> <size>" header).`);
  return { type: m[1]!, size: Number(m[2]), length: nul + 1 };
}

/** Write with backpressure; rejects when the stream is destroyed meanwhile (a failed pipeline). */
function write(stream: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.destroyed) return reject(stream.errored ?? new BlobError('the object stream was closed.'));
    if (stream.write(chunk)) return resolve();
    const onDrain = () => {
      stream.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      stream.off('drain', onDrain);
      reject(stream.errored ?? new BlobError('the object stream was closed.'));
    };
    stream.once('drain', onDrain);
    stream.once('close', onClose);
  });
}

/**
 * Store the regular file at `abs` as a loose blob in `objectsDir`, streamed; its id, or null
 * when it cannot be opened as a regular file (gone, a symlink now, unreadable).
 */
export async function writeLooseBlob(objectsDir: string, abs: string, signal: AbortSignal): Promise<string | null> {
  for (let attempt = 1; ; attempt++) {
    const r = await writeOnce(objectsDir, abs, signal);
    if (r !== 'shrank') return r;
    if (attempt === ATTEMPTS) {
      throw new BlobError(`${abs} kept shrinking while it was read for the checkpoint (${ATTEMPTS} attempts).`);
    }
  }
}

async function writeOnce(objectsDir: string, abs: string, signal: AbortSignal): Promise<string | null | 'shrank'> {
  signal.throwIfAborted();
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(abs, SAFE_READ);
  } catch {
    // Vanished (or swapped for a link or FIFO) since the lstat: not a file to store now.
    return null;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return null;
    // Exactly the size seen now: a file still growing is taken as its first `size` bytes.
    const size = st.size;
    const header = Buffer.from(`blob ${size}\0`);
    const sha = createHash('sha1').update(header);
    const tmp = join(objectsDir, `tmp_obj_${randomBytes(6).toString('hex')}`);
    await mkdir(objectsDir, { recursive: true });
    const level = (await compressible(fh, size)) ? constants.Z_BEST_SPEED : constants.Z_NO_COMPRESSION;
    const deflate = createDeflate({ level });
    const done = pipeline(deflate, createWriteStream(tmp, { flags: 'wx', mode: 0o444 }), { signal });
    // Its rejection is awaited below; until then it must not count as unhandled.
    done.catch(() => {});
    try {
      await write(deflate, header);
      let read = 0;
      while (read < size) {
        signal.throwIfAborted();
        const buf = Buffer.allocUnsafe(Math.min(SLICE, size - read));
        const { bytesRead } = await fh.read(buf, 0, buf.length, read);
        if (bytesRead === 0) break;
        const slice = bytesRead < buf.length ? buf.subarray(0, bytesRead) : buf;
        read += bytesRead;
        sha.update(slice);
        await write(deflate, slice);
      }
      deflate.end();
      await done;
      if (read < size) {
        await rm(tmp, { force: true });
        return 'shrank';
      }
    } catch (err) {
      deflate.destroy();
      // The deflate was destroyed on purpose; the error being rethrown below is the real one.
      await done.catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
    const oid = sha.digest('hex');
    const dir = join(objectsDir, oid.slice(0, 2));
    await mkdir(dir, { recursive: true });
    const file = join(dir, oid.slice(2));
    if (await exists(file)) await rm(tmp, { force: true });
    else await rename(tmp, file);
    return oid;
  } finally {
    await fh.close();
  }
}

/**
 * Whether the file compresses: most of SAMPLES slices of 16 kB spread over it deflate to less
 * than INCOMPRESSIBLE of their size (a few ms, wherever the file's compressible parts are).
 */
async function compressible(fh: Awaited<ReturnType<typeof open>>, size: number): Promise<boolean> {
  if (size < SAMPLES * SAMPLE) return true;
  let yes = 0;
  const buf = Buffer.allocUnsafe(SAMPLE);
  for (let i = 0; i < SAMPLES; i++) {
    const { bytesRead } = await fh.read(buf, 0, SAMPLE, Math.floor(((size - SAMPLE) * i) / (SAMPLES - 1)));
    const sample = buf.subarray(0, bytesRead);
    if (deflateSync(sample, { level: constants.Z_BEST_SPEED }).length < sample.length * INCOMPRESSIBLE) yes++;
  }
  return yes * 2 > SAMPLES;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    // Any stat failure means there is no such object to reuse.
    return false;
  }
}

/** Strips the object header, counts and hashes the content, and checks both at the end. */
class BlobBody extends Transform {
  private head: Buffer | null = Buffer.alloc(0);
  private seen = 0;
  private size = -1;
  private readonly sha = createHash('sha1');

  constructor(
    private readonly oid: string,
    private readonly file: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      cb(null, this.body(chunk));
    } catch (err) {
      cb(err as Error);
    }
  }

  private body(chunk: Buffer): Buffer | undefined {
    this.sha.update(chunk);
    if (this.head) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.indexOf(0) < 0) {
        if (this.head.length > 64) throw new BlobError(`${this.file} is not a git object (no header).`);
        return undefined;
      }
      const h = parseHeader(this.head, this.file);
      if (h.type !== 'blob') throw new BlobError(`git object ${this.oid} is a ${h.type}, not a file's content.`);
      this.size = h.size;
      chunk = this.head.subarray(h.length);
      this.head = null;
    }
    this.seen += chunk.length;
    return chunk;
  }

  override _flush(cb: TransformCallback): void {
    if (this.seen !== this.size || this.sha.digest('hex') !== this.oid) {
      cb(new BlobError(`git object ${this.oid} (${this.file}) is corrupt: its content does not match its id.`));
    } else cb();
  }
}

/** Inflate the loose blob `file` (id `oid`) into the new file `dest`, streamed and checked. */
export async function inflateLooseBlob(
  file: string,
  oid: string,
  dest: string,
  mode: number,
  signal: AbortSignal,
): Promise<void> {
  await pipeline(
    createReadStream(file, { highWaterMark: SLICE }),
    createInflate({ chunkSize: 256 << 10 }),
    new BlobBody(oid, file),
    createWriteStream(dest, { flags: 'wx', mode }),
    { signal },
  );
}

/**
 * Where to write the new bytes of `abs` before renaming them over it: in the object directory
 * when it is on the same filesystem (outside the watched workspace, so a gigabyte written there
 * is not a flood of inotify events), else beside `abs`.
 */
export async function restoreTemp(objectsDir: string, abs: string): Promise<string> {
  const name = `.potato-restore-${randomBytes(6).toString('hex')}`;
  // Either unstat-able: write beside the file, which always works for a rename.
  const [a, b] = await Promise.all([stat(objectsDir).catch(() => null), stat(dirname(abs)).catch(() => null)]);
  return a && b && a.dev === b.dev ? join(objectsDir, name) : join(dirname(abs), name);
}

/**
 * @module sandbox/docker/output
 * Collects a command's demultiplexed stdout and stderr into one capped transcript, the way a
 * terminal shows them, and forwards all of it to the live stream (as the local sandbox does).
 */

import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * The head and the tail of the output are kept (half the cap each) because a failing build or
 * test run says what went wrong at the end, while the start shows what was run.
 */
export class CappedOutput {
  private head = '';
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onOutput?: (chunk: string) => void,
  ) {}

  /** Text already decoded (whole characters). */
  write(text: string): void {
    this.push(text);
  }

  /** A writable for one stream (stdout or stderr); each keeps its own UTF-8 decoder. */
  sink(): Writable {
    const decoder = new StringDecoder('utf8');
    return new Writable({
      write: (chunk: Buffer, _enc, done) => {
        this.push(decoder.write(chunk));
        done();
      },
      final: (done) => {
        this.push(decoder.end());
        done();
      },
    });
  }

  private push(text: string): void {
    if (text === '') return;
    const bytes = Buffer.byteLength(text);
    const headRoom = Math.ceil(this.maxBytes / 2) - this.headBytes;
    this.total += bytes;
    this.onOutput?.(text);
    if (headRoom > 0) {
      const buf = Buffer.from(text);
      const take = cutAtCharBoundary(buf, Math.min(headRoom, buf.length));
      this.head += buf.subarray(0, take).toString('utf8');
      this.headBytes += take;
      if (take === buf.length) return;
      this.appendTail(buf.subarray(take));
      return;
    }
    this.appendTail(Buffer.from(text));
  }

  private appendTail(buf: Buffer): void {
    const limit = Math.floor(this.maxBytes / 2);
    this.tail.push(buf);
    this.tailBytes += buf.length;
    while (this.tailBytes - (this.tail[0]?.length ?? 0) >= limit && this.tail.length > 1) {
      this.tailBytes -= this.tail.shift()?.length ?? 0;
    }
  }

  get truncated(): boolean {
    return this.total > this.maxBytes;
  }

  text(): string {
    const tail = Buffer.concat(this.tail);
    if (!this.truncated) return this.head + tail.toString('utf8');
    const limit = Math.floor(this.maxBytes / 2);
    let start = Math.max(0, tail.length - limit);
    // Skip UTF-8 continuation bytes so the kept tail starts on a whole character.
    while (start < tail.length && ((tail[start] ?? 0) & 0xc0) === 0x80) start++;
    const cut = this.total - this.headBytes - (tail.length - start);
    return `${this.head}\n[... ${cut} bytes of output cut ...]\n${tail.subarray(start).toString('utf8')}`;
  }
}

/** The largest length <= n that does not split a UTF-8 character of buf. */
function cutAtCharBoundary(buf: Buffer, n: number): number {
  if (n >= buf.length) return buf.length;
  let i = n;
  while (i > 0 && ((buf[i] ?? 0) & 0xc0) === 0x80) i--;
  return i;
}

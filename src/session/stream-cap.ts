/**
 * @module session/stream-cap
 * Streamed command output kept within the step's cap (`sandbox.max_output_bytes`) on its way to
 * the event log: the head is streamed as it comes, the tail is held (the last half of the cap)
 * and written once the command ends, after a note of how much was left out. A command printing
 * 100 MB costs the store what its step keeps, not 100 MB, and a viewer far behind replays
 * at most that much per command.
 */

export class StreamCap {
  private readonly headCap: number;
  private readonly tailCap: number;
  private headBytes = 0;
  private tail: string[] = [];
  private tailBytes = 0;
  private dropped = 0;

  constructor(
    maxBytes: number,
    private readonly forward: (text: string) => void,
  ) {
    this.headCap = Math.ceil(maxBytes / 2);
    this.tailCap = Math.floor(maxBytes / 2);
  }

  push(text: string): void {
    if (text === '') return;
    if (this.headBytes < this.headCap) {
      const bytes = Buffer.byteLength(text);
      if (this.headBytes + bytes <= this.headCap) {
        this.headBytes += bytes;
        this.forward(text);
        return;
      }
      // Split at a character boundary: the head gets what fits, the rest starts the tail.
      const buf = Buffer.from(text);
      let take = this.headCap - this.headBytes;
      while (take > 0 && ((buf[take] ?? 0) & 0xc0) === 0x80) take--;
      this.headBytes = this.headCap;
      if (take > 0) this.forward(buf.subarray(0, take).toString('utf8'));
      text = buf.subarray(take).toString('utf8');
    }
    this.tail.push(text);
    this.tailBytes += Buffer.byteLength(text);
    while (this.tail.length > 1 && this.tailBytes - Buffer.byteLength(this.tail[0]!) >= this.tailCap) {
      const gone = this.tail.shift()!;
      const n = Buffer.byteLength(gone);
      this.tailBytes -= n;
      this.dropped += n;
    }
    if (this.tailBytes > this.tailCap) {
      // One chunk larger than the tail's share: keep its end, from a character boundary.
      const buf = Buffer.from(this.tail.join(''));
      let start = buf.length - this.tailCap;
      while (start < buf.length && ((buf[start] ?? 0) & 0xc0) === 0x80) start++;
      this.dropped += start;
      this.tail = [buf.subarray(start).toString('utf8')];
      this.tailBytes = buf.length - start;
    }
  }

  /** The held tail, after a note of what was left out: call once, when the command has ended. */
  finish(): void {
    if (this.tail.length === 0) return;
    if (this.dropped > 0) this.forward(`\n[... ${this.dropped} bytes of output not kept in the live log ...]\n`);
    this.forward(this.tail.join(''));
    this.tail = [];
    this.tailBytes = 0;
  }
}

/**
 * @module test/server/slow-viewer
 * A viewer that stops reading for 30 s while a command streams 1.5 MB/s (issue 14): the real
 * server (`potato start` as a child process, scripted agent, local sandbox), two real sockets.
 * One stops reading (`ws.pause()`: nothing is read from the TCP socket, so the kernel buffers
 * fill and the server's unsent bytes grow past its limit), then reads again. It must catch up
 * while the command still runs, with every event once and in order, and the viewer that kept
 * reading must not notice. `max_output_bytes` is raised so the whole output streams: with the
 * default 64 KiB cap the live log holds only the head and the tail, and nothing backs up.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { stringify } from 'yaml';
import type { SessionEvent } from '../../src/session/events.js';
import type { Step } from '../../src/steps/types.js';
import type { SessionRecord } from '../../src/store/types.js';
import { serveChild } from './child.js';
import { demoCopy, freePort } from './demo.js';
import { Client } from './harness.js';

const PAUSE_MS = 30_000;
/** 150 KB lines every 100 ms: 1.5 MB/s for 80 s, so the command outlasts the pause with room to spare. */
const SPEW =
  'import sys, time\nfor i in range(800):\n    sys.stdout.write("y" * 149999 + "\\n")\n    sys.stdout.flush()\n    time.sleep(0.1)\n';

/**
 * A live socket that keeps what the checks need, not the text: the seq of every event, the seqs
 * of the events other than streamed text, and a hash of each stream's text. (Streamed text of one
 * step that goes out in one message is one event, so a replay and a live batch cut it into
 * different events; the text they add up to is what must match.)
 */
class SeqViewer {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly seqs: number[] = [];
  readonly otherSeqs: number[] = [];
  readonly streams = new Map<string, { hash: Hash; bytes: number }>();
  bytes = 0;
  /** The command's step arrived: the command has ended. */
  commandEnded = false;
  finished = false;
  closed = false;
  private waiters: (() => void)[] = [];

  constructor(base: string, sessionId: string, cookie: string) {
    this.ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/sessions/${sessionId}/events?after=0`, {
      headers: { cookie },
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.ws.on('message', (data: Buffer) => {
      this.bytes += data.length;
      const msg = JSON.parse(data.toString()) as { events: SessionEvent[] };
      for (const e of msg.events) {
        this.seqs.push(e.seq);
        if (e.type === 'partial') {
          const key = `${e.kind} ${e.key}`;
          const st = this.streams.get(key) ?? { hash: createHash('sha256'), bytes: 0 };
          this.streams.set(key, st);
          st.hash.update(e.text);
          st.bytes += Buffer.byteLength(e.text);
        } else {
          this.otherSeqs.push(e.seq);
        }
        if (e.type === 'step' && e.step.type === 'bash_command') this.commandEnded = true;
        if (e.type === 'status' && e.status === 'finished') this.finished = true;
      }
      this.wake();
    });
  }

  /** Each stream's bytes and the hash of its text so far. */
  streamDigests(): Record<string, string> {
    return Object.fromEntries([...this.streams].map(([k, st]) => [k, `${st.bytes}:${st.hash.copy().digest('hex')}`]));
  }

  get lastSeq(): number {
    return this.seqs.at(-1) ?? 0;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `pred` holds; rejects if the socket closes first or after `timeoutMs`. */
  async until(pred: () => boolean, what: string, timeoutMs = 150_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (this.closed) throw new Error(`the socket closed before ${what} (last seq ${this.lastSeq})`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last seq ${this.lastSeq})`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 1000);
      });
    }
  }
}

const children: ChildProcess[] = [];
const viewers: SeqViewer[] = [];

afterEach(() => {
  for (const v of viewers.splice(0)) v.ws.terminate();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Each seq once, in order (streamed text of one step in one batch goes out as one event, so seqs skip). */
const ordered = (seqs: number[]) => seqs.every((s, i) => i === 0 || s > seqs[i - 1]!);

describe('a slow viewer', () => {
  it('paused for 30 s during a 1.5 MB/s command catches up before the command ends; the other viewer is unaffected', async () => {
    const config = demoCopy((doc) => {
      doc.live_coding_agent.scripted.turn_delay_ms = 0;
      (doc.live_coding_agent.scripted as Record<string, unknown>).script = './spew-script.yaml';
      (doc.live_coding_agent.sandbox as Record<string, unknown>).max_output_bytes = 256 * 1024 * 1024;
      doc.live_coding_agent.streaming.update_interval_ms = 100;
    });
    const dir = path.dirname(config);
    writeFileSync(path.join(dir, 'repo', 'spew.py'), SPEW);
    writeFileSync(
      path.join(dir, 'spew-script.yaml'),
      stringify({
        turns: [
          { text: 'Running the noisy job.', tool_calls: [{ bash_command: { command: 'python3 spew.py' } }] },
          { text: 'Done.', tool_calls: [] },
        ],
      }),
    );
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    await serveChild(config, port, children);
    const client = new Client(base);
    expect((await client.login('demo', 'potato')).status).toBe(200);
    const { body: session } = await client.json<SessionRecord>('POST', '/api/sessions', { task: 'Run the job' });

    const steady = new SeqViewer(base, session.id, client.cookie!);
    const slow = new SeqViewer(base, session.id, client.cookie!);
    viewers.push(steady, slow);
    await Promise.all([steady.opened, slow.opened]);
    await slow.until(() => slow.bytes > 100_000, 'the command to stream output');

    // Stop reading: nothing leaves the kernel's receive buffer, so the server's writes back up.
    slow.ws.pause();
    const steadyBytesAtPause = steady.bytes;
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    const streamedMeanwhile = steady.bytes - steadyBytesAtPause;
    const target = steady.lastSeq;
    slow.ws.resume();

    // More went by than any socket buffer and the server's 8 MiB allowance hold: it really fell behind.
    expect(streamedMeanwhile).toBeGreaterThan(16 * 1024 * 1024);
    expect(steady.commandEnded).toBe(false);
    await slow.until(() => slow.lastSeq >= target || slow.commandEnded, 'the slow viewer to catch up');
    // Caught up while the command still ran: every event the steady viewer had when it resumed.
    expect(slow.commandEnded).toBe(false);
    expect(slow.lastSeq).toBeGreaterThanOrEqual(target);

    await steady.until(() => steady.finished, 'the session to finish');
    await slow.until(() => slow.finished && slow.lastSeq >= steady.lastSeq, 'the slow viewer to see the end');
    // Both saw every event once, in order, up to the store's last, on the socket they opened:
    // the same steps and statuses, and every byte of the command's output.
    for (const v of [steady, slow]) expect(ordered(v.seqs)).toBe(true);
    expect(slow.otherSeqs).toEqual(steady.otherSeqs);
    expect(slow.streamDigests()).toEqual(steady.streamDigests());
    const snap = await client.json<{ last_seq: number; steps: Step[] }>('GET', `/api/sessions/${session.id}`);
    expect(slow.lastSeq).toBe(snap.body.last_seq);
    const command = snap.body.steps.find((s) => s.type === 'bash_command')!;
    const whole = await client.json<Step>('GET', `/api/sessions/${session.id}/steps/${command.id}`);
    const output = whole.body.payload.type === 'bash_command' ? whole.body.payload.output : '';
    expect(output.length).toBe(800 * 150_000);
    const streamed = Object.entries(slow.streamDigests()).filter(([k]) => k.startsWith('output '));
    expect(streamed.map(([, d]) => d)).toEqual([
      `${output.length}:${createHash('sha256').update(output).digest('hex')}`,
    ]);
    expect(slow.closed || steady.closed).toBe(false);
  }, 300_000);
});

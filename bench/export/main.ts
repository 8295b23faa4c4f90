/**
 * @module bench/export/main
 * Export throughput and memory: a store of 10,000 sessions x 50 steps (three branches each:
 * two rollbacks), every format streamed to a file, each in its own child process so peak RSS
 * is that format's alone. Baseline in the same run: read every row at once and JSON.stringify
 * it (what a non-streaming exporter does), and store-reads: every session read through the Store
 * and nothing written, the floor for an exporter. Prints steps/s (wall and per CPU second, as
 * the machine is shared), per-session p50/p95, peak RSS and RSS at 10% / 50% / 100% of the
 * sessions (flat memory means those stay level).
 *
 * `refresh` (after the formats): what the auto-export does when an annotator labels a step of an
 * ended session in a 10,000-session project: the label goes through the observed store and the
 * session's shard in every format is rewritten (temporary file, fsync, rename). Every other
 * session has its shards on disk too (copies of one session's, so the folders hold as many and as
 * large files as a real project). Prints p50/p95/max over 50 labels, and the time to rebuild the
 * merged files from all shards (done once per burst of changes, in the background).
 *
 *   npx tsx bench/export/main.ts [--sessions 10000]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXPORT_FORMATS, type ExportFormat } from '../../src/config/schema.js';
import { sessionLines } from '../../src/export/index.js';
import { AtomicJsonlWriter } from '../../src/export/jsonl.js';
import { loadSession } from '../../src/export/session-data.js';
import { ExportSync, observeStore } from '../../src/export/sync.js';
import type { Step, StepPayload } from '../../src/steps/types.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';

const STEPS_PER_SESSION = 50;
const here = fileURLToPath(import.meta.url);

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

function payload(i: number): StepPayload {
  switch (i % 4) {
    case 0:
      return { type: 'thinking', content: `Step ${i}: the parser fails on dotted names; check the regex. `.repeat(4) };
    case 1:
      return {
        type: 'file_read',
        path: `src/mod${i}.py`,
        content: 'def f(x):\n    return x\n'.repeat(20),
        start_line: 1,
        truncated: false,
      };
    case 2:
      return {
        type: 'file_edit',
        path: `src/mod${i}.py`,
        diff: `--- a/src/mod${i}.py\n+++ b/src/mod${i}.py\n@@ -1,3 +1,3 @@\n-def f(x):\n+def f(x, y=None):\n     return x\n`,
        modified_lines: [[1, 1]],
        created: false,
      };
    default:
      return {
        type: 'bash_command',
        command: 'pytest -q',
        output: '.....F\nFAILED test_x\n'.repeat(5),
        exit_code: i % 8 === 3 ? 0 : 1,
        timed_out: false,
        truncated: false,
      };
  }
}

/**
 * 50 steps numbered as the engine does (step 0 is the initial state): branch-A 1..20, branch-B
 * rolled back from 20 to 10 (11..30), branch-C rolled back from B's 30 to 20 (21..30); the
 * rollbacks recorded as the engine records them (a branch intervention with JSON content).
 */
async function fill(store: Store, sessions: number): Promise<void> {
  let t = 1_700_000_000_000;
  for (let s = 0; s < sessions; s += 500) {
    await store.transaction(async (tx) => {
      for (let k = s; k < Math.min(sessions, s + 500); k++) {
        const sid = `sess-${k}`;
        await tx.createSession({
          id: sid,
          task: `Fix the failing test number ${k}`,
          annotator: 'observer1',
          backend: 'ollama',
          backend_settings: {},
          status: 'finished',
          end_reason: null,
          workspace: '/w',
          base_commit: null,
          current_branch_id: null,
          usage: { input_tokens: 0, output_tokens: 0 },
        });
        const add = async (id: string, parent: string | null, idx: number): Promise<void> => {
          const p = payload(idx);
          const isTool = p.type !== 'thinking';
          const step: Step = {
            id,
            session_id: sid,
            parent_id: parent,
            step_idx: idx + 1,
            type: p.type,
            payload: p,
            author: 'agent',
            turn_id: `${id}-turn`,
            tool_call: isTool
              ? { id: `${id}-call`, name: p.type, input: { path: `src/mod${idx}.py`, step: id } }
              : null,
            tool_result: isTool ? 'ok' : null,
            tool_is_error: false,
            checkpoint: null,
            changed_files: false,
            usage: null,
            started_at: t,
            ended_at: ++t,
          };
          await tx.insertStep(step);
        };
        const branch = async (name: string, fork: string | null, parent: string | null, head: string) =>
          await tx.insertBranch({
            id: `${sid}-${name}`,
            session_id: sid,
            name,
            fork_step_id: fork,
            parent_branch_id: parent,
            reason: parent ? 'wrong approach' : null,
            head_step_id: head,
            git_ref: name,
            created_at: ++t,
          });
        for (let i = 0; i < 20; i++) await add(`${sid}-a${i}`, i ? `${sid}-a${i - 1}` : null, i);
        for (let i = 10; i < 30; i++) await add(`${sid}-b${i}`, i > 10 ? `${sid}-b${i - 1}` : `${sid}-a9`, i);
        for (let i = 20; i < 30; i++) await add(`${sid}-c${i}`, i > 20 ? `${sid}-c${i - 1}` : `${sid}-b19`, i);
        const rollback = async (name: string, to: string, toIdx: number, fromIdx: number) =>
          await tx.insertIntervention({
            id: `${sid}-rb-${name}`,
            session_id: sid,
            branch_id: `${sid}-${name}`,
            type: 'branch',
            after_step_id: to,
            after_step: toIdx,
            content: JSON.stringify({ reason: 'wrong approach', from_step: fromIdx, to_step: toIdx, branch: name }),
            annotator: 'observer1',
            created_at: t,
          });
        await branch('branch-A', null, null, `${sid}-a19`);
        await branch('branch-B', `${sid}-a9`, `${sid}-branch-A`, `${sid}-b29`);
        await rollback('branch-B', `${sid}-a9`, 10, 20);
        await branch('branch-C', `${sid}-b19`, `${sid}-branch-B`, `${sid}-c29`);
        await rollback('branch-C', `${sid}-b19`, 20, 30);
        await tx.insertIntervention({
          id: `${sid}-i`,
          session_id: sid,
          branch_id: `${sid}-branch-A`,
          type: 'instruction',
          after_step_id: `${sid}-a5`,
          after_step: 6,
          content: 'Read the test first',
          annotator: 'observer1',
          created_at: ++t,
        });
        await tx.upsertAnnotation({
          session_id: sid,
          annotator: 'observer1',
          branch_id: null,
          scheme: 'outcome',
          value: 'resolved',
          updated_at: t,
        });
        await tx.upsertStepLabel({
          session_id: sid,
          step_id: `${sid}-a12`,
          annotator: 'observer1',
          label: 'incorrect',
          first_error: true,
          updated_at: t,
        });
      }
    });
  }
}

const pct = (xs: number[], p: number) =>
  xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
const mb = (b: number) => Math.round(b / 1024 / 1024);

interface Result {
  name: string;
  seconds: number;
  stepsPerSec: number;
  /** user + system CPU seconds of the child: on a shared machine, the work done, apart from waiting for a core. */
  cpuSeconds: number;
  stepsPerCpuSec: number;
  p50ms: number;
  p95ms: number;
  peakMb: number;
  rssMb: [number, number, number];
  lines: number;
}

async function child(mode: string, dbPath: string, outFile: string): Promise<void> {
  const store = openSqliteStore(dbPath);
  const sessions = await store.listSessions();
  let peak = process.memoryUsage().rss;
  const at: number[] = [];
  const marks = new Set([Math.floor(sessions.length * 0.1), Math.floor(sessions.length * 0.5), sessions.length - 1]);
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let lines = 0;
  if (mode === 'baseline') {
    const all = [];
    for (const s of sessions) {
      all.push({
        session: s,
        steps: await store.listSteps(s.id),
        branches: await store.listBranches(s.id),
        interventions: await store.listInterventions(s.id),
        annotations: await store.listAnnotations(s.id),
        labels: await store.listStepLabels(s.id),
      });
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const text = JSON.stringify(all);
    peak = Math.max(peak, process.memoryUsage().rss);
    fs.writeFileSync(outFile, text);
    lines = all.length;
    at.push(mb(peak), mb(peak), mb(peak));
    lat.push(0);
  } else if (mode === 'store-reads') {
    // The floor for any exporter over the Store seam: every session's rows read, nothing written.
    for (const s of sessions) {
      const t0 = performance.now();
      await loadSession(store, s.id, s);
      lat.push(performance.now() - t0);
    }
    const rss = mb(process.memoryUsage().rss);
    at.push(rss, rss, rss);
  } else {
    const writer = new AtomicJsonlWriter(outFile);
    for (const [i, s] of sessions.entries()) {
      const t0 = performance.now();
      for await (const line of sessionLines(store, s.id, mode as ExportFormat, { flattenBranches: true }, s)) {
        writer.write(line);
      }
      lat.push(performance.now() - t0);
      if (i % 100 === 0 || marks.has(i)) {
        const rss = process.memoryUsage().rss;
        peak = Math.max(peak, rss);
        if (marks.has(i)) at.push(mb(rss));
      }
    }
    writer.commit();
    lines = writer.lines;
  }
  if (mode === 'store-reads') fs.writeFileSync(outFile, '');
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const steps = sessions.length * STEPS_PER_SESSION;
  const result: Result = {
    name: mode,
    seconds,
    stepsPerSec: Math.round(steps / seconds),
    cpuSeconds,
    stepsPerCpuSec: Math.round(steps / cpuSeconds),
    p50ms: pct(lat, 50),
    p95ms: pct(lat, 95),
    peakMb: mb(Math.max(peak, process.memoryUsage().rss)),
    rssMb: [at[0] ?? 0, at[1] ?? 0, at[2] ?? 0],
    lines,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await store.close();
}

/** The time from a label to every format's shard of that session rewritten, on a full project. */
async function refresh(dbPath: string, outDir: string): Promise<void> {
  const raw = openSqliteStore(dbPath);
  const sessions = await raw.listSessions();
  fs.rmSync(outDir, { recursive: true, force: true });
  const sync = new ExportSync({ store: raw, outputDir: outDir, formats: EXPORT_FORMATS, mergeDelayMs: 3_600_000 });
  const store = observeStore(raw, (id) => sync.markDirty(id));
  await sync.refresh(sessions[0]!.id);
  for (const format of EXPORT_FORMATS) {
    const file = sync.shardPath(format, sessions[0]!.id);
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file);
    for (const s of sessions.slice(1)) fs.writeFileSync(sync.shardPath(format, s.id), text);
  }
  const lat: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 50; i++) {
    const s = sessions[Math.floor((i * sessions.length) / 50)]!;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await store.upsertStepLabel({
      session_id: s.id,
      step_id: `${s.id}-a${3 + (i % 5)}`,
      annotator: 'observer1',
      label: i % 2 ? 'correct' : 'unsure',
      first_error: false,
      updated_at: Date.now(),
    });
    // What the microtask after the write does, run now so it is timed.
    await sync.flushDirty();
    lat.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const m0 = performance.now();
  const counts = await sync.merge();
  const mergeSeconds = (performance.now() - m0) / 1000;
  const bytes = EXPORT_FORMATS.reduce(
    (n, f) => n + (fs.existsSync(sync.mergedPath(f)) ? fs.statSync(sync.mergedPath(f)).size : 0),
    0,
  );
  process.stdout.write(
    `${JSON.stringify({ p50: pct(lat, 50), p95: pct(lat, 95), max: Math.max(...lat), cpuP50: pct(cpu, 50), cpuP95: pct(cpu, 95), mergeSeconds, mergedMb: mb(bytes), lines: Object.values(counts).reduce((a, b) => a + b, 0) })}\n`,
  );
  await raw.close();
  fs.rmSync(outDir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  if (process.argv.includes('--refresh')) {
    const i = process.argv.indexOf('--refresh');
    void refresh(process.argv[i + 1]!, process.argv[i + 2]!);
    return;
  }
  if (process.argv.includes('--child')) {
    const i = process.argv.indexOf('--child');
    await child(process.argv[i + 1]!, process.argv[i + 2]!, process.argv[i + 3]!);
    return;
  }
  const sessions = Number(arg('sessions', '10000'));
  const dir = path.join(os.tmpdir(), `potato-bench-export-v4-${sessions}`);
  const dbPath = path.join(dir, 'potato.db');
  if (!fs.existsSync(path.join(dir, 'ready'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    const t0 = performance.now();
    const store = openSqliteStore(dbPath);
    await fill(store, sessions);
    await store.close();
    fs.writeFileSync(path.join(dir, 'ready'), '');
    console.log(
      `built ${sessions} sessions x ${STEPS_PER_SESSION} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s (${dbPath}, ${mb(fs.statSync(dbPath).size)} MB)`,
    );
  }
  const results: Result[] = [];
  for (const mode of ['baseline', 'store-reads', ...EXPORT_FORMATS]) {
    const out = path.join(dir, `${mode}.out`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', here, '--child', mode, dbPath, out], {
      cwd: path.resolve(path.dirname(here), '../..'),
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (r.status !== 0) throw new Error(`${mode} failed: ${r.stderr}`);
    results.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as Result);
    fs.rmSync(out, { force: true });
  }
  const base = results[0]!;
  console.log(
    `\n${sessions} sessions x ${STEPS_PER_SESSION} steps = ${sessions * STEPS_PER_SESSION} steps; node ${process.version}\n`,
  );
  console.log(
    `load average at the end: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${os.cpus().length} cores\n`,
  );
  console.log(
    '| format | lines | seconds | steps/s | vs baseline | CPU s | steps/CPU-s | p50 ms/session | p95 ms/session | peak RSS MB | RSS at 10%/50%/100% MB |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${r.lines} | ${r.seconds.toFixed(2)} | ${r.stepsPerSec} | ${(r.stepsPerSec / base.stepsPerSec).toFixed(2)}x | ${r.cpuSeconds.toFixed(2)} | ${r.stepsPerCpuSec} | ${r.p50ms.toFixed(3)} | ${r.p95ms.toFixed(3)} | ${r.peakMb} | ${r.rssMb.join(' / ')} |`,
    );
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', here, '--refresh', dbPath, path.join(dir, 'refresh-out')], {
    cwd: path.resolve(path.dirname(here), '../..'),
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`refresh failed: ${r.stderr}`);
  const f = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
  console.log(
    `\nrefresh of one session's lines in all ${EXPORT_FORMATS.length} formats after a label, ${sessions}-session project: p50 ${f.p50!.toFixed(1)} ms, p95 ${f.p95!.toFixed(1)} ms, max ${f.max!.toFixed(1)} ms (50 labels; CPU p50 ${f.cpuP50!.toFixed(1)} ms, p95 ${f.cpuP95!.toFixed(1)} ms); merged files rebuilt from all shards: ${f.mergeSeconds!.toFixed(2)} s for ${f.lines} lines, ${f.mergedMb} MB`,
  );
}

await main();

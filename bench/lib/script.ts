/**
 * @module bench/lib/script
 * The scripted agent's turns the load benchmarks run: each turn a small shell command and a file
 * edit, so checkpoints, watches and processes are real. The config must allow `echo`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';

/** Write `name` (a scripted-agent script of `turns` turns after the first) into `dir`. */
export function writeWorkScript(dir: string, name: string, turns: number): void {
  const list = [
    {
      text: 'Start a notes file.',
      tool_calls: [{ bash_command: { command: 'echo "turn 0" > notes.txt && ls' } }],
    },
    ...Array.from({ length: turns }, (_, i) => ({
      thinking: `Turn ${i + 1}: look at the output, then record progress. `.repeat(3),
      text: `Updating the notes (${i + 1}).`,
      tool_calls: [
        { bash_command: { command: `echo "check ${i + 1}" >> log.txt && ls src tests` } },
        { file_edit: { path: 'notes.txt', old_text: `turn ${i}`, new_text: `turn ${i + 1}` } },
      ],
    })),
  ];
  writeFileSync(path.join(dir, name), stringify({ turns: list }));
}

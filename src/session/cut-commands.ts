/**
 * @module session/cut-commands
 * A command the server died in the middle of has no step: only its streamed output, as `partial`
 * events. At the next start (server/start.ts, marking the session interrupted) each such command
 * becomes a `bash_command` step on the current branch with the output that had streamed, no exit
 * code and `cut` saying why, so the trajectory, the exports and the agent after `/continue` see
 * that it ran and was cut (its tool result says so), instead of it vanishing.
 */
import { randomUUID } from 'node:crypto';
import type { Step } from '../steps/types.js';
import type { Store } from '../store/types.js';

const PAGE = 1000;
export const CUT_REASON = 'the server stopped while the command ran: the output is what had streamed by then';

/** Record the session's cut commands as steps (call inside the store transaction that marks it). */
export async function recordCutCommands(store: Store, sessionId: string, now: number): Promise<Step[]> {
  const session = await store.getSession(sessionId);
  const branch = (await store.listBranches(sessionId)).find((b) => b.id === session?.current_branch_id);
  if (!session || !branch) return [];
  const outputs = new Map<string, { text: string; tool: string | undefined; at: number }>();
  const inputs = new Map<string, string>();
  const stepped = new Set<string>();
  for (let after = 0; ; ) {
    const page = await store.eventsAfter(sessionId, after, PAGE);
    for (const e of page) {
      if (e.type === 'partial' && e.kind === 'output') {
        const o = outputs.get(e.key);
        if (o) o.text += e.text;
        else outputs.set(e.key, { text: e.text, tool: e.tool, at: e.at });
      } else if (e.type === 'partial' && e.kind === 'tool_input') {
        inputs.set(e.key, (inputs.get(e.key) ?? '') + e.text);
      } else if (e.type === 'step' && e.partial_key) {
        stepped.add(e.partial_key);
      }
    }
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.seq;
  }
  let head = branch.head_step_id ? await store.getStep(branch.head_step_id) : null;
  const made: Step[] = [];
  for (const [key, out] of outputs) {
    if (stepped.has(key) || (out.tool && out.tool !== 'bash_command')) continue;
    const input = parseInput(inputs.get(key));
    const command = typeof input?.command === 'string' ? input.command : '(not known: the call was not recorded)';
    const split = key.indexOf(':');
    const step: Step = {
      id: `st_${randomUUID()}`,
      session_id: sessionId,
      parent_id: head?.id ?? null,
      step_idx: head ? head.step_idx + 1 : 1,
      type: 'bash_command',
      payload: {
        type: 'bash_command',
        command,
        output: out.text,
        exit_code: null,
        timed_out: false,
        truncated: false,
        cut: CUT_REASON,
      },
      author: 'agent',
      turn_id: split > 0 ? key.slice(0, split) : null,
      tool_call: { id: split > 0 ? key.slice(split + 1) : key, name: 'bash_command', input: input ?? { command } },
      tool_result: `${out.text.replace(/\n$/, '')}\n[cut: ${CUT_REASON}]`,
      tool_is_error: true,
      checkpoint: head ? head.checkpoint : session.base_commit,
      changed_files: false,
      usage: null,
      started_at: out.at,
      ended_at: now,
    };
    await store.insertStep(step);
    await store.updateBranch(branch.id, { head_step_id: step.id });
    await store.appendEvent(sessionId, { type: 'step', step, partial_key: key });
    head = step;
    made.push(step);
  }
  return made;
}

function parseInput(text: string | undefined): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    // Tool input cut mid-stream by the crash is not JSON: the step keeps its output only.
    return null;
  }
}

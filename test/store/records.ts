/**
 * @module test/store/records
 * Records as the engine writes them, for the store tests and the store benchmark: a session
 * just created, a file edit step.
 */
import type { Step } from '../../src/steps/types.js';
import type { SessionRecord } from '../../src/store/types.js';

export function newSession(id: string, annotator = 'observer1'): Omit<SessionRecord, 'created_at' | 'updated_at'> {
  return {
    id,
    task: 'Fix the failing test in tests/test_parser.py',
    annotator,
    backend: 'ollama',
    backend_settings: { model: 'qwen2.5-coder:32b', temperature: 0.2 },
    status: 'created',
    end_reason: null,
    workspace: '/tmp/ws',
    base_commit: null,
    current_branch_id: null,
    usage: { input_tokens: 0, output_tokens: 0 },
  };
}

export function editStep(sessionId: string, id: string, parent: string | null, idx: number): Step {
  return {
    id,
    session_id: sessionId,
    parent_id: parent,
    step_idx: idx,
    type: 'file_edit',
    payload: {
      type: 'file_edit',
      path: 'src/parser.py',
      diff: '--- a/src/parser.py\n+++ b/src/parser.py\n@@ -1 +1 @@\n-a\n+b\n',
      modified_lines: [[1, 1]],
      created: false,
    },
    author: 'agent',
    turn_id: `turn-${idx}`,
    tool_call: { id: `call-${idx}`, name: 'file_edit', input: { path: 'src/parser.py', old: 'a', new: 'b' } },
    tool_result: 'Edited src/parser.py',
    tool_is_error: false,
    checkpoint: `${idx}`.padStart(40, 'a'),
    changed_files: true,
    usage: { input_tokens: 120, output_tokens: 30 },
    started_at: 1000 + idx,
    ended_at: 1001 + idx,
  };
}

/**
 * @module web/lib/approval.test
 * The approval words the trace shows and the check on an edited input, on the content the
 * server records (src/backends/claude-agent-sdk/session-driver.ts, `approve`).
 */
import { describe, expect, it } from 'vitest';
import type { Step } from '../api/types.ts';
import { approvalText, callSummary, parseApproval, parseEditedInput } from './approval.ts';

const WS = '/data/output/workspaces/s1';

function stepFor(callId: string, name: string, input: Record<string, unknown>): Step {
  return { tool_call: { id: callId, name, input } } as unknown as Step;
}

describe('approval words', () => {
  it('names the command, or the file relative to the workspace', () => {
    expect(callSummary('Bash', { command: 'pytest -q' })).toBe('Bash: pytest -q');
    expect(callSummary('Edit', { file_path: `${WS}/src/x.py` }, WS)).toBe('Edit src/x.py');
    expect(callSummary('Read', { file_path: '/elsewhere/y.py' }, WS)).toBe('Read /elsewhere/y.py');
    expect(callSummary('WebFetch', { url: 'http://x' }, WS)).toBe('WebFetch');
  });

  it('reads an approval back: approved from the step it became, denied with its message', () => {
    const approved = parseApproval(JSON.stringify({ call_id: 'toolu_1', tool: 'Bash', allow: true }))!;
    expect(approvalText(approved, stepFor('toolu_1', 'Bash', { command: 'pytest -q' }), WS)).toBe(
      'Approved Bash: pytest -q',
    );
    // Before the step arrives only the tool is known.
    expect(approvalText(approved, undefined, WS)).toBe('Approved Bash');

    const denied = parseApproval(
      JSON.stringify({ call_id: 'toolu_2', tool: 'Edit', allow: false, message: 'use a migration' }),
    )!;
    expect(approvalText(denied, stepFor('toolu_2', 'Edit', { file_path: `${WS}/src/x.py` }), WS)).toBe(
      "Denied Edit src/x.py — 'use a migration'",
    );

    const edited = parseApproval(
      JSON.stringify({ call_id: 'toolu_3', tool: 'Bash', allow: true, input: { command: 'pytest -q -x' } }),
    )!;
    expect(approvalText(edited, undefined, WS)).toBe('Approved Bash: pytest -q -x (input edited)');
  });

  it('does not take content that is not an approval for one', () => {
    expect(parseApproval(null)).toBeNull();
    expect(parseApproval('not json')).toBeNull();
    expect(parseApproval(JSON.stringify({ tool: 'Bash' }))).toBeNull();
  });

  it('accepts only a JSON object as an edited input, and says why otherwise', () => {
    expect(parseEditedInput('{"command": "ls"}')).toEqual({ ok: true, input: { command: 'ls' } });
    const broken = parseEditedInput('{"command": ');
    expect(broken.ok).toBe(false);
    expect(!broken.ok && broken.error).toMatch(/^The input is not valid JSON \(.+\)\. Fix it, or cancel the edit\.$/);
    const list = parseEditedInput('["ls"]');
    expect(!list.ok && list.error).toMatch(/must be a JSON object/);
  });
});

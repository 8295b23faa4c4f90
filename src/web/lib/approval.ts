/**
 * @module web/lib/approval
 * The words for tool calls the annotator approves, edits or denies (claude_agent_sdk,
 * permission_mode ask): what a call wants to do in one line, the `approval` intervention's
 * content read back, and the edited input checked before it is sent.
 */
import type { ApprovalRecord, Step } from '../api/types.ts';
import { shorten } from './format.ts';

/** `file_path` as the annotator knows it: relative to the workspace when it is inside it. */
export function relativePath(file: string, workspace: string | undefined): string {
  if (workspace) {
    const root = workspace.endsWith('/') ? workspace : `${workspace}/`;
    if (file.startsWith(root)) return file.slice(root.length);
  }
  return file;
}

/** What a call acts on: the command, the file, the pattern ("" for a tool without one). */
export function callTarget(tool: string, input: Record<string, unknown>, workspace?: string): string {
  const str = (k: string) => (typeof input[k] === 'string' ? (input[k] as string) : '');
  switch (tool) {
    case 'Bash':
      return shorten(str('command'), 80);
    case 'Read':
    case 'Edit':
    case 'Write':
      return relativePath(str('file_path'), workspace);
    case 'Glob':
    case 'Grep':
      return shorten(str('pattern'), 60);
    default:
      return '';
  }
}

/** "Bash: pytest -q", "Edit src/x.py", "Grep def parse": what a call does, in a few words. */
export function callSummary(tool: string, input: Record<string, unknown>, workspace?: string): string {
  const target = callTarget(tool, input, workspace);
  if (!target) return tool;
  return tool === 'Bash' ? `Bash: ${target}` : `${tool} ${target}`;
}

/** An `approval` intervention's content, or null when it is not one the UI can read. */
export function parseApproval(content: string | null): ApprovalRecord | null {
  if (!content) return null;
  try {
    const v = JSON.parse(content) as Partial<ApprovalRecord>;
    if (typeof v.tool !== 'string' || typeof v.allow !== 'boolean') return null;
    return {
      call_id: typeof v.call_id === 'string' ? v.call_id : '',
      tool: v.tool,
      allow: v.allow,
      ...(v.input && typeof v.input === 'object' && !Array.isArray(v.input) ? { input: v.input } : {}),
      ...(typeof v.message === 'string' && v.message ? { message: v.message } : {}),
    };
  } catch {
    // Not an approval the server sent: the caller shows nothing to approve.
    return null;
  }
}

/**
 * "Approved Bash: pytest -q", "Denied Edit src/x.py — 'use a migration'". The input comes
 * from the record when the annotator edited it, otherwise from the step the call became
 * (its tool_call carries the same id), which may not have arrived yet.
 */
export function approvalText(record: ApprovalRecord, step: Step | undefined, workspace?: string): string {
  const input = record.input ?? step?.tool_call?.input;
  const what = input ? callSummary(record.tool, input, workspace) : record.tool;
  if (record.allow) return `Approved ${what}${record.input ? ' (input edited)' : ''}`;
  return `Denied ${what}${record.message ? ` — '${record.message}'` : ''}`;
}

/** The edited input as the server wants it (a JSON object), or the reason it is not. */
export function parseEditedInput(
  text: string,
): { ok: true; input: Record<string, unknown> } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `The input is not valid JSON (${(e as Error).message}). Fix it, or cancel the edit.` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      error: 'The input must be a JSON object of the tool’s fields, e.g. {"command": "pytest -q"}.',
    };
  }
  return { ok: true, input: value as Record<string, unknown> };
}

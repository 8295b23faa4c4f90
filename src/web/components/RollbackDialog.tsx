/**
 * @module web/components/RollbackDialog
 * Roll back (or branch) to an earlier checkpoint: pick the step from a dropdown, give a
 * reason (required when branching.require_reason_on_rollback), optionally an instruction,
 * and optionally edit the tool call the agent makes next, before it runs.
 */
import { type FormEvent, useEffect, useMemo, useState } from 'react';
import { api } from '../api/client.ts';
import type { RollbackBody, Step, UiConfig } from '../api/types.ts';
import { stepLabel } from '../lib/format.ts';

const TOOL_NAMES = ['file_read', 'file_edit', 'bash_command', 'directory_list', 'file_search'];

export function RollbackDialog({
  mode,
  path,
  config,
  initialStepId,
  branchName,
  otherBranch = false,
  onSubmit,
  onClose,
}: {
  mode: 'rollback' | 'branch';
  /** The viewed branch's path: its steps with a checkpoint are the choices. */
  path: Step[];
  /** The name of the branch `path` belongs to, for the dialog's words. */
  branchName?: string;
  /** `path` is not the live branch: the move always keeps the live path (a new branch). */
  otherBranch?: boolean;
  config: UiConfig;
  initialStepId?: string | null;
  onSubmit: (body: RollbackBody) => Promise<string | null>;
  onClose: () => void;
}) {
  const options = useMemo(() => [...path].reverse(), [path]);
  const withoutCheckpoint = useMemo(() => path.filter((s) => !s.checkpoint).length, [path]);
  const defaultTarget =
    initialStepId !== undefined
      ? initialStepId
      : ([...path.slice(0, -1)].reverse().find((s) => s.checkpoint)?.id ?? null);
  const [target, setTarget] = useState<string>(defaultTarget ?? '');
  const [reason, setReason] = useState('');
  const [instruction, setInstruction] = useState('');
  const canBranch = config.branching.enabled && config.controls.branch_enabled;
  const [keepPath, setKeepPath] = useState(mode === 'branch' || canBranch || otherBranch);
  const [editCall, setEditCall] = useState(false);
  const [toolName, setToolName] = useState('file_read');
  const [toolInput, setToolInput] = useState('{}');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const reasonRequired = config.branching.require_reason_on_rollback;

  // The step that ran after the target is the one an edited call replaces: start from it.
  const next = useMemo(() => {
    const i = target === '' ? 0 : path.findIndex((s) => s.id === target) + 1;
    return path.slice(i).find((s) => s.tool_call !== null) ?? null;
  }, [path, target]);
  useEffect(() => {
    if (!next?.tool_call) return;
    setToolName(next.tool_call.name);
    setToolInput(JSON.stringify(next.tool_call.input, null, 2));
    // A long input came as a preview: prefill the editor with the whole call instead.
    if (!Object.keys(next.cut_fields ?? {}).some((f) => f.startsWith('tool_call.'))) return;
    let current = true;
    api.step(next.session_id, next.id).then(
      (whole) => {
        if (current && whole.tool_call) setToolInput(JSON.stringify(whole.tool_call.input, null, 2));
      },
      (e: Error) => current && setError(`Could not load the whole tool call: ${e.message}`),
    );
    return () => {
      current = false;
    };
  }, [next]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (reasonRequired && !reason.trim()) {
      setError('A reason is required: say what went wrong on this path.');
      return;
    }
    const body: RollbackBody = { to_step_id: target === '' ? null : target, branch: keepPath };
    if (reason.trim()) body.reason = reason.trim();
    if (instruction.trim()) body.instruction = instruction.trim();
    if (editCall) {
      let input: unknown;
      try {
        input = JSON.parse(toolInput);
      } catch (err) {
        setError(`The tool input is not valid JSON: ${(err as Error).message}`);
        return;
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        setError('The tool input must be a JSON object, e.g. {"path": "src/app.py"}.');
        return;
      }
      body.edited_tool_call = { name: toolName, input: input as Record<string, unknown> };
    }
    setBusy(true);
    setError(null);
    const failure = await onSubmit(body);
    setBusy(false);
    if (failure) setError(failure);
    else onClose();
  };

  const title = mode === 'branch' ? 'Branch from a checkpoint' : 'Roll back to a checkpoint';
  return (
    <div className="modal-backdrop">
      <form className="modal" role="dialog" aria-label={title} data-testid="rollback-dialog" onSubmit={submit}>
        <h2>{title}</h2>
        <p className="muted small">
          The workspace is reset to the checkpoint after the chosen step, the agent's context is cut there, and it
          continues from that point.
        </p>
        <label className="field">
          <span>Checkpoint</span>
          <select data-testid="rollback-target" value={target} onChange={(e) => setTarget(e.target.value)}>
            {options.map((s) => (
              <option key={s.id} value={s.id} disabled={!s.checkpoint}>
                {stepLabel(s)}
                {s.checkpoint ? '' : ' (no checkpoint)'}
              </option>
            ))}
            <option value="">Start (before step 0)</option>
          </select>
        </label>
        {branchName && (
          <p className="muted small" data-testid="rollback-branch">
            Checkpoints of {branchName}
            {otherBranch ? ': the live branch is kept, and a new branch starts from the chosen step.' : '.'}
          </p>
        )}
        {withoutCheckpoint > 0 && (
          <p className="notice small" data-testid="rollback-no-checkpoint">
            {withoutCheckpoint === 1 ? '1 step has' : `${withoutCheckpoint} steps have`} no checkpoint and cannot be
            chosen: checkpoints.max_checkpoints was reached before {withoutCheckpoint === 1 ? 'it' : 'them'}.
          </p>
        )}
        <label className="field">
          <span>Reason{reasonRequired ? ' (required)' : ' (optional)'}</span>
          <textarea
            data-testid="rollback-reason"
            rows={2}
            value={reason}
            placeholder="What went wrong? e.g. The agent started modifying the wrong file"
            onChange={(e) => setReason(e.target.value)}
          />
        </label>
        <label className="field">
          <span>Instruction for the agent (optional)</span>
          <textarea
            data-testid="rollback-instruction"
            rows={2}
            value={instruction}
            placeholder="e.g. Fix the parser, not the test"
            onChange={(e) => setInstruction(e.target.value)}
          />
        </label>
        {mode === 'rollback' && canBranch && !otherBranch && (
          <label className="check">
            <input
              type="checkbox"
              data-testid="rollback-keep-branch"
              checked={keepPath}
              onChange={(e) => setKeepPath(e.target.checked)}
            />
            Keep the current path as a branch (recommended: it becomes preference data)
          </label>
        )}
        <label className="check">
          <input
            type="checkbox"
            data-testid="rollback-edit-call"
            checked={editCall}
            onChange={(e) => setEditCall(e.target.checked)}
          />
          Edit the next tool call before it runs
        </label>
        {editCall && (
          <div className="tool-editor" data-testid="tool-editor">
            <label className="field">
              <span>Tool</span>
              <select data-testid="tool-name" value={toolName} onChange={(e) => setToolName(e.target.value)}>
                {[...new Set([...TOOL_NAMES, toolName])].map((n) => (
                  <option key={n}>{n}</option>
                ))}
              </select>
            </label>
            <label className="field">
              <span>Input (JSON)</span>
              <textarea
                className="mono"
                data-testid="tool-input"
                rows={6}
                value={toolInput}
                onChange={(e) => setToolInput(e.target.value)}
              />
            </label>
          </div>
        )}
        {error && (
          <div className="form-error" role="alert" data-testid="rollback-error">
            {error}
          </div>
        )}
        <div className="row">
          <span className="spacer" />
          <button type="button" className="btn btn-ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="rollback-submit">
            {busy ? 'Working…' : mode === 'branch' || keepPath ? 'Branch here' : 'Roll back'}
          </button>
        </div>
      </form>
    </div>
  );
}

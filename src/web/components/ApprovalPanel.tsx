/**
 * @module web/components/ApprovalPanel
 * The tool calls waiting for the annotator (claude_agent_sdk, permission_mode ask), shown
 * under the trace where the next step will appear: what the call would do (the command, the
 * change as a diff, the file, or the input as JSON) and Approve, Edit & approve (the input as
 * JSON, checked before it is sent) and Deny (with an optional message the agent is told).
 */
import { diffLines } from 'diff';
import { type FormEvent, useMemo, useState } from 'react';
import { ApiError, api } from '../api/client.ts';
import type { PendingApproval } from '../api/types.ts';
import { callTarget, parseEditedInput, relativePath } from '../lib/approval.ts';
import { languageOf } from '../lib/format.ts';
import type { Approvals } from '../state/useApprovals.ts';
import { CodeBlock } from '../trace/blocks.tsx';

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** The fields a tool's own view already shows; the rest are listed under it. */
const SHOWN: Record<string, string[]> = {
  Bash: ['command', 'description'],
  Edit: ['file_path', 'old_string', 'new_string', 'replace_all'],
  Write: ['file_path', 'content'],
  Read: ['file_path'],
};

function Extra({ input, tool }: { input: Record<string, unknown>; tool: string }) {
  const rest = Object.entries(input).filter(([k]) => !SHOWN[tool]?.includes(k));
  if (rest.length === 0) return null;
  return (
    <div className="approval-extra muted small" data-testid="approval-extra">
      {rest.map(([k, v]) => (
        <span key={k}>
          {k}: <code>{typeof v === 'string' ? v : JSON.stringify(v)}</code>
        </span>
      ))}
    </div>
  );
}

/**
 * old_string → new_string as removed and added lines. Without line numbers: the strings are a
 * piece of the file, and where it sits is known only once the tool runs.
 */
function SnippetDiff({ before, after }: { before: string; after: string }) {
  const rows = useMemo(() => {
    const out: { kind: 'add' | 'del' | 'ctx'; text: string }[] = [];
    const nl = (t: string) => (t.endsWith('\n') ? t : `${t}\n`);
    for (const part of diffLines(nl(before), nl(after))) {
      const kind = part.added ? 'add' : part.removed ? 'del' : 'ctx';
      for (const line of part.value.replace(/\n$/, '').split('\n')) out.push({ kind, text: line });
    }
    return out;
  }, [before, after]);
  const sign = { add: '+', del: '-', ctx: ' ' };
  return (
    <div className="diff-block" data-testid="approval-diff">
      <div className="diff-stat">
        <span className="diff-added">+{rows.filter((r) => r.kind === 'add').length}</span>{' '}
        <span className="diff-removed">−{rows.filter((r) => r.kind === 'del').length}</span>
      </div>
      <div className="code-scroll">
        <table className="diff">
          <tbody>
            {rows.map((r, n) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: diff rows have no identity beyond position
              <tr key={n} className={`diff-${r.kind}`} data-testid={`diff-line-${r.kind}`}>
                <td className="diff-text">
                  <span className="diff-sign">{sign[r.kind]}</span>
                  {r.text}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function CallView({ call, workspace }: { call: PendingApproval; workspace: string }) {
  const i = call.input;
  const file = relativePath(str(i.file_path), workspace);
  switch (call.tool) {
    case 'Bash':
      return (
        <>
          <div className="terminal">
            <div className="terminal-cmd">
              <span className="prompt">$</span> <span data-testid="approval-command">{str(i.command)}</span>
            </div>
          </div>
          {str(i.description) && <div className="muted small">{str(i.description)}</div>}
        </>
      );
    case 'Edit':
      if (typeof i.old_string === 'string' && typeof i.new_string === 'string')
        return (
          <>
            {i.replace_all === true && <div className="muted small">Every occurrence is replaced.</div>}
            <SnippetDiff before={i.old_string} after={i.new_string} />
          </>
        );
      break;
    case 'Write':
      if (typeof i.content === 'string') return <CodeBlock code={i.content} language={languageOf(file)} />;
      break;
    case 'Read':
      return null;
  }
  return (
    <pre className="approval-json" data-testid="approval-json">
      {JSON.stringify(i, null, 2)}
    </pre>
  );
}

function ApprovalCard({
  sessionId,
  call,
  workspace,
  onAnswered,
  notify,
}: {
  sessionId: string;
  call: PendingApproval;
  workspace: string;
  onAnswered: (callId: string) => void;
  notify: (text: string) => void;
}) {
  const [mode, setMode] = useState<'ask' | 'edit' | 'deny'>('ask');
  const [text, setText] = useState('');
  const [message, setMessage] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const target = callTarget(call.tool, call.input, workspace);

  const answer = async (body: Parameters<typeof api.answerApproval>[2]) => {
    setBusy(true);
    setError(null);
    try {
      await api.answerApproval(sessionId, call.call_id, body);
      onAnswered(call.call_id);
    } catch (e) {
      setBusy(false);
      if (e instanceof ApiError && e.status === 404) {
        notify(
          `${call.tool} is no longer waiting: it was answered in another window, or the session was stopped or rolled back.`,
        );
        onAnswered(call.call_id);
      } else setError(`The answer was not sent: ${(e as Error).message}. Try again.`);
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (mode === 'edit') {
      const parsed = parseEditedInput(text);
      if (!parsed.ok) {
        setError(parsed.error);
        return;
      }
      void answer({ allow: true, input: parsed.input });
    } else if (mode === 'deny') {
      void answer(message.trim() ? { allow: false, message: message.trim() } : { allow: false });
    }
  };

  const cancel = () => {
    setMode('ask');
    setError(null);
  };

  return (
    <form
      className="approval"
      data-testid="approval"
      data-call-id={call.call_id}
      data-tool={call.tool}
      onSubmit={submit}
      aria-label={call.description}
    >
      <header className="approval-head">
        <span className="approval-badge">Needs approval</span>
        <span className="approval-tool" data-testid="approval-tool">
          {call.tool}
        </span>
        {target && call.tool !== 'Bash' && (
          <span className="approval-target" data-testid="approval-target">
            {target}
          </span>
        )}
        <span className="spacer" />
        <span className="muted small" title={new Date(call.since).toLocaleString()}>
          asked at {new Date(call.since).toLocaleTimeString()}
        </span>
      </header>
      <div className="approval-body">
        <CallView call={call} workspace={workspace} />
        <Extra input={call.input} tool={call.tool} />
        {mode === 'edit' && (
          <label className="field compact">
            <span>Input (JSON) — the tool runs with this instead</span>
            <textarea
              className="mono approval-editor"
              data-testid="approval-edit-input"
              rows={Math.min(16, Math.max(4, text.split('\n').length + 1))}
              value={text}
              spellCheck={false}
              onChange={(e) => setText(e.target.value)}
            />
          </label>
        )}
        {mode === 'deny' && (
          <label className="field compact">
            <span>Message to the agent (optional)</span>
            <input
              data-testid="approval-deny-message"
              placeholder="Why not, or what to do instead"
              value={message}
              onChange={(e) => setMessage(e.target.value)}
            />
          </label>
        )}
        {error && (
          <div className="form-error" role="alert" data-testid="approval-error">
            {error}
          </div>
        )}
        <div className="row approval-actions">
          {mode === 'ask' && (
            <>
              <button
                type="button"
                className="btn btn-primary"
                data-testid="approval-approve"
                disabled={busy}
                onClick={() => void answer({ allow: true })}
              >
                Approve
              </button>
              <button
                type="button"
                className="btn"
                data-testid="approval-edit"
                disabled={busy}
                onClick={() => {
                  setText(JSON.stringify(call.input, null, 2));
                  setMode('edit');
                }}
              >
                Edit &amp; approve
              </button>
              <button
                type="button"
                className="btn btn-danger"
                data-testid="approval-deny"
                disabled={busy}
                onClick={() => setMode('deny')}
              >
                Deny
              </button>
            </>
          )}
          {mode === 'edit' && (
            <button type="submit" className="btn btn-primary" data-testid="approval-edit-submit" disabled={busy}>
              Approve edited input
            </button>
          )}
          {mode === 'deny' && (
            <button type="submit" className="btn btn-danger" data-testid="approval-deny-submit" disabled={busy}>
              Deny
            </button>
          )}
          {mode !== 'ask' && (
            <button type="button" className="btn btn-ghost" disabled={busy} onClick={cancel}>
              Cancel
            </button>
          )}
        </div>
      </div>
    </form>
  );
}

export function ApprovalPanel({
  sessionId,
  workspace,
  approvals,
  notify,
}: {
  sessionId: string;
  workspace: string;
  approvals: Approvals;
  /** A short message that outlives the card (a toast). */
  notify: (text: string) => void;
}) {
  const { pending, error, refresh, answered } = approvals;
  if (pending.length === 0 && !error) return null;
  return (
    <section className="approval-panel" data-testid="approval-panel" aria-label="Tool calls waiting for approval">
      {error && (
        <div className="form-error row" role="alert" data-testid="approvals-error">
          {error}
          <span className="spacer" />
          <button type="button" className="btn btn-ghost" onClick={refresh}>
            Try again
          </button>
        </div>
      )}
      {pending.map((call) => (
        <ApprovalCard
          key={call.call_id}
          sessionId={sessionId}
          call={call}
          workspace={workspace}
          onAnswered={answered}
          notify={notify}
        />
      ))}
    </section>
  );
}

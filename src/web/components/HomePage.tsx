/**
 * @module web/components/HomePage
 * Start a new session (a task and Start Agent) and reopen any past one.
 */
import { type FormEvent, useEffect, useState } from 'react';
import { api } from '../api/client.ts';
import type { SessionSummary } from '../api/types.ts';
import { navigate } from '../state/route.ts';
import { SessionTable } from './SessionTable.tsx';

const DRAFT_KEY = 'potato.task-draft';

export function HomePage() {
  const [task, setTask] = useState(() => localStorage.getItem(DRAFT_KEY) ?? '');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [sessions, setSessions] = useState<SessionSummary[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);

  useEffect(() => {
    localStorage.setItem(DRAFT_KEY, task);
  }, [task]);

  useEffect(() => {
    let cancelled = false;
    api
      .sessions()
      .then((list) => !cancelled && setSessions(list))
      .catch((e: Error) => !cancelled && setListError(e.message));
    return () => {
      cancelled = true;
    };
  }, []);

  const start = async (e: FormEvent) => {
    e.preventDefault();
    if (!task.trim()) {
      setError('Describe the task for the agent first.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const s = await api.createSession(task.trim());
      localStorage.removeItem(DRAFT_KEY);
      navigate(`/sessions/${encodeURIComponent(s.id)}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };

  return (
    <main className="home">
      <section className="card new-session">
        <h1>New session</h1>
        <form onSubmit={start}>
          <label className="field">
            <span>Task for the agent</span>
            <textarea
              data-testid="task-input"
              rows={4}
              value={task}
              placeholder="e.g. Fix the failing test in tests/test_parser.py caused by the new config format"
              onChange={(e) => setTask(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) void start(e);
              }}
            />
          </label>
          {error && (
            <div className="form-error" role="alert" data-testid="start-error">
              {error}
            </div>
          )}
          <div className="row">
            <span className="muted small">Ctrl+Enter to start</span>
            <span className="spacer" />
            <button type="submit" className="btn btn-primary" disabled={busy} data-testid="start-agent">
              {busy ? 'Starting…' : 'Start Agent'}
            </button>
          </div>
        </form>
      </section>

      <section className="card">
        <h2>Sessions</h2>
        {listError && <div className="form-error">{listError}</div>}
        {sessions === null && !listError && <div className="muted">Loading…</div>}
        {sessions?.length === 0 && <div className="muted">No sessions yet. Start one above.</div>}
        {sessions && sessions.length > 0 && <SessionTable sessions={sessions} />}
      </section>
    </main>
  );
}

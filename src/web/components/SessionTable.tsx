/**
 * @module web/components/SessionTable
 * A list of sessions with filters (status, labelled, rated, and the annotator when the list
 * holds several annotators' sessions): per session its live branch's steps, its branches, how
 * far labelling got and whether the outcome is rated.
 */
import { useMemo, useState } from 'react';
import type { SessionStatus, SessionSummary } from '../api/types.ts';
import { formatDate, shorten } from '../lib/format.ts';
import { navigate } from '../state/route.ts';
import { StatusBadge } from './StatusBadge.tsx';

export interface SessionFilter {
  annotator: string;
  status: '' | SessionStatus;
  labelled: '' | 'complete' | 'incomplete';
  rated: '' | 'rated' | 'unrated';
}

export const NO_FILTER: SessionFilter = { annotator: '', status: '', labelled: '', rated: '' };

const STATUSES: SessionStatus[] = ['created', 'running', 'paused', 'stopped', 'finished', 'failed', 'interrupted'];

export const fullyLabelled = (s: SessionSummary) => s.step_count > 0 && s.labelled_count === s.step_count;

export function applyFilter(list: SessionSummary[], f: SessionFilter): SessionSummary[] {
  return list.filter(
    (s) =>
      (!f.annotator || s.annotator === f.annotator) &&
      (!f.status || s.status === f.status) &&
      (!f.labelled || (f.labelled === 'complete') === fullyLabelled(s)) &&
      (!f.rated || (f.rated === 'rated') === s.rated),
  );
}

export function SessionFilters({
  filter,
  onChange,
  annotators,
}: {
  filter: SessionFilter;
  onChange: (f: SessionFilter) => void;
  /** Offered when the list holds several annotators' sessions. */
  annotators?: string[];
}) {
  const set = <K extends keyof SessionFilter>(k: K, v: SessionFilter[K]) => onChange({ ...filter, [k]: v });
  return (
    <div className="row session-filters" data-testid="session-filters">
      {annotators && (
        <select
          aria-label="Annotator"
          data-testid="filter-annotator"
          value={filter.annotator}
          onChange={(e) => set('annotator', e.target.value)}
        >
          <option value="">All annotators</option>
          {annotators.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>
      )}
      <select
        aria-label="Status"
        data-testid="filter-status"
        value={filter.status}
        onChange={(e) => set('status', e.target.value as SessionFilter['status'])}
      >
        <option value="">Any status</option>
        {STATUSES.map((s) => (
          <option key={s}>{s}</option>
        ))}
      </select>
      <select
        aria-label="Labelled"
        data-testid="filter-labelled"
        value={filter.labelled}
        onChange={(e) => set('labelled', e.target.value as SessionFilter['labelled'])}
      >
        <option value="">Labelled or not</option>
        <option value="complete">Every step labelled</option>
        <option value="incomplete">Steps left to label</option>
      </select>
      <select
        aria-label="Rated"
        data-testid="filter-rated"
        value={filter.rated}
        onChange={(e) => set('rated', e.target.value as SessionFilter['rated'])}
      >
        <option value="">Rated or not</option>
        <option value="rated">Rated</option>
        <option value="unrated">Not rated</option>
      </select>
    </div>
  );
}

export function SessionTable({
  sessions,
  showAnnotator = false,
}: {
  sessions: SessionSummary[];
  showAnnotator?: boolean;
}) {
  const [filter, setFilter] = useState<SessionFilter>(NO_FILTER);
  const shown = useMemo(() => applyFilter(sessions, filter), [sessions, filter]);
  return (
    <>
      <SessionFilters filter={filter} onChange={setFilter} />
      <SessionRows sessions={shown} showAnnotator={showAnnotator} />
    </>
  );
}

export function SessionRows({
  sessions,
  showAnnotator = false,
  openable = () => true,
}: {
  sessions: SessionSummary[];
  showAnnotator?: boolean;
  /** Sessions whose page may be opened (a lead's view of others' sessions is this list). */
  openable?: (s: SessionSummary) => boolean;
}) {
  if (sessions.length === 0) return <div className="muted pad">No session matches.</div>;
  return (
    <table className="session-table" data-testid="session-list">
      <thead>
        <tr>
          <th>Status</th>
          {showAnnotator && <th>Annotator</th>}
          <th>Task</th>
          <th>Started</th>
          <th className="num" title="Steps on the live branch">
            Steps
          </th>
          <th className="num">Branches</th>
          <th className="num">Labelled</th>
          <th>Rated</th>
        </tr>
      </thead>
      <tbody>
        {sessions.map((s) => (
          <tr
            key={s.id}
            data-testid="session-row"
            data-session-id={s.id}
            tabIndex={openable(s) ? 0 : undefined}
            onClick={() => openable(s) && navigate(`/sessions/${encodeURIComponent(s.id)}`)}
            onKeyDown={(e) => e.key === 'Enter' && openable(s) && navigate(`/sessions/${encodeURIComponent(s.id)}`)}
          >
            <td>
              <StatusBadge status={s.status} />
            </td>
            {showAnnotator && <td data-testid="session-annotator">{s.annotator}</td>}
            <td className="task-cell" title={s.task}>
              {shorten(s.task, 110)}
            </td>
            <td className="nowrap">{formatDate(s.created_at)}</td>
            <td className="num" data-testid="session-steps">
              {s.step_count.toLocaleString('en-US')}
            </td>
            <td className="num" data-testid="session-branches">
              {s.branch_count}
            </td>
            <td className="num" data-testid="session-labelled">
              {s.labelled_count} of {s.step_count}
            </td>
            <td data-testid="session-rated">{s.rated ? 'rated' : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

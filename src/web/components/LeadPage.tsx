/**
 * @module web/components/LeadPage
 * The lead's overview (#/lead): sessions per annotator, every annotator's sessions with
 * filters, read-only, and a download of any export format for the project or the filter.
 */
import { useEffect, useState } from 'react';
import { api } from '../api/client.ts';
import type { LeadOverview } from '../api/types.ts';
import { NO_FILTER, type SessionFilter, SessionFilters, SessionRows } from './SessionTable.tsx';

function toQuery(f: SessionFilter): URLSearchParams {
  const q = new URLSearchParams();
  if (f.annotator) q.set('annotator', f.annotator);
  if (f.status) q.set('status', f.status);
  if (f.rated) q.set('rated', f.rated === 'rated' ? 'true' : 'false');
  if (f.labelled) q.set('labelled', f.labelled);
  return q;
}

export function LeadPage() {
  const [filter, setFilter] = useState<SessionFilter>(NO_FILTER);
  const [data, setData] = useState<LeadOverview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [format, setFormat] = useState('trajectories');
  const query = toQuery(filter).toString();

  useEffect(() => {
    let current = true;
    api.leadSessions(query).then(
      (d) => current && setData(d),
      (e: Error) => current && setError(e.message),
    );
    return () => {
      current = false;
    };
  }, [query]);

  const exportQuery = new URLSearchParams(query);
  exportQuery.set('format', format);
  const filtered = query !== '';
  return (
    <main className="home">
      <section className="card">
        <h1>Overview</h1>
        {error && <div className="form-error">{error}</div>}
        {data && (
          <table className="session-table" data-testid="annotator-counts">
            <thead>
              <tr>
                <th>Annotator</th>
                <th className="num">Sessions</th>
                <th className="num">Rated</th>
                <th className="num">Every step labelled</th>
              </tr>
            </thead>
            <tbody>
              {data.annotators.map((a) => (
                <tr key={a.annotator} data-testid="annotator-row" data-annotator={a.annotator}>
                  <td>{a.annotator}</td>
                  <td className="num" data-testid="annotator-sessions">
                    {a.sessions}
                  </td>
                  <td className="num">{a.rated}</td>
                  <td className="num">{a.fully_labelled}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="card">
        <h2>Sessions</h2>
        <SessionFilters
          filter={filter}
          onChange={setFilter}
          annotators={data?.annotators.map((a) => a.annotator) ?? []}
        />
        <div className="row">
          <select
            aria-label="Export format"
            data-testid="export-format"
            value={format}
            onChange={(e) => setFormat(e.target.value)}
          >
            {(data?.export_formats ?? []).map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
          <a className="btn" href={`/api/lead/export?${exportQuery}`} download data-testid="export-download">
            Download {format}.jsonl {filtered ? 'for this filter' : 'for the project'}
          </a>
        </div>
        {data && <SessionRows sessions={data.sessions} showAnnotator />}
      </section>
    </main>
  );
}

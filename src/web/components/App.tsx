/**
 * @module web/components/App
 * The shell: who is logged in, the project config, and which page is open. Pages are chosen
 * by the URL hash (#/ and #/sessions/ID), so any static file server can serve the UI and a
 * reload keeps the annotator where they were.
 */
import { useCallback, useEffect, useState } from 'react';
import { api, setUnauthorizedHandler } from '../api/client.ts';
import type { UiConfig } from '../api/types.ts';
import { navigate, useHashRoute } from '../state/route.ts';
import { HomePage } from './HomePage.tsx';
import { LeadPage } from './LeadPage.tsx';
import { LoginPage } from './LoginPage.tsx';
import { SessionPage } from './SessionPage.tsx';

export function App() {
  const [user, setUser] = useState<string | null | undefined>(undefined);
  const [role, setRole] = useState<'annotator' | 'lead'>('annotator');
  const [config, setConfig] = useState<UiConfig | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);
  const hash = useHashRoute();

  useEffect(() => {
    setUnauthorizedHandler(() => setUser(null));
    api
      .me()
      .then((me) => setUser(me.username))
      // Not logged in (or the server is down): show the login page.
      .catch(() => setUser(null));
  }, []);

  useEffect(() => {
    if (!user) return;
    api.me().then(
      (me) => setRole(me.role),
      () => setRole('annotator'),
    );
    api
      .config()
      .then((c) => {
        setConfig(c);
        document.title = c.project_name;
      })
      .catch((e: Error) => setConfigError(e.message));
  }, [user]);

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } finally {
      setUser(null);
      setConfig(null);
      navigate('/');
    }
  }, []);

  if (user === undefined) return <div className="loading">Loading…</div>;
  if (user === null) return <LoginPage onLogin={setUser} />;
  if (configError) return <div className="page-error">Could not load the project settings: {configError}</div>;
  if (!config) return <div className="loading">Loading…</div>;

  const match = /^#\/sessions\/([^/?]+)/.exec(hash);
  return (
    <div className="app">
      <nav className="topbar">
        <a className="brand" href="#/" data-testid="nav-home">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          {config.project_name}
        </a>
        <span className="topbar-backend muted">backend: {config.backend}</span>
        <span className="spacer" />
        {role === 'lead' && (
          <a className="btn btn-ghost" href="#/lead" data-testid="nav-lead">
            Overview
          </a>
        )}
        <span className="topbar-user" data-testid="current-user">
          {user}
        </span>
        <button type="button" className="btn btn-ghost" data-testid="logout" onClick={logout}>
          Log out
        </button>
      </nav>
      {match ? (
        <SessionPage key={match[1]} id={decodeURIComponent(match[1]!)} config={config} user={user} />
      ) : hash.startsWith('#/lead') && role === 'lead' ? (
        <LeadPage />
      ) : (
        <HomePage />
      )}
    </div>
  );
}

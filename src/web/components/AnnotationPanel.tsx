/**
 * @module web/components/AnnotationPanel
 * Every configured annotation scheme, rendered by type and autosaved as the annotator works.
 * Unsaved answers are kept in localStorage until the server confirms them, so a lost
 * connection or a closed tab loses nothing; they are sent again when the page opens.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api/client.ts';
import type { Annotation, AnnotationScheme, BranchRecord } from '../api/types.ts';
import { annotationKey } from '../state/session.ts';

type Values = Record<string, unknown>;
type SaveState = { kind: 'idle' } | { kind: 'saving' } | { kind: 'saved' } | { kind: 'error'; message: string };

const isEmpty = (v: unknown) =>
  v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) || Number.isNaN(v);

const draftKey = (sessionId: string, scope: string | null) => `potato.annotations.${sessionId}.${scope ?? 'session'}`;

function SchemeInput({
  scheme,
  value,
  onChange,
}: {
  scheme: AnnotationScheme;
  value: unknown;
  onChange: (v: unknown, immediate: boolean) => void;
}) {
  const id = `scheme-${scheme.name}`;
  switch (scheme.annotation_type) {
    case 'radio':
      return (
        <div className="choices" role="radiogroup" aria-labelledby={`${id}-label`}>
          {scheme.options.map((o) => (
            <label key={o.value} className={`choice${value === o.value ? ' selected' : ''}`}>
              <input
                type="radio"
                name={id}
                value={o.value}
                data-testid={`${id}-${o.value}`}
                checked={value === o.value}
                onChange={() => onChange(o.value, true)}
              />
              {o.text ?? o.value}
            </label>
          ))}
        </div>
      );
    case 'select':
      return (
        <select
          data-testid={id}
          value={typeof value === 'string' ? value : ''}
          onChange={(e) => onChange(e.target.value || null, true)}
        >
          <option value="">Choose…</option>
          {scheme.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.text ?? o.value}
            </option>
          ))}
        </select>
      );
    case 'multiselect':
    case 'checkbox': {
      const list = Array.isArray(value) ? (value as string[]) : [];
      return (
        <div className="choices">
          {scheme.options.map((o) => (
            <label key={o.value} className={`choice${list.includes(o.value) ? ' selected' : ''}`}>
              <input
                type="checkbox"
                data-testid={`${id}-${o.value}`}
                checked={list.includes(o.value)}
                onChange={(e) =>
                  onChange(e.target.checked ? [...list, o.value] : list.filter((x) => x !== o.value), true)
                }
              />
              {o.text ?? o.value}
            </label>
          ))}
        </div>
      );
    }
    case 'likert':
      return (
        <div className="likert">
          {scheme.min_label && <span className="muted small">{scheme.min_label}</span>}
          {Array.from({ length: scheme.size }, (_, i) => i + 1).map((n) => (
            <button
              type="button"
              key={n}
              data-testid={`${id}-${n}`}
              aria-pressed={value === n}
              className={`likert-btn${value === n ? ' selected' : ''}`}
              onClick={() => onChange(value === n ? null : n, true)}
            >
              {n}
            </button>
          ))}
          {scheme.max_label && <span className="muted small">{scheme.max_label}</span>}
        </div>
      );
    case 'number':
      return (
        <input
          type="number"
          data-testid={id}
          min={scheme.min}
          max={scheme.max}
          value={typeof value === 'number' ? value : ''}
          onChange={(e) => onChange(e.target.value === '' ? null : Number(e.target.value), false)}
        />
      );
    case 'text_input':
      return scheme.multiline ? (
        <textarea
          data-testid={id}
          rows={4}
          placeholder={scheme.placeholder}
          value={typeof value === 'string' ? value : ''}
          onChange={(e) => onChange(e.target.value, false)}
        />
      ) : (
        <input
          data-testid={id}
          placeholder={scheme.placeholder}
          value={typeof value === 'string' ? value : ''}
          onChange={(e) => onChange(e.target.value, false)}
        />
      );
  }
}

function problem(scheme: AnnotationScheme, value: unknown): string | null {
  if (isEmpty(value)) return scheme.required ? 'This answer is required.' : null;
  if (scheme.annotation_type === 'number' && typeof value === 'number') {
    if (scheme.min !== undefined && value < scheme.min) return `Must be at least ${scheme.min}.`;
    if (scheme.max !== undefined && value > scheme.max) return `Must be at most ${scheme.max}.`;
  }
  return null;
}

export function AnnotationPanel({
  sessionId,
  schemes,
  annotations,
  branches,
  ended,
}: {
  sessionId: string;
  schemes: AnnotationScheme[];
  annotations: Map<string, Annotation>;
  branches: Map<string, BranchRecord>;
  ended: boolean;
}) {
  const [scope, setScope] = useState<string | null>(null);
  const server = useMemo(() => {
    const v: Values = {};
    for (const s of schemes) v[s.name] = annotations.get(annotationKey(scope, s.name))?.value;
    return v;
  }, [schemes, annotations, scope]);
  const [dirty, setDirty] = useState<Values>(() => {
    try {
      return JSON.parse(localStorage.getItem(draftKey(sessionId, null)) ?? '{}') as Values;
    } catch {
      // A corrupt saved draft is dropped: the stored annotations are the truth.
      return {};
    }
  });
  /**
   * Answers the server has confirmed but the live stream has not brought back yet: shown until
   * it does, or the answer would blink back to the old value between the save and its event.
   */
  const [confirmed, setConfirmed] = useState<Values>({});
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [save, setSave] = useState<SaveState>({ kind: 'idle' });
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const dirtyRef = useRef(dirty);
  dirtyRef.current = dirty;

  const flush = useCallback(async () => {
    clearTimeout(timer.current);
    const pending = dirtyRef.current;
    const answers: Values = {};
    for (const s of schemes) {
      if (!(s.name in pending)) continue;
      // A required answer left empty is reported here, not sent to be refused.
      if (problem(s, pending[s.name])) continue;
      answers[s.name] = pending[s.name];
    }
    if (Object.keys(answers).length === 0) return;
    setSave({ kind: 'saving' });
    try {
      await api.saveAnnotations(sessionId, scope, answers);
      const rest = { ...dirtyRef.current };
      for (const [k, v] of Object.entries(answers)) if (rest[k] === v) delete rest[k];
      setConfirmed((c) => ({ ...c, ...answers }));
      setDirty(rest);
      setSave({ kind: 'saved' });
    } catch (e) {
      setSave({ kind: 'error', message: (e as Error).message });
      timer.current = setTimeout(flush, 5000);
    }
  }, [schemes, sessionId, scope]);

  useEffect(() => {
    const key = draftKey(sessionId, scope);
    if (Object.keys(dirty).length) localStorage.setItem(key, JSON.stringify(dirty));
    else localStorage.removeItem(key);
  }, [dirty, sessionId, scope]);

  // Answers left from an earlier visit are sent again right away.
  useEffect(() => {
    if (Object.keys(dirtyRef.current).length) void flush();
  }, [flush]);

  useEffect(() => () => clearTimeout(timer.current), []);

  // The stream brought an answer back, or another tab changed it: the server's value is shown from now on.
  const lastServer = useRef(server);
  useEffect(() => {
    const before = lastServer.current;
    lastServer.current = server;
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    setConfirmed((c) => {
      const arrived = Object.keys(c).filter((k) => same(server[k], c[k]) || !same(server[k], before[k]));
      if (arrived.length === 0) return c;
      const rest = { ...c };
      for (const k of arrived) delete rest[k];
      return rest;
    });
  }, [server]);

  const change = (name: string, value: unknown, immediate: boolean) => {
    setDirty((d) => ({ ...d, [name]: value }));
    dirtyRef.current = { ...dirtyRef.current, [name]: value };
    setTouched((t) => new Set(t).add(name));
    clearTimeout(timer.current);
    timer.current = setTimeout(flush, immediate ? 0 : 600);
  };

  const switchScope = (next: string | null) => {
    void flush();
    setScope(next);
    try {
      setDirty(JSON.parse(localStorage.getItem(draftKey(sessionId, next)) ?? '{}') as Values);
    } catch {
      // A corrupt saved draft is dropped: the stored annotations are the truth.
      setDirty({});
    }
    setConfirmed({});
    setTouched(new Set());
  };

  const values: Values = { ...server, ...confirmed, ...dirty };
  const missing = schemes.filter((s) => s.required && isEmpty(values[s.name]));
  const branchList = [...branches.values()].sort((a, b) => a.created_at - b.created_at);

  return (
    <div className="annotation-panel" data-testid="annotation-panel">
      <div className="panel-title">
        Annotation
        <span className="spacer" />
        <span className={`save-state save-${save.kind}`} data-testid="annotation-save-state">
          {save.kind === 'saving'
            ? 'Saving…'
            : save.kind === 'saved'
              ? 'All changes saved'
              : save.kind === 'error'
                ? 'Not saved'
                : ''}
        </span>
      </div>
      {branchList.length > 1 && (
        <label className="field compact">
          <span>Answers about</span>
          <select
            data-testid="annotation-scope"
            value={scope ?? ''}
            onChange={(e) => switchScope(e.target.value || null)}
          >
            <option value="">The whole session</option>
            {branchList.map((b) => (
              <option key={b.id} value={b.id}>
                {b.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {save.kind === 'error' && (
        <div className="form-error" role="alert" data-testid="annotation-error">
          {save.message} — will retry.
        </div>
      )}
      {schemes.length === 0 && <div className="muted small">No annotation schemes are configured.</div>}
      {schemes.map((s) => {
        const msg = problem(s, values[s.name]);
        const show = msg && (touched.has(s.name) || ended || !isEmpty(values[s.name]));
        return (
          <fieldset key={s.name} className="scheme" data-testid={`scheme-${s.name}-field`}>
            <legend id={`scheme-${s.name}-label`}>
              {s.label ?? s.name}
              {s.required && (
                <span className="required" title="required">
                  {' '}
                  *
                </span>
              )}
            </legend>
            {s.description && <div className="muted small">{s.description}</div>}
            <SchemeInput scheme={s} value={values[s.name]} onChange={(v, now) => change(s.name, v, now)} />
            {show && (
              <div className="field-error" data-testid={`scheme-${s.name}-error`}>
                {msg}
              </div>
            )}
          </fieldset>
        );
      })}
      {missing.length > 0 && ended && (
        <div className="muted small" data-testid="annotation-missing">
          {missing.length} required answer{missing.length > 1 ? 's' : ''} still missing.
        </div>
      )}
    </div>
  );
}

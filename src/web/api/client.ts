/**
 * @module web/api/client
 * Every HTTP call the UI makes, in one place. Errors carry the server's message so a
 * component can show it as it is.
 */
import type {
  Annotation,
  ApprovalBody,
  LeadOverview,
  PendingApproval,
  RollbackBody,
  SessionRecord,
  SessionResult,
  SessionSnapshot,
  SessionSummary,
  Step,
  StepLabel,
  StepLabelValue,
  UiConfig,
} from './types.ts';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called on any 401 so the app can show the login page again. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

/** The server closes a live socket with this code when its login ends (logout elsewhere, expiry). */
export const LOGIN_ENDED_CLOSE_CODE = 4401;

/** A socket closed because the login ended: back to the login page, as for a 401. */
export function loginEnded(): void {
  onUnauthorized();
}

async function request<T>(method: string, path: string, body?: unknown, opts: { quiet401?: boolean } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    // fetch rejects only when there is no answer at all: the message says so.
    throw new ApiError('Cannot reach the server. Check that it is running, then try again.', 0);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page): the status below still tells what happened.
    data = null;
  }
  if (!res.ok) {
    const err = (data ?? {}) as { error?: string; code?: string };
    if (res.status === 401 && !opts.quiet401) onUnauthorized();
    throw new ApiError(err.error ?? `${method} ${path} failed with HTTP ${res.status}`, res.status, err.code);
  }
  return data as T;
}

const enc = encodeURIComponent;
const s = (id: string) => `/api/sessions/${enc(id)}`;

export const api = {
  login: (username: string, password: string) =>
    request<{ username: string }>('POST', '/api/login', { username, password }, { quiet401: true }),
  logout: () => request<void>('POST', '/api/logout'),
  me: () => request<{ username: string; role: 'annotator' | 'lead' }>('GET', '/api/me', undefined, { quiet401: true }),
  /** The lead's overview (404 for anyone else); `query` holds the filters. */
  leadSessions: (query: string) => request<LeadOverview>('GET', `/api/lead/sessions${query ? `?${query}` : ''}`),
  config: () => request<UiConfig>('GET', '/api/config'),
  sessions: () => request<SessionSummary[]>('GET', '/api/sessions'),
  createSession: (task: string) => request<SessionRecord>('POST', '/api/sessions', { task }),
  session: (id: string) => request<SessionSnapshot>('GET', s(id)),
  /** One step whole (the snapshot and the socket may send previews of its large fields). */
  step: (id: string, stepId: string) => request<Step>('GET', `${s(id)}/steps/${enc(stepId)}`),
  pause: (id: string) => request<void>('POST', `${s(id)}/pause`),
  resume: (id: string) => request<void>('POST', `${s(id)}/resume`),
  stop: (id: string) => request<void>('POST', `${s(id)}/stop`),
  instruction: (id: string, text: string) => request<void>('POST', `${s(id)}/instruction`, { text }),
  rollback: (id: string, body: RollbackBody) => request<void>('POST', `${s(id)}/rollback`, body),
  continue: (id: string, instruction?: string) =>
    request<void>('POST', `${s(id)}/continue`, instruction ? { instruction } : {}),
  /** Tool calls waiting for the annotator (claude_agent_sdk in ask mode), oldest first. */
  approvals: (id: string) => request<PendingApproval[]>('GET', `${s(id)}/approvals`),
  answerApproval: (id: string, callId: string, body: ApprovalBody) =>
    request<void>('POST', `${s(id)}/approvals/${enc(callId)}`, body),
  saveAnnotations: (id: string, branchId: string | null, answers: Record<string, unknown>) =>
    request<Annotation[]>('PUT', `${s(id)}/annotations`, { branch_id: branchId, answers }),
  saveLabel: (id: string, stepId: string, label: StepLabelValue, firstError: boolean) =>
    request<StepLabel>('PUT', `${s(id)}/labels/${enc(stepId)}`, { label, first_error: firstError }),
  deleteLabel: (id: string, stepId: string) => request<void>('DELETE', `${s(id)}/labels/${enc(stepId)}`),
  /** Where the session's workspace is, and per branch its git log command and patch address. */
  result: (id: string) => request<SessionResult>('GET', `${s(id)}/result`),
  tree: (id: string, commit?: string) =>
    request<{ commit: string; files: string[] }>('GET', `${s(id)}/tree${commit ? `?commit=${enc(commit)}` : ''}`),
  file: (id: string, path: string, commit?: string) =>
    request<{ path: string; commit: string; content: string }>(
      'GET',
      `${s(id)}/file?path=${enc(path)}${commit ? `&commit=${enc(commit)}` : ''}`,
    ),
};

export function eventsUrl(id: string, after: number): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${s(id)}/events?after=${after}`;
}

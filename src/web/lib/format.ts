/**
 * @module web/lib/format
 * The words the UI uses for steps, statuses and numbers, in one place so the trace, the
 * rollback dropdown and the branch tree say the same thing.
 */
import type { AgentActivity } from '../../session/events.ts';
import type { SessionRecord, Step, TokenUsage } from '../api/types.ts';

/** "1 step", "2 steps": a count with its noun. */
export function plural(n: number, noun: string, many = `${noun}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? noun : many}`;
}

export function shorten(text: string, max = 60): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** "Edit src/parser.py", "Run `pytest -q`": what a step did, in a few words. */
export function stepAction(step: Step): string {
  const p = step.payload;
  switch (p.type) {
    case 'thinking':
      return p.content ? `Think: ${shorten(p.content, 48)}` : 'Think';
    case 'message':
      return `Say: ${shorten(p.content, 48)}`;
    case 'file_read':
      return `Read ${p.path}`;
    case 'file_edit':
      return `Edit ${p.path}`;
    case 'file_write':
      return `${p.created ? 'Create' : 'Write'} ${p.path}`;
    case 'bash_command':
      return `Run ${shorten(p.command, 48)}`;
    case 'directory_list':
      return `List ${p.path || '.'}`;
    case 'file_search':
      return `Search "${shorten(p.pattern, 32)}"${p.path && p.path !== '.' ? ` in ${p.path}` : ''}`;
    case 'error':
      return `Error: ${shorten(p.message, 48)}`;
    default: {
      const never: never = p;
      return String(never);
    }
  }
}

/** A failure of the backend or the engine recorded as a step: the session's error, nothing to label. */
export function isSessionFailure(step: Step): boolean {
  const p = step.payload;
  return p.type === 'error' && (p.kind === 'backend' || p.kind === 'internal' || p.kind === 'timeout');
}

export const stepLabel = (step: Step) => `Step ${step.step_idx}: ${stepAction(step)}`;

const ACTIVITY: Record<AgentActivity, string> = {
  starting: 'Starting...',
  thinking: 'Thinking...',
  writing: 'Writing...',
  reading_file: 'Reading file...',
  editing_file: 'Editing file...',
  running_command: 'Running command...',
  listing: 'Listing directory...',
  searching: 'Searching...',
  waiting_approval: 'Waiting for approval...',
  retrying: 'Retrying...',
  idle: 'Working...',
};

export function statusText(session: SessionRecord, activity: AgentActivity, message: string | null): string {
  switch (session.status) {
    case 'created':
      return 'Starting...';
    case 'running':
      if (activity === 'retrying') return message ?? 'Retrying...';
      return ACTIVITY[activity] ?? 'Working...';
    case 'paused':
      return 'Paused';
    case 'stopped':
      return 'Stopped';
    case 'finished':
      return 'Finished';
    case 'failed':
      return `Failed: ${session.end_reason ?? message ?? 'unknown error'}`;
    case 'interrupted':
      return 'Interrupted';
  }
}

export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  const mm = String(m).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

export const formatTokens = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toLocaleString('en-US'));

/** The parts of a token count, for a tooltip: cached input apart from the rest. */
export function usageTitle(u: TokenUsage): string {
  const parts = [`${u.input_tokens.toLocaleString('en-US')} uncached`];
  if (u.cache_read_input_tokens) parts.push(`${u.cache_read_input_tokens.toLocaleString('en-US')} read from cache`);
  if (u.cache_creation_input_tokens) {
    parts.push(`${u.cache_creation_input_tokens.toLocaleString('en-US')} written to cache`);
  }
  return `Input tokens: ${parts.join(' + ')}; output tokens: ${u.output_tokens.toLocaleString('en-US')}`;
}

export const formatDate = (ms: number) =>
  new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

const EXT_LANG: Record<string, string> = {
  py: 'python',
  js: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  jsx: 'javascript',
  ts: 'typescript',
  tsx: 'typescript',
  mts: 'typescript',
  json: 'json',
  yaml: 'yaml',
  yml: 'yaml',
  toml: 'ini',
  ini: 'ini',
  cfg: 'ini',
  sh: 'bash',
  bash: 'bash',
  md: 'markdown',
  css: 'css',
  html: 'xml',
  xml: 'xml',
  go: 'go',
  rs: 'rust',
  java: 'java',
  c: 'c',
  h: 'c',
  cpp: 'cpp',
  cc: 'cpp',
  hpp: 'cpp',
  rb: 'ruby',
  sql: 'sql',
  diff: 'diff',
  patch: 'diff',
};

export function languageOf(path: string): string | undefined {
  const base = path.split('/').pop() ?? '';
  if (base === 'Dockerfile') return 'dockerfile';
  if (base === 'Makefile') return 'makefile';
  const ext = base.includes('.') ? base.split('.').pop()!.toLowerCase() : '';
  return EXT_LANG[ext];
}

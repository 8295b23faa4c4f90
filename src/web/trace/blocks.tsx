/**
 * @module web/trace/blocks
 * The display blocks of the trace: code with line numbers, unified diffs, terminal output with
 * ANSI colours. Big contents are cut to their first lines until "show all" is clicked, so a
 * long session stays light; highlighting runs only for blocks that are actually rendered.
 * A text the server sent as a preview (`cut`) says how long it really is, and "show all"
 * fetches the whole step first.
 */
import Anser from 'anser';
import { parsePatch } from 'diff';
import { useMemo, useState } from 'react';
import type { CutField } from '../api/types.ts';
import { highlight } from '../lib/highlight.ts';
import { type CommandEnd, commandOutcome, endedEarly } from './command-outcome.ts';

/** Lines shown before "show all". */
export const COLLAPSED_LINES = 30;

/** A text that is the server's preview of a longer one: its full size, and how to fetch it. */
export type Cut = CutField & { load: () => void; loading: boolean };

function ShowAll({
  hidden,
  hiddenChars = 0,
  loading = false,
  onClick,
}: {
  hidden: number;
  hiddenChars?: number;
  loading?: boolean;
  onClick: () => void;
}) {
  const more =
    hidden > 0
      ? `${hidden.toLocaleString('en-US')} more line${hidden === 1 ? '' : 's'}`
      : `${hiddenChars.toLocaleString('en-US')} more characters`;
  return (
    <button type="button" className="show-all" data-testid="show-all" onClick={onClick} disabled={loading}>
      {loading ? 'Loading…' : `Show all (${more})`}
    </button>
  );
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return lines;
}

interface CutView {
  shown: string;
  /** Lines not shown; with `hiddenChars`, what the "show all" button offers. */
  hidden: number;
  hiddenChars: number;
  /** A button is due (something is not shown yet). */
  more: boolean;
  loading: boolean;
  expand: () => void;
}

/** What a block shows of `text` before and after "show all". */
function cutView(text: string, all: boolean, cut: Cut | undefined, expand: () => void): CutView {
  const lines = splitLines(text);
  if (!cut) {
    if (all || lines.length <= COLLAPSED_LINES + 5)
      return { shown: lines.join('\n'), hidden: 0, hiddenChars: 0, more: false, loading: false, expand };
    const shown = lines.slice(0, COLLAPSED_LINES).join('\n');
    return { shown, hidden: lines.length - COLLAPSED_LINES, hiddenChars: 0, more: true, loading: false, expand };
  }
  // A preview: "show all" asks for the whole step; until it arrives the preview stays.
  const count = all ? lines.length : Math.min(COLLAPSED_LINES, lines.length);
  const shown = lines.slice(0, count).join('\n');
  return {
    shown,
    hidden: Math.max(0, cut.lines - count),
    hiddenChars: Math.max(0, cut.chars - shown.length),
    more: true,
    loading: all && cut.loading,
    expand,
  };
}

function useCut(text: string, cut: Cut | undefined): CutView {
  const [all, setAll] = useState(false);
  const load = cut?.load;
  const expand = useMemo(
    () => () => {
      setAll(true);
      load?.();
    },
    [load],
  );
  return useMemo(() => cutView(text, all, cut, expand), [text, all, cut, expand]);
}

export function CodeBlock({
  code,
  language,
  startLine = 1,
  cut,
}: {
  code: string;
  language: string | undefined;
  startLine?: number;
  cut?: Cut;
}) {
  const { shown, hidden, hiddenChars, more, loading, expand } = useCut(code, cut);
  const html = useMemo(() => highlight(shown, language), [shown, language]);
  const count = shown === '' ? 1 : shown.split('\n').length;
  const gutter = useMemo(
    () => Array.from({ length: count }, (_, i) => String(startLine + i)).join('\n'),
    [count, startLine],
  );
  return (
    <div className="code-block" data-testid="code-block" data-language={language ?? 'plaintext'}>
      <div className="code-scroll">
        <pre className="gutter" aria-hidden="true">
          {gutter}
        </pre>
        {/* biome-ignore lint/security/noDangerouslySetInnerHtml: highlight.js output escapes the source text */}
        <pre className="code hljs" dangerouslySetInnerHTML={{ __html: html }} />
      </div>
      {more && <ShowAll hidden={hidden} hiddenChars={hiddenChars} loading={loading} onClick={expand} />}
    </div>
  );
}

interface DiffRow {
  kind: 'hunk' | 'add' | 'del' | 'ctx' | 'meta';
  text: string;
  oldNo?: number;
  newNo?: number;
}

function diffRows(diff: string): { rows: DiffRow[]; added: number; removed: number } {
  const rows: DiffRow[] = [];
  let added = 0;
  let removed = 0;
  let patches: ReturnType<typeof parsePatch>;
  try {
    patches = parsePatch(diff);
  } catch {
    // Not a unified diff: shown as plain lines.
    return { rows: diff.split('\n').map((text) => ({ kind: 'ctx', text })), added, removed };
  }
  for (const patch of patches) {
    for (const hunk of patch.hunks) {
      rows.push({
        kind: 'hunk',
        text: `@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@`,
      });
      let o = hunk.oldStart;
      let n = hunk.newStart;
      for (const line of hunk.lines) {
        const mark = line[0];
        const text = line.slice(1);
        if (mark === '+') {
          rows.push({ kind: 'add', text, newNo: n++ });
          added++;
        } else if (mark === '-') {
          rows.push({ kind: 'del', text, oldNo: o++ });
          removed++;
        } else if (mark === '\\') rows.push({ kind: 'meta', text: line });
        else rows.push({ kind: 'ctx', text, oldNo: o++, newNo: n++ });
      }
    }
  }
  return { rows, added, removed };
}

export function DiffBlock({ diff, cut }: { diff: string; cut?: Cut }) {
  const [all, setAll] = useState(false);
  const parsed = useMemo(() => diffRows(diff), [diff]);
  const { rows } = parsed;
  const added = cut?.added ?? parsed.added;
  const removed = cut?.removed ?? parsed.removed;
  const limit =
    all || (!cut && rows.length <= COLLAPSED_LINES + 10) ? rows.length : Math.min(COLLAPSED_LINES, rows.length);
  // A preview's rows stop where its text stops; the lines after it are hidden too.
  const hidden = rows.length - limit + (cut ? Math.max(0, cut.lines - splitLines(diff).length) : 0);
  const expand = () => {
    setAll(true);
    cut?.load();
  };
  const sign = { add: '+', del: '-', ctx: ' ', hunk: '', meta: '' };
  return (
    <div className="diff-block" data-testid="diff-block">
      <div className="diff-stat">
        <span className="diff-added">+{added}</span> <span className="diff-removed">−{removed}</span>
      </div>
      <div className="code-scroll">
        <table className="diff">
          <tbody>
            {rows.slice(0, limit).map((r, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: diff rows have no identity beyond position
              <tr key={i} className={`diff-${r.kind}`} data-testid={`diff-line-${r.kind}`}>
                <td className="ln">{r.oldNo ?? ''}</td>
                <td className="ln">{r.newNo ?? ''}</td>
                <td className="diff-text">
                  <span className="diff-sign">{sign[r.kind]}</span>
                  {r.text}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {(cut || limit < rows.length) && (
        <ShowAll
          hidden={hidden}
          hiddenChars={cut ? cut.chars - diff.length : 0}
          loading={all && cut?.loading}
          onClick={expand}
        />
      )}
    </div>
  );
}

function AnsiText({ text }: { text: string }) {
  const parts = useMemo(() => Anser.ansiToJson(text, { json: true, remove_empty: true, use_classes: false }), [text]);
  return (
    <>
      {parts.map((p, i) => {
        const style: React.CSSProperties = {};
        if (p.fg) style.color = `rgb(${p.fg})`;
        if (p.bg) style.backgroundColor = `rgb(${p.bg})`;
        const deco = p.decorations ?? [];
        if (deco.includes('bold')) style.fontWeight = 600;
        if (deco.includes('italic')) style.fontStyle = 'italic';
        if (deco.includes('underline')) style.textDecoration = 'underline';
        if (deco.includes('dim')) style.opacity = 0.7;
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: spans of one output, stable order
          <span key={i} style={style}>
            {p.content}
          </span>
        );
      })}
    </>
  );
}

export function TerminalBlock({
  command,
  output,
  truncated = false,
  cut,
  ...end
}: CommandEnd & {
  command: string;
  output: string;
  truncated?: boolean;
  cut?: Cut;
}) {
  const { refused } = end;
  // A refused command ran nothing: its output, if any, only repeats the refusal.
  const { shown, hidden, hiddenChars, more, loading, expand } = useCut(
    refused ? '' : output,
    refused ? undefined : cut,
  );
  const outcome = commandOutcome(end);
  const status = outcome && (
    <span className={`exit exit-${outcome.tone}`} data-testid={end.serverCut ? 'terminal-cut' : undefined}>
      {outcome.text}
    </span>
  );
  return (
    <div className="terminal" data-testid="terminal-block">
      <div className="terminal-cmd">
        <span className="prompt">$</span> <span data-testid="terminal-command">{command}</span>
      </div>
      {shown && (
        <pre className="terminal-out" data-testid="terminal-output">
          <AnsiText text={shown} />
        </pre>
      )}
      {more && <ShowAll hidden={hidden} hiddenChars={hiddenChars} loading={loading} onClick={expand} />}
      {!shown && endedEarly(end) && <pre className="terminal-out muted">(no output before it was cut)</pre>}
      <div className="terminal-foot" data-testid="terminal-exit">
        {status}
        {truncated && <span className="muted"> · output truncated</span>}
      </div>
    </div>
  );
}

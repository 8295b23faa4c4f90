/**
 * @module web/components/FileTree
 * The workspace's files, each marked read / created / modified by the steps on the path
 * shown, updated as steps arrive; a click opens the file's content at that point.
 */
import { useEffect, useMemo, useState } from 'react';
import { api } from '../api/client.ts';
import type { Step } from '../api/types.ts';
import { languageOf } from '../lib/format.ts';
import { CodeBlock } from '../trace/blocks.tsx';

/** mod2.py before mod10.py, as a person sorts names. */
const byName = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' });

export type FileMark = 'read' | 'created' | 'modified';

/** What the path did to each file; a later, stronger mark wins (created > modified > read). */
export function fileMarks(path: Step[]): Map<string, FileMark> {
  const marks = new Map<string, FileMark>();
  const rank = { read: 0, modified: 1, created: 2 };
  const put = (p: string, m: FileMark) => {
    const old = marks.get(p);
    if (!old || rank[m] > rank[old]) marks.set(p, m);
  };
  for (const s of path) {
    const p = s.payload;
    if (p.type === 'file_read') put(p.path, 'read');
    else if (p.type === 'file_edit' || p.type === 'file_write') put(p.path, p.created ? 'created' : 'modified');
  }
  return marks;
}

interface Dir {
  dirs: Map<string, Dir>;
  files: string[];
}

function buildTree(paths: Iterable<string>): Dir {
  const root: Dir = { dirs: new Map(), files: [] };
  for (const full of paths) {
    const parts = full.replace(/^\.\//, '').split('/').filter(Boolean);
    let d = root;
    for (const part of parts.slice(0, -1)) {
      let next = d.dirs.get(part);
      if (!next) {
        next = { dirs: new Map(), files: [] };
        d.dirs.set(part, next);
      }
      d = next;
    }
    const last = parts.at(-1);
    if (last && !d.files.includes(last)) d.files.push(last);
  }
  return root;
}

const MARK_LETTER: Record<FileMark, string> = { read: 'R', created: 'C', modified: 'M' };

function DirView({
  dir,
  prefix,
  marks,
  onOpen,
  depth,
}: {
  dir: Dir;
  prefix: string;
  marks: Map<string, FileMark>;
  onOpen: (path: string) => void;
  depth: number;
}) {
  const [closed, setClosed] = useState<Set<string>>(new Set());
  return (
    <ul className="tree-list">
      {[...dir.dirs.keys()].sort(byName).map((name) => {
        const open = !closed.has(name);
        return (
          <li key={name}>
            <button
              type="button"
              className="tree-dir"
              style={{ paddingLeft: 8 + depth * 12 }}
              onClick={() =>
                setClosed((c) => {
                  const n = new Set(c);
                  if (n.has(name)) n.delete(name);
                  else n.add(name);
                  return n;
                })
              }
            >
              {open ? '▾' : '▸'} {name}
            </button>
            {open && (
              <DirView
                dir={dir.dirs.get(name)!}
                prefix={`${prefix}${name}/`}
                marks={marks}
                onOpen={onOpen}
                depth={depth + 1}
              />
            )}
          </li>
        );
      })}
      {[...dir.files].sort(byName).map((name) => {
        const full = `${prefix}${name}`;
        const mark = marks.get(full);
        return (
          <li key={name}>
            <button
              type="button"
              className={`tree-file${mark ? ` mark-${mark}` : ''}`}
              style={{ paddingLeft: 8 + depth * 12 }}
              data-testid="tree-file"
              data-path={full}
              data-mark={mark ?? ''}
              onClick={() => onOpen(full)}
              title={mark ? `${full} (${mark})` : full}
            >
              <span className="tree-name">{name}</span>
              {mark && <span className={`mark mark-${mark}`}>{MARK_LETTER[mark]}</span>}
            </button>
          </li>
        );
      })}
    </ul>
  );
}

export function FileTree({
  sessionId,
  path,
  commit,
  onOpen,
}: {
  sessionId: string;
  path: Step[];
  /** Checkpoint to list; undefined: the workspace's current head. */
  commit: string | undefined;
  onOpen: (path: string) => void;
}) {
  const marks = useMemo(() => fileMarks(path), [path]);
  const changes = useMemo(() => path.filter((s) => s.changed_files).length, [path]);
  const [files, setFiles] = useState<string[]>([]);
  // Re-list the workspace when the path changes files, at most about once a second.
  // biome-ignore lint/correctness/useExhaustiveDependencies: `changes` is the trigger, not an input
  useEffect(() => {
    let cancelled = false;
    const t = setTimeout(() => {
      api
        .tree(sessionId, commit)
        .then((r) => !cancelled && setFiles(r.files))
        // The last list stays shown; the next checkpoint or commit change loads it again.
        .catch(() => {});
    }, 300);
    return () => {
      cancelled = true;
      clearTimeout(t);
    };
  }, [sessionId, commit, changes]);
  const tree = useMemo(() => buildTree(new Set([...files, ...marks.keys()])), [files, marks]);
  return (
    <div className="file-tree" data-testid="file-tree">
      <div className="panel-title">
        Files
        <span className="legend">
          <span className="mark mark-read">R</span> read <span className="mark mark-modified">M</span> modified{' '}
          <span className="mark mark-created">C</span> created
        </span>
      </div>
      {files.length === 0 && marks.size === 0 ? (
        <div className="muted small pad">No files yet</div>
      ) : (
        <DirView dir={tree} prefix="" marks={marks} onOpen={onOpen} depth={0} />
      )}
    </div>
  );
}

export function FileViewer({
  sessionId,
  path,
  commit,
  onClose,
}: {
  sessionId: string;
  path: string;
  commit: string | undefined;
  onClose: () => void;
}) {
  const [content, setContent] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .file(sessionId, path, commit)
      .then((r) => setContent(r.content))
      .catch((e: Error) => setError(e.message));
  }, [sessionId, path, commit]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a click outside closes; Escape is handled above
    <div className="modal-backdrop" onClick={onClose} onKeyDown={() => {}}>
      <div
        className="modal modal-wide"
        role="dialog"
        aria-label={path}
        data-testid="file-viewer"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={() => {}}
      >
        <div className="row">
          <h2 className="mono">{path}</h2>
          <span className="spacer" />
          <button type="button" className="btn btn-ghost" data-testid="file-viewer-close" onClick={onClose}>
            Close
          </button>
        </div>
        {error && <div className="form-error">{error}</div>}
        {content === null && !error && <div className="muted">Loading…</div>}
        {content !== null && <CodeBlock code={content} language={languageOf(path)} />}
      </div>
    </div>
  );
}

/**
 * @module web/trace/StepBlock
 * One step of the trace, drawn by its type, with its PRM label buttons; and the blocks for a
 * step still streaming (a partial) and for an annotator's intervention. A step whose large
 * fields came as previews is fetched whole when the annotator expands one of them.
 */
import { memo, useState } from 'react';
import { type Citation, inputTotal } from '../../steps/types.ts';
import type { Intervention, Step, StepLabel, StepLabelValue } from '../api/types.ts';
import { formatTokens, isSessionFailure, languageOf, stepAction, usageTitle } from '../lib/format.ts';
import { moveSentence } from '../lib/markers.ts';
import type { Partial } from '../state/session.ts';
import { CodeBlock, type Cut, DiffBlock, TerminalBlock } from './blocks.tsx';
import { cutCommand } from './command-outcome.ts';
import { type FullStep, useFullStep } from './fullStep.ts';
import { StepLink } from './jump.tsx';

export interface LabelHandlers {
  onLabel: (step: Step, label: StepLabelValue | null, firstError: boolean) => void;
}

const LABELS: { value: StepLabelValue; text: string; icon: string }[] = [
  { value: 'correct', text: 'Correct', icon: '✓' },
  { value: 'incorrect', text: 'Incorrect', icon: '✗' },
  { value: 'unsure', text: 'Unsure', icon: '?' },
];

function StepLabels({ step, label, onLabel }: { step: Step; label: StepLabel | undefined } & LabelHandlers) {
  const current = label?.label ?? null;
  const firstError = label?.first_error ?? false;
  return (
    <div className="step-labels" data-testid="step-labels">
      {LABELS.map((l) => (
        <button
          type="button"
          key={l.value}
          title={l.text}
          aria-pressed={current === l.value}
          data-testid={`label-${l.value}`}
          className={`label-btn label-${l.value}${current === l.value ? ' active' : ''}`}
          onClick={() => onLabel(step, current === l.value ? null : l.value, current === l.value ? false : firstError)}
        >
          <span aria-hidden="true">{l.icon}</span> {l.text}
        </button>
      ))}
      <button
        type="button"
        aria-pressed={firstError}
        data-testid="label-first-error"
        className={`label-btn label-first-error${firstError ? ' active' : ''}`}
        title="Mark this step as the first error on the path"
        onClick={() => onLabel(step, firstError ? current : 'incorrect', !firstError)}
      >
        First error
      </button>
    </div>
  );
}

/** The cut of one field of the step being drawn, or undefined when that field is whole. */
function cutOf(full: FullStep, field: string): Cut | undefined {
  const size = full.step.cut_fields?.[field];
  return size ? { ...size, load: full.load, loading: full.loading } : undefined;
}

/** A plain text (a message, a tool error) that may be a preview, with its "show all". */
function PlainText({ text, cut, className }: { text: string; cut: Cut | undefined; className: string }) {
  return (
    <div className={className}>
      {text}
      {cut && (
        <>
          {'…'}
          <div>
            <button type="button" className="show-all" data-testid="show-all" onClick={cut.load} disabled={cut.loading}>
              {cut.loading
                ? 'Loading…'
                : `Show all (${(cut.chars - text.length).toLocaleString('en-US')} more characters)`}
            </button>
          </div>
        </>
      )}
    </div>
  );
}

function Body({ full, denied }: { full: FullStep; denied: boolean }) {
  const p = full.step.payload;
  switch (p.type) {
    case 'thinking':
      if (p.redacted !== undefined) {
        return (
          <div className="muted small" data-testid="thinking-redacted">
            Reasoning redacted by the provider: encrypted, sent back to the model unchanged
          </div>
        );
      }
      if (p.content === '' && p.signature) {
        return (
          <div className="muted small" data-testid="thinking-redacted">
            Reasoning not shown by the provider (signed, sent back to the model unchanged)
          </div>
        );
      }
      return <Thinking text={p.content} hidden={p.content === ''} cut={cutOf(full, 'payload.content')} />;
    case 'message':
      return (
        <>
          {p.content === '' && p.refusal ? (
            <div className="muted small">The model refused without giving a reason.</div>
          ) : (
            <PlainText className="message-text" text={p.content} cut={cutOf(full, 'payload.content')} />
          )}
          {p.citations && p.citations.length > 0 && <Citations citations={p.citations} />}
        </>
      );
    case 'file_read':
      return (
        <>
          <CodeBlock
            code={p.content}
            language={languageOf(p.path)}
            startLine={p.start_line}
            cut={cutOf(full, 'payload.content')}
          />
          {p.truncated && <div className="muted small">File truncated</div>}
        </>
      );
    case 'file_edit':
    case 'file_write':
      return <DiffBlock diff={p.diff} cut={cutOf(full, 'payload.diff')} />;
    case 'bash_command':
      return (
        <TerminalBlock
          command={p.command}
          output={p.output}
          exitCode={p.exit_code}
          timedOut={p.timed_out}
          {...cutCommand(full.step)}
          refused={p.refused}
          refusedBy={denied ? 'annotator' : 'policy'}
          truncated={p.truncated}
          cut={cutOf(full, 'payload.output')}
        />
      );
    case 'directory_list':
      return (
        <ul className="dir-list" data-testid="dir-list">
          {p.entries.map((e) => (
            <li key={e} className={e.endsWith('/') ? 'dir' : 'file'}>
              {e}
            </li>
          ))}
          {p.truncated && <li className="muted">… more entries not shown</li>}
        </ul>
      );
    case 'file_search':
      return (
        <div className="search-results" data-testid="search-results">
          {p.matches.length === 0 && <div className="muted">No matches</div>}
          {p.matches.map((m) => (
            <div className="search-match" key={`${m.path}:${m.line}`}>
              <span className="search-loc">
                {m.path}:{m.line}
              </span>
              <code>{m.text}</code>
            </div>
          ))}
          {p.truncated && <div className="muted">… more matches not shown</div>}
        </div>
      );
    case 'error':
      return (
        <div className="error-text" data-testid="error-text">
          <strong>{p.kind.replace('_', ' ')}:</strong> {p.message}
        </div>
      );
    default: {
      const never: never = p;
      return <>{String(never)}</>;
    }
  }
}

/** Only web addresses become links: a cited `javascript:` URL from a model stays text. */
function safeUrl(url: unknown): string | null {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    // Not a URL: shown as text, never as a link.
    return null;
  }
}

/** The sources a message cites, one link each (the same page cited twice is listed once). */
function Citations({ citations }: { citations: Citation[] }) {
  const seen = new Set<string>();
  const items = citations.flatMap((c, i) => {
    const href = safeUrl(c.url);
    const name = c.title || (typeof c.url === 'string' ? c.url : c.type);
    const key = href ?? `${name}:${i}`;
    if (seen.has(key)) return [];
    seen.add(key);
    return [{ key, href, name, quote: typeof c.cited_text === 'string' ? c.cited_text : undefined }];
  });
  return (
    <ol className="citations" data-testid="citations">
      {items.map((c) => (
        <li key={c.key} title={c.quote}>
          {c.href ? (
            <a href={c.href} target="_blank" rel="noopener noreferrer nofollow">
              {c.name}
            </a>
          ) : (
            c.name
          )}
        </li>
      ))}
    </ol>
  );
}

/** What the header says about how a thinking or message step ended. */
function outcomeBadges(step: Step) {
  const p = step.payload;
  if (p.type !== 'thinking' && p.type !== 'message') return null;
  return (
    <>
      {p.type === 'message' && p.refusal && (
        <span className="badge badge-error" data-testid="badge-refusal">
          refused
        </span>
      )}
      {p.truncated && (
        <span className="badge badge-error" data-testid="badge-truncated" title="Cut at the token limit (max_tokens)">
          cut at token limit
        </span>
      )}
      {p.retried !== undefined && (
        <span className="badge" data-testid="badge-retried" title={`This attempt failed and was retried: ${p.retried}`}>
          retried attempt
        </span>
      )}
      {p.type === 'thinking' && (p.redacted !== undefined || (p.content === '' && p.signature)) && (
        <span className="badge">redacted</span>
      )}
    </>
  );
}

function Thinking({ text, hidden, cut }: { text: string; hidden?: boolean; cut?: Cut }) {
  const [open, setOpen] = useState(false);
  if (hidden) return <div className="muted small">Reasoning hidden by the project settings</div>;
  const toggle = () => {
    if (!open) cut?.load();
    setOpen(!open);
  };
  return (
    <div className={`thinking${open ? ' open' : ''}`} data-testid="thinking-block">
      <button type="button" className="thinking-toggle" onClick={toggle} aria-expanded={open}>
        {open ? '▾' : '▸'} Reasoning
        {!open && <span className="thinking-preview"> — {text.slice(0, 140)}</span>}
      </button>
      {open && (
        <div className="thinking-text">
          {text}
          {cut && <div className="muted small">{cut.loading ? 'Loading the rest…' : '…'}</div>}
        </div>
      )}
    </div>
  );
}

const TYPE_NAMES: Record<Step['type'], string> = {
  thinking: 'Reasoning',
  message: 'Message',
  file_read: 'Read',
  file_edit: 'Edit',
  file_write: 'Write',
  bash_command: 'Command',
  directory_list: 'List',
  file_search: 'Search',
  error: 'Error',
};

function pathOf(step: Step): string | null {
  const p = step.payload;
  return 'path' in p && p.type !== 'file_search' ? p.path : null;
}

/** A refused command says why in its terminal block; the tool result repeats it. */
const isRefused = (step: Step) => step.payload.type === 'bash_command' && Boolean(step.payload.refused);

export const StepBlock = memo(function StepBlock({
  step,
  label,
  onLabel,
  labelling = true,
  denied = false,
  selected = false,
  onFork,
  forkBlocked = null,
}: {
  onFork?: (step: Step) => void;
  /** Why the fork entry is disabled (shown on hover), or null when it can be used. */
  forkBlocked?: string | null;
  step: Step;
  label: StepLabel | undefined;
  labelling?: boolean;
  /** The step the keyboard acts on. */
  selected?: boolean;
  /** The annotator denied this tool call (permission_mode ask). */
  denied?: boolean;
} & LabelHandlers) {
  const full = useFullStep(step);
  if (step.payload.type === 'error' && isSessionFailure(step)) {
    // The backend or the engine failed: nothing the agent did, so nothing to label.
    return (
      <div className="session-failure" role="alert" data-testid="session-failure">
        <strong>{step.payload.kind === 'timeout' ? 'The session timed out' : 'The session failed'}:</strong>{' '}
        {step.payload.message}
      </div>
    );
  }
  const isError = step.type === 'error' || step.tool_is_error;
  const path = pathOf(step);
  const title = path ? null : stepAction(step);
  return (
    <article
      className={`step step-${step.type}${isError ? ' step-error' : ''}${label ? ` labelled-${label.label}` : ''}${selected ? ' step-selected' : ''}`}
      aria-current={selected ? 'step' : undefined}
      data-testid={`step-${step.step_idx}`}
      data-step-type={step.type}
      data-step-id={step.id}
    >
      <header className="step-head">
        <span className="step-idx">#{step.step_idx}</span>
        <span className={`step-type type-${step.type}`}>
          {step.payload.type === 'file_write' && step.payload.created ? 'Create' : TYPE_NAMES[step.type]}
        </span>
        {path !== null && (
          <span className="step-path" data-testid="step-path">
            {path}
          </span>
        )}
        {title && step.type !== 'thinking' && step.type !== 'message' && step.type !== 'bash_command' && (
          <span className="step-title">{title}</span>
        )}
        {step.author === 'annotator' && <span className="badge badge-annotator">edited by annotator</span>}
        {isError && step.type !== 'error' && <span className="badge badge-error">tool error</span>}
        {outcomeBadges(step)}
        <span className="spacer" />
        {step.usage && (
          <span className="step-usage" data-testid="step-usage" title={usageTitle(step.usage)}>
            {formatTokens(inputTotal(step.usage))} in · {formatTokens(step.usage.output_tokens)} out
          </span>
        )}
        {onFork && step.checkpoint && (
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="fork-here"
            disabled={forkBlocked !== null}
            title={
              forkBlocked === null
                ? `Start a new branch from the checkpoint after step ${step.step_idx}`
                : `Fork is unavailable: ${forkBlocked}`
            }
            onClick={() => onFork(step)}
          >
            Fork here
          </button>
        )}
        {step.changed_files && step.checkpoint && (
          <span className="badge badge-checkpoint" title={`Checkpoint ${step.checkpoint}`}>
            ⎇ {step.checkpoint.slice(0, 7)}
          </span>
        )}
      </header>
      <div className="step-body">
        <Body full={full} denied={denied} />
        {step.tool_is_error && full.step.tool_result && step.type !== 'error' && !isRefused(step) && (
          <PlainText className="error-text" text={full.step.tool_result} cut={cutOf(full, 'tool_result')} />
        )}
        {full.error && (
          <div className="form-error" role="alert">
            {full.error}
          </div>
        )}
      </div>
      {labelling && <StepLabels step={step} label={label} onLabel={onLabel} />}
    </article>
  );
});

/** The command line from the streamed tool input, once it is complete JSON. */
function commandOf(partial: Partial): string {
  try {
    const input = JSON.parse(partial.input ?? '') as { command?: unknown };
    if (typeof input.command === 'string') return input.command;
  } catch {
    // Not streamed (show_tool_inputs off) or not complete: show the tool's name.
  }
  return partial.tool ?? '';
}

export function PartialBlock({ partial }: { partial: Partial }) {
  let body: React.ReactNode;
  if (partial.kind === 'thinking') body = <div className="thinking-text streaming">{partial.text}</div>;
  else if (partial.kind === 'message') body = <div className="message-text streaming">{partial.text}</div>;
  else if (partial.kind === 'output')
    body = <TerminalBlock command={commandOf(partial)} output={partial.text} running />;
  else body = <pre className="tool-input streaming">{partial.text}</pre>;
  const names = {
    thinking: 'Reasoning',
    message: 'Message',
    tool_input: `Preparing ${partial.tool ?? 'tool call'}`,
    output: 'Running',
  };
  return (
    <article className={`step partial partial-${partial.kind}`} data-testid={`partial-${partial.kind}`}>
      <header className="step-head">
        <span className="live-dot" aria-hidden="true" />
        <span className="step-type">{names[partial.kind]}</span>
        <span className="muted small">streaming…</span>
      </header>
      <div className="step-body">{body}</div>
    </article>
  );
}

const INTERVENTION_TEXT: Record<Intervention['type'], string> = {
  pause: 'Paused',
  resume: 'Resumed',
  instruction: 'Instruction',
  stop: 'Stopped',
  rollback: 'Rolled back',
  branch: 'Branched',
  edit_tool_call: 'Edited the next tool call',
  timeout: 'Session timed out',
  approval: 'Tool call answered',
  shutdown: 'The server shut down',
};

/** An approval intervention in words ("Denied Edit src/x.py — 'use a migration'"). */
export interface ApprovalLine {
  text: string;
  allow: boolean;
}

export function InterventionRow({ intervention, approval }: { intervention: Intervention; approval?: ApprovalLine }) {
  const i = intervention;
  if (approval) {
    return (
      <div
        className={`intervention intervention-approval ${approval.allow ? 'approval-allowed' : 'approval-denied'}`}
        data-testid="intervention-approval"
        data-allow={String(approval.allow)}
      >
        <span className="intervention-kind" data-testid="approval-text">
          {approval.text}
        </span>
        {i.after_step !== null && <span className="muted"> after step {i.after_step}</span>}
        <span className="muted"> by {i.annotator}</span>
      </div>
    );
  }
  const move =
    i.type === 'rollback' || i.type === 'branch' ? moveSentence(i.type, i.content, i.after_step_id === null) : null;
  if (move) {
    return (
      <div className={`intervention intervention-${i.type}`} data-testid={`intervention-${i.type}`}>
        <span className="intervention-kind" data-testid="marker-sentence">
          {move.map((part, n) =>
            typeof part === 'string' ? (
              // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one fixed sentence
              <span key={n}>{part}</span>
            ) : (
              // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one fixed sentence
              <StepLink key={n} step={part.step} />
            ),
          )}
        </span>
        <span className="muted"> by {i.annotator}</span>
      </div>
    );
  }
  return (
    <div className={`intervention intervention-${i.type}`} data-testid={`intervention-${i.type}`}>
      <span className="intervention-kind">{INTERVENTION_TEXT[i.type]}</span>
      {i.after_step !== null && (
        <span className="muted">
          {' '}
          after <StepLink step={i.after_step} />
        </span>
      )}
      <span className="muted"> by {i.annotator}</span>
      {i.content && <div className="intervention-content">{i.content}</div>}
    </div>
  );
}

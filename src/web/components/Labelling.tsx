/**
 * @module web/components/Labelling
 * Labelling at speed: the keyboard handler for LABEL_ACTIONS, the `?` overlay of every
 * shortcut, the progress line ("7 of 12 steps labelled · outcome rated") and the step outline
 * for jumping through a long session.
 */
import { useEffect, useRef } from 'react';
import { actionForKey, CONTROL_ACTIONS } from '../actions/controls.ts';
import { LABEL_ACTIONS } from '../actions/labels.ts';
import type { ControlContext, LabelContext } from '../actions/types.ts';
import type { Step, StepLabel } from '../api/types.ts';
import { plural, stepAction } from '../lib/format.ts';

export function useLabelKeys(ctx: LabelContext): void {
  const ref = useRef(ctx);
  ref.current = ctx;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.repeat) return;
      if (document.querySelector('[role="dialog"]')) return;
      const action = actionForKey(e, ref.current, LABEL_ACTIONS);
      if (!action) return;
      e.preventDefault();
      action.perform(ref.current);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}

export function ShortcutHelp({
  control,
  label,
  onClose,
}: {
  control: ControlContext;
  label: LabelContext;
  onClose: () => void;
}) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  const rows: [string, string][] = [
    ...CONTROL_ACTIONS.filter((a) => a.visible(control) && a.shortcut?.(control)).map((a): [string, string] => [
      a.shortcut!(control)!,
      a.label,
    ]),
    ...LABEL_ACTIONS.map((a): [string, string] => [a.shortcut?.(label) ?? '', a.label]),
  ];
  return (
    <aside className="shortcut-help" aria-label="Keyboard shortcuts" data-testid="shortcut-help">
      <div className="row">
        <strong>Keyboard shortcuts</strong>
        <span className="spacer" />
        <button type="button" className="btn btn-ghost btn-small" onClick={onClose}>
          Close (Esc)
        </button>
      </div>
      <table>
        <tbody>
          {rows.map(([key, text]) => (
            <tr key={`${key}:${text}`}>
              <td>
                <kbd>{key}</kbd>
              </td>
              <td>{text}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">
        Keys do nothing while you type in a field. Change them under live_coding_agent.controls in the config.
      </p>
    </aside>
  );
}

/** "7 of 12 steps labelled · outcome rated", for the shown path. */
export function LabelProgress({
  steps,
  labels,
  rated,
  ratingName,
}: {
  steps: Step[];
  labels: Map<string, StepLabel>;
  rated: boolean;
  /** The first radio scheme's name ("outcome"), or none when the config has no rating. */
  ratingName: string | null;
}) {
  const done = steps.filter((s) => labels.has(s.id)).length;
  return (
    <div className="label-progress" data-testid="label-progress" data-complete={String(done === steps.length)}>
      {done} of {plural(steps.length, 'step')} labelled
      {ratingName && ` · ${ratingName} ${rated ? 'rated' : 'not rated yet'}`}
    </div>
  );
}

export function StepOutline({
  steps,
  labels,
  selectedId,
  onJump,
}: {
  steps: Step[];
  labels: Map<string, StepLabel>;
  selectedId: string | null;
  onJump: (step: Step) => void;
}) {
  return (
    <nav className="step-outline" aria-label="Step outline" data-testid="step-outline">
      <div className="panel-title">Outline</div>
      {steps.length === 0 ? (
        <div className="muted small pad">No steps yet</div>
      ) : (
        <ol>
          {steps.map((s) => {
            const l = labels.get(s.id);
            return (
              <li key={s.id}>
                <button
                  type="button"
                  className={`outline-item${s.id === selectedId ? ' selected' : ''}${l ? ` labelled-${l.label}` : ''}`}
                  data-testid="outline-item"
                  data-step={s.step_idx}
                  onClick={() => onJump(s)}
                >
                  <span className="outline-idx">#{s.step_idx}</span> {stepAction(s)}
                  {l && (
                    <span className={`outline-mark label-${l.label}`}>{l.first_error ? '✗!' : MARKS[l.label]}</span>
                  )}
                </button>
              </li>
            );
          })}
        </ol>
      )}
    </nav>
  );
}

const MARKS: Record<StepLabel['label'], string> = { correct: '✓', incorrect: '✗', unsure: '?' };

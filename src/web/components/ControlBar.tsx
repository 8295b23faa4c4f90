/**
 * @module web/components/ControlBar
 * The control bar and the keyboard shortcuts, both generated from CONTROL_ACTIONS; and the
 * instruction input (Enter sends, Escape closes).
 */
import { useEffect, useRef, useState } from 'react';
import { actionForKey, CONTROL_ACTIONS } from '../actions/controls.ts';
import type { ControlContext } from '../actions/types.ts';

export function ControlBar({ ctx, children }: { ctx: ControlContext; children?: React.ReactNode }) {
  const ctxRef = useRef(ctx);
  ctxRef.current = ctx;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.repeat) return;
      if (document.querySelector('[role="dialog"]')) return;
      const action = actionForKey(e, ctxRef.current, CONTROL_ACTIONS);
      if (!action) return;
      e.preventDefault();
      action.perform(ctxRef.current);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <div className="control-bar" data-testid="control-bar">
      {CONTROL_ACTIONS.filter((a) => a.visible(ctx)).map((a) => {
        const sc = a.shortcut?.(ctx);
        const why = a.blocked(ctx);
        const name = sc ? `${a.label} (${sc})` : a.label;
        return (
          <button
            type="button"
            key={a.id}
            data-testid={`control-${a.id}`}
            className={`btn btn-${a.tone ?? 'default'}`}
            disabled={why !== null}
            title={why === null ? name : `${a.label} is unavailable: ${why}`}
            onClick={() => a.perform(ctx)}
          >
            {a.label}
            {sc && <kbd>{sc}</kbd>}
          </button>
        );
      })}
      <span className="spacer" />
      {children}
    </div>
  );
}

export function InstructionInput({
  onSend,
  onClose,
}: {
  onSend: (text: string) => Promise<boolean>;
  onClose: () => void;
}) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => ref.current?.focus(), []);
  const send = async () => {
    if (!text.trim() || busy) return;
    setBusy(true);
    const ok = await onSend(text.trim());
    setBusy(false);
    if (ok) {
      setText('');
      onClose();
    }
  };
  return (
    <div className="instruction-bar" data-testid="instruction-bar">
      <input
        ref={ref}
        data-testid="instruction-input"
        placeholder="Tell the agent what to do differently… (Enter to send, Esc to close)"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey) {
            e.preventDefault();
            void send();
          } else if (e.key === 'Escape') onClose();
        }}
      />
      <button type="button" className="btn btn-primary" data-testid="instruction-send" disabled={busy} onClick={send}>
        Send
      </button>
      <button type="button" className="btn btn-ghost" onClick={onClose}>
        Cancel
      </button>
    </div>
  );
}

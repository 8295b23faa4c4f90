/**
 * @module web/trace/jump
 * Jumping to a step by its number: the trace provides the jump (it knows which row holds the
 * step), markers and the outline call it through a link.
 */
import { createContext, useContext } from 'react';

/** Scroll the trace to step `idx` and select it; false when that step is not on the shown path. */
export type JumpToStep = (idx: number) => boolean;

export const JumpContext = createContext<JumpToStep | null>(null);

export function StepLink({ step }: { step: number }) {
  const jump = useContext(JumpContext);
  if (!jump) return <>step {step}</>;
  return (
    <button
      type="button"
      className="step-link"
      data-testid="step-link"
      data-step={step}
      title={`Show step ${step} in the trace`}
      onClick={() => jump(step)}
    >
      step {step}
    </button>
  );
}

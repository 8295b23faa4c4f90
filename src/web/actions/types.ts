/**
 * @module web/actions/types
 * A control is one object: its label, its shortcut, when it is available and what it does.
 * The control bar and the keyboard handler are both generated from the same list.
 */
import type { SessionStatus, Step, StepLabel, StepLabelValue, UiConfig } from '../api/types.ts';

export interface ControlContext {
  sessionId: string;
  status: SessionStatus;
  config: UiConfig;
  /** True while the annotator looks at a branch other than the live one. */
  viewingOtherBranch: boolean;
  /** True when the session has at least one step to roll back to (or before). */
  hasSteps: boolean;
  /** Branches the session has now, against branching.max_branches_per_session. */
  branchCount: number;
  /** Why this viewer may change nothing (a lead on another's session), else null. */
  readOnly: string | null;
  openInstruction: () => void;
  openRollback: (mode: 'rollback' | 'branch') => void;
  /** Run a server call, showing its error if it fails. */
  run: (label: string, call: () => Promise<unknown>) => void;
}

export interface ControlAction<C = ControlContext> {
  id: string;
  label: string;
  /** Tone of the button. */
  tone?: 'primary' | 'danger' | 'default';
  /** The key as the config names it ("Space", "i"), or none. */
  shortcut?: (ctx: C) => string | undefined;
  /** Shown at all: the config flag is on (and the feature exists). */
  visible: (ctx: C) => boolean;
  /** Why it cannot be used now (shown on hover), or null when it can. */
  blocked: (ctx: C) => string | null;
  perform: (ctx: C) => void;
}

/** What the labelling keys act on: the selected step of the shown path. */
export interface LabelContext {
  config: UiConfig;
  /** Steps that can be labelled, in trace order. */
  steps: Step[];
  selected: Step | null;
  labelOf: (step: Step) => StepLabel | undefined;
  select: (step: Step) => void;
  label: (step: Step, label: StepLabelValue | null, firstError: boolean) => void;
  toggleHelp: () => void;
}

/**
 * @module web/actions/controls
 * The session controls (SPEC §4): Pause, Send Instruction, Resume, Stop, Rollback, Branch,
 * and Continue for a stopped or interrupted session.
 */
import { parseShortcut, pressMatches } from '../../config/shortcut-keys.ts';
import { api } from '../api/client.ts';
import type { ControlAction, ControlContext } from './types.ts';

const ENDED_WORDS: Partial<Record<ControlContext['status'], string>> = {
  stopped: 'the session was stopped',
  finished: 'the session has finished',
  failed: 'the session failed',
  interrupted: 'the session was interrupted (Continue resumes it)',
};
const notLive = (c: ControlContext) =>
  c.status === 'running' || c.status === 'paused'
    ? null
    : c.status === 'created'
      ? 'the agent has not started yet'
      : (ENDED_WORDS[c.status] ?? `the session is ${c.status}`);
// A finished, stopped, failed or interrupted session can be rolled back too: that is how an
// annotator who disagrees with the agent's result makes a preference pair.
const notRollbackable = (c: ControlContext) =>
  c.status === 'created' ? 'the agent has not started yet' : c.hasSteps ? null : 'there is no step to go back to yet';

export const isEnabled = <C>(a: ControlAction<C>, c: C) => a.blocked(c) === null;

const ACTIONS: ControlAction[] = [
  {
    id: 'pause',
    label: 'Pause',
    shortcut: (c) => c.config.controls.pause_keyboard_shortcut,
    visible: (c) => c.config.controls.pause_enabled && c.status !== 'paused',
    blocked: (c) => (c.status === 'running' ? null : notLive(c)),
    perform: (c) => c.run('Pause', () => api.pause(c.sessionId)),
  },
  {
    id: 'resume',
    label: 'Resume',
    tone: 'primary',
    shortcut: (c) => c.config.controls.pause_keyboard_shortcut,
    visible: (c) => c.config.controls.pause_enabled && c.status === 'paused',
    blocked: (c) => (c.status === 'paused' ? null : 'the session is not paused'),
    perform: (c) => c.run('Resume', () => api.resume(c.sessionId)),
  },
  {
    id: 'instruction',
    label: 'Send Instruction',
    shortcut: (c) => c.config.controls.instruction_keyboard_shortcut,
    visible: (c) => c.config.controls.instruction_enabled,
    blocked: notLive,
    perform: (c) => c.openInstruction(),
  },
  {
    id: 'stop',
    label: 'Stop',
    tone: 'danger',
    visible: (c) => c.config.controls.stop_enabled,
    blocked: notLive,
    perform: (c) => {
      if (window.confirm('Stop the agent? The trajectory so far is saved.')) c.run('Stop', () => api.stop(c.sessionId));
    },
  },
  {
    id: 'rollback',
    label: 'Rollback',
    visible: (c) => c.config.controls.rollback_enabled,
    blocked: notRollbackable,
    perform: (c) => c.openRollback('rollback'),
  },
  {
    id: 'branch',
    label: 'Branch',
    visible: (c) => c.config.branching.enabled && c.config.controls.branch_enabled,
    blocked: (c) => {
      const max = c.config.branching.max_branches_per_session;
      if (c.branchCount >= max) {
        return `this session has ${c.branchCount} branches, the most allowed (branching.max_branches_per_session: ${max})`;
      }
      return notRollbackable(c);
    },
    perform: (c) => c.openRollback('branch'),
  },
  {
    id: 'continue',
    label: 'Continue',
    tone: 'primary',
    visible: (c) => c.status === 'interrupted' || c.status === 'stopped',
    blocked: (c) =>
      c.status === 'interrupted' || c.status === 'stopped' ? null : 'only a stopped or interrupted session continues',
    perform: (c) => c.run('Continue', () => api.continue(c.sessionId)),
  },
];

/** A lead viewing someone else's session sees every control, each disabled with the reason. */
export const CONTROL_ACTIONS: ControlAction[] = ACTIONS.map((a) => ({
  ...a,
  blocked: (c) => c.readOnly ?? a.blocked(c),
}));

/** Does a key event match a shortcut as the config names it ("Space", "i", "Shift+P")? */
export function matchesShortcut(e: KeyboardEvent, shortcut: string): boolean {
  // The config check read it with the same rules (config/shortcuts.ts): it always parses here.
  const parsed = parseShortcut(shortcut);
  return !('error' in parsed) && pressMatches(e, parsed);
}

/** Typing in a field never triggers a shortcut. */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') {
    const type = (target as HTMLInputElement).type;
    return !['checkbox', 'radio', 'button', 'submit', 'range'].includes(type);
  }
  return false;
}

/** The action of `actions` a key press triggers now, if any. */
export function actionForKey<C = ControlContext>(
  e: KeyboardEvent,
  ctx: C,
  actions: ControlAction<C>[],
): ControlAction<C> | undefined {
  if (isTypingTarget(e.target)) return undefined;
  return actions.find((a) => {
    const sc = a.shortcut?.(ctx);
    return sc !== undefined && matchesShortcut(e, sc) && a.visible(ctx) && isEnabled(a, ctx);
  });
}

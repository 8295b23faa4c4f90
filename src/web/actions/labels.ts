/**
 * @module web/actions/labels
 * Labelling at speed: move between steps and label the selected one from the keyboard. The
 * keys come from controls.label_keyboard_shortcuts; the `?` overlay lists them with the
 * control shortcuts, both generated from the action lists.
 */
import type { StepLabelValue } from '../api/types.ts';
import type { ControlAction, LabelContext } from './types.ts';

const keys = (c: LabelContext) => c.config.controls.label_keyboard_shortcuts;
const needsStep = (c: LabelContext) => (c.selected ? null : 'select a step first (next step key)');

function move(c: LabelContext, delta: 1 | -1): void {
  if (c.steps.length === 0) return;
  const at = c.selected ? c.steps.findIndex((s) => s.id === c.selected?.id) : -1;
  const next = at < 0 ? (delta === 1 ? 0 : c.steps.length - 1) : Math.min(c.steps.length - 1, Math.max(0, at + delta));
  c.select(c.steps[next]!);
}

function labelAction(value: StepLabelValue, text: string): ControlAction<LabelContext> {
  return {
    id: `label-${value}`,
    label: `Label the step ${text}`,
    shortcut: (c) => keys(c)[value],
    visible: () => true,
    blocked: needsStep,
    perform: (c) => {
      const step = c.selected;
      if (!step) return;
      const current = c.labelOf(step);
      // The same key again takes the label off, as a second click on the button does.
      if (current?.label === value) c.label(step, null, false);
      else c.label(step, value, current?.first_error ?? false);
    },
  };
}

export const LABEL_ACTIONS: ControlAction<LabelContext>[] = [
  {
    id: 'next-step',
    label: 'Next step',
    shortcut: (c) => keys(c).next_step,
    visible: () => true,
    blocked: (c) => (c.steps.length ? null : 'no steps yet'),
    perform: (c) => move(c, 1),
  },
  {
    id: 'previous-step',
    label: 'Previous step',
    shortcut: (c) => keys(c).previous_step,
    visible: () => true,
    blocked: (c) => (c.steps.length ? null : 'no steps yet'),
    perform: (c) => move(c, -1),
  },
  labelAction('correct', 'correct'),
  labelAction('incorrect', 'incorrect'),
  labelAction('unsure', 'unsure'),
  {
    id: 'first-error',
    label: 'Mark the step as the first error',
    shortcut: (c) => keys(c).first_error,
    visible: () => true,
    blocked: needsStep,
    perform: (c) => {
      const step = c.selected;
      if (!step) return;
      const current = c.labelOf(step);
      if (current?.first_error) c.label(step, current.label, false);
      else c.label(step, 'incorrect', true);
    },
  },
  {
    id: 'help',
    label: 'Show or hide the keyboard shortcuts',
    shortcut: (c) => keys(c).help,
    visible: () => true,
    blocked: () => null,
    perform: (c) => c.toggleHelp(),
  },
];

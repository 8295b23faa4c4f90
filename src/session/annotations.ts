/**
 * @module session/annotations
 * What annotators add to a session besides steering it: answers to config.annotation_schemes
 * and a label per step. Each operation checks its input (every refusal names the scheme or the
 * step and says what would be accepted), then writes its rows and its events in one transaction
 * through the EventHub, which shows them to the session's viewers after the commit.
 */
import type { AnnotationScheme } from '../config/schema.js';
import { PotatoError } from '../errors.js';
import { type Annotation, STEP_LABEL_VALUES, type StepLabel, type StepLabelValue, type Store } from '../store/types.js';
import type { SessionEventBody } from './events.js';
import type { EventHub } from './hub.js';
import { ControlError } from './types.js';

/** An answer that does not fit its scheme (or a label that is not one); the message names the scheme. */
export class ValidationError extends PotatoError<'validation'> {
  override name = 'ValidationError';
  constructor(
    message: string,
    readonly scheme?: string,
  ) {
    super(message, 'validation');
  }
}

/** An answer that counts as "not given" for a required scheme. */
export function isEmptyAnswer(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    (typeof value === 'string' && value.trim() === '') ||
    (Array.isArray(value) && value.length === 0)
  );
}

function optionList(scheme: { options: { value: string }[] }): string {
  return scheme.options.map((o) => JSON.stringify(o.value)).join(', ');
}

function checkOne(scheme: AnnotationScheme, value: unknown): void {
  const name = scheme.name;
  const fail = (what: string): never => {
    throw new ValidationError(`${name}: ${what}`, name);
  };
  switch (scheme.annotation_type) {
    case 'radio':
    case 'select': {
      if (typeof value !== 'string' || !scheme.options.some((o) => o.value === value)) {
        fail(`expected one of ${optionList(scheme)}, got ${JSON.stringify(value)}`);
      }
      return;
    }
    case 'multiselect':
    case 'checkbox': {
      if (!Array.isArray(value)) fail(`expected a list of option values (${optionList(scheme)})`);
      const values = value as unknown[];
      for (const v of values) {
        if (typeof v !== 'string' || !scheme.options.some((o) => o.value === v)) {
          fail(`${JSON.stringify(v)} is not an option; the options are ${optionList(scheme)}`);
        }
      }
      if (new Set(values).size !== values.length) fail('an option is listed twice');
      return;
    }
    case 'likert': {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > scheme.size) {
        fail(`expected a whole number from 1 to ${scheme.size}, got ${JSON.stringify(value)}`);
      }
      return;
    }
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(`expected a number, got ${JSON.stringify(value)}`);
      const n = value as number;
      if (scheme.min !== undefined && n < scheme.min) fail(`${n} is below the minimum ${scheme.min}`);
      if (scheme.max !== undefined && n > scheme.max) fail(`${n} is above the maximum ${scheme.max}`);
      return;
    }
    case 'text_input': {
      if (typeof value !== 'string') fail(`expected text, got ${JSON.stringify(value)}`);
      return;
    }
    default: {
      const unknownType: never = scheme;
      throw new ValidationError(`unsupported annotation type ${JSON.stringify(unknownType)}`);
    }
  }
}

/**
 * Validate a submitted form. Each PUT is a submit: every required scheme needs a non-empty
 * answer in it. An empty answer to an optional scheme is stored as null (cleared).
 */
export function validateAnswers(
  schemes: readonly AnnotationScheme[],
  answers: Record<string, unknown>,
): Record<string, unknown> {
  const byName = new Map(schemes.map((s) => [s.name, s]));
  for (const name of Object.keys(answers)) {
    if (!byName.has(name)) {
      const known = schemes.map((s) => s.name).join(', ') || '(none configured)';
      throw new ValidationError(`${name}: no such annotation scheme; the configured schemes are ${known}`, name);
    }
  }
  const clean: Record<string, unknown> = {};
  for (const scheme of schemes) {
    const present = Object.hasOwn(answers, scheme.name);
    const value = answers[scheme.name];
    if (isEmptyAnswer(value)) {
      if (scheme.required) {
        throw new ValidationError(
          `${scheme.name}: an answer is required (${scheme.label ?? scheme.name})`,
          scheme.name,
        );
      }
      if (present) clean[scheme.name] = null;
      continue;
    }
    checkOne(scheme, value);
    clean[scheme.name] = value;
  }
  return clean;
}

export interface SaveAnswers {
  sessionId: string;
  annotator: string;
  /** The branch the answers are about; null for the whole session. */
  branchId: string | null;
  answers: Record<string, unknown>;
}

export interface SetLabel {
  sessionId: string;
  stepId: string;
  annotator: string;
  label: StepLabelValue;
  firstError: boolean;
}

/** The session operations of annotation, as the SessionManager offers them. */
export interface AnnotationOps {
  /** Store a submitted form; resolves with the annotator's answers for that branch (or session). */
  saveAnswers(req: SaveAnswers): Promise<Annotation[]>;
  setLabel(req: SetLabel): Promise<StepLabel>;
  /** Remove the annotator's label of a step (nothing to remove is not an error). */
  removeLabel(req: { sessionId: string; stepId: string; annotator: string }): Promise<void>;
}

export function annotationOps(deps: {
  store: Store;
  hub: EventHub;
  schemes: readonly AnnotationScheme[];
  now?: () => number;
}): AnnotationOps {
  const { store, hub, schemes } = deps;
  const now = deps.now ?? Date.now;
  return {
    async saveAnswers({ sessionId, annotator, branchId, answers }) {
      if (branchId !== null && (await store.getBranch(branchId))?.session_id !== sessionId) {
        throw new ControlError(`session ${sessionId} has no branch ${branchId}`, 'not_found');
      }
      const clean = validateAnswers(schemes, answers);
      const updated_at = now();
      await hub.record(sessionId, async (tx) => {
        const events: SessionEventBody[] = [];
        for (const [scheme, value] of Object.entries(clean)) {
          const annotation: Annotation = {
            session_id: sessionId,
            annotator,
            branch_id: branchId,
            scheme,
            value,
            updated_at,
          };
          await tx.upsertAnnotation(annotation);
          events.push({ type: 'annotation', annotation });
        }
        return { result: undefined, events };
      });
      return (await store.listAnnotations(sessionId)).filter(
        (a) => a.annotator === annotator && a.branch_id === branchId,
      );
    },

    async setLabel({ sessionId, stepId, annotator, label, firstError }) {
      if (!STEP_LABEL_VALUES.includes(label)) {
        throw new ValidationError(
          `label: expected one of ${STEP_LABEL_VALUES.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(label)}`,
        );
      }
      const step = await store.getStep(stepId);
      if (!step || step.session_id !== sessionId) {
        throw new ControlError(`session ${sessionId} has no step ${stepId}`, 'not_found');
      }
      const record: StepLabel = {
        session_id: sessionId,
        step_id: stepId,
        annotator,
        label,
        first_error: firstError,
        updated_at: now(),
      };
      return hub.record(sessionId, async (tx) => {
        await tx.upsertStepLabel(record);
        return { result: record, events: [{ type: 'label', label: record }] };
      });
    },

    async removeLabel({ sessionId, stepId, annotator }) {
      await hub.record(sessionId, async (tx) => {
        await tx.deleteStepLabel(sessionId, stepId, annotator);
        return { result: undefined, events: [{ type: 'label_removed', step_id: stepId, annotator }] };
      });
    },
  };
}

/**
 * @module server/annotations
 * Checks session-level answers against config.annotation_schemes before they are stored. Every
 * refusal names the scheme and says what would be accepted.
 */
import type { AnnotationScheme } from '../config/schema.js';
import { ValidationError } from './errors.js';

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

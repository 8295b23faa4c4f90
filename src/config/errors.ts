/**
 * @module config/errors
 * ConfigError, the one error a bad config produces, and the formatter that turns zod 4 issues
 * into problems a user can act on: the key's full path, what was expected, what was found,
 * and a did-you-mean for a misspelt key.
 */
import type { z } from 'zod';
import { PotatoError } from '../errors.js';

export interface ConfigProblem {
  /** The whole sentence shown to the user, e.g. `sandbox.type: expected "docker" or "local", got "dokcer"`. */
  text: string;
  /** Dotted key path (`annotators[0].username`) when the problem belongs to a key. */
  path?: string;
  /** The same path as keys and indexes, to find the spot in the file. */
  keys?: readonly PropertyKey[];
  /** 1-based line and column in the config file, when known. */
  line?: number;
  column?: number;
}

/** A config that cannot be used. Carries every problem found, not just the first. */
export class ConfigError extends PotatoError<'config'> {
  override readonly name: string = 'ConfigError';
  readonly problems: readonly ConfigProblem[];
  /** Absolute path of the config file, when the problems come from one. */
  readonly file: string | undefined;

  constructor(problems: readonly ConfigProblem[], file?: string, options?: ErrorOptions) {
    super(renderProblems(problems, file), 'config', options);
    this.problems = problems;
    this.file = file;
  }
}

/** An environment variable named in the config holds no value. */
export class MissingSecretError extends ConfigError {
  override readonly name = 'MissingSecretError';
  constructor(
    readonly envName: string,
    readonly configKey: string,
  ) {
    super([{ text: `${envName} is not set: export it or change ${configKey}`, path: configKey }]);
  }
}

function renderProblems(problems: readonly ConfigProblem[], file?: string): string {
  if (file === undefined && problems.length === 1) return problems[0]!.text;
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const head = file === undefined ? `the config has ${count}:` : `config ${file} has ${count}:`;
  // Syntax errors carry file:line:col in their text already; key problems get the line up front.
  const lines = problems.map(
    (p) => `  ${p.line !== undefined && p.path !== undefined ? `line ${p.line}: ` : ''}${p.text}`,
  );
  return [head, ...lines].join('\n');
}

/** `['annotators', 0, 'username']` → `annotators[0].username`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** What a value is, for "got …": `"fast" (a string)`, `42 (a number)`, `a list`. */
export function describeFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value (null)';
  if (typeof value === 'string') return `${JSON.stringify(value)} (a string)`;
  if (typeof value === 'number') return `${value} (a number)`;
  if (typeof value === 'boolean') return `${value} (a boolean)`;
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

/** `"a"`, `"a" or "b"`, `"a", "b" or "c"`. */
export function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function quoteAll(values: readonly unknown[]): string[] {
  return values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v)));
}

/** Optimal string alignment distance: Levenshtein plus a swap of two neighbours (`timout`/`tiemout`). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate, if it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = editDistance(lower, c.toLowerCase());
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  // A third of the word's length tolerates one typo in short keys and a few in long ones.
  const limit = Math.max(1, Math.floor(Math.max(word.length, 3) / 3));
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

type AnySchema = z.core.$ZodType;

function defOf(schema: AnySchema): Record<string, unknown> & { type: string } {
  return schema._zod.def as unknown as Record<string, unknown> & { type: string };
}

/** Strip defaults, optionals and pipes down to the schema that describes the value. */
function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  for (;;) {
    const def = defOf(s);
    if (['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type)) {
      s = def.innerType as AnySchema;
    } else if (def.type === 'pipe') {
      s = def.in as AnySchema;
    } else {
      return s;
    }
  }
}

/** The schema that governs `path` in `data`, choosing discriminated-union options by the data. */
export function schemaAt(root: AnySchema, path: readonly PropertyKey[], data: unknown): AnySchema | undefined {
  let schema: AnySchema | undefined = root;
  let value: unknown = data;
  for (let i = 0; i <= path.length; i++) {
    if (schema === undefined) return undefined;
    schema = unwrap(schema);
    const def = defOf(schema);
    if (def.type === 'union' && typeof def.discriminator === 'string') {
      const tag = isRecord(value) ? value[def.discriminator] : undefined;
      schema = (def.options as AnySchema[]).find((option) => {
        const shape = objectShape(option);
        const tagSchema = shape?.[def.discriminator as string];
        const values = tagSchema ? (defOf(unwrap(tagSchema)).values as unknown[] | undefined) : undefined;
        return values?.includes(tag) ?? false;
      });
      if (schema === undefined) return undefined;
    }
    if (i === path.length) return schema;
    const key = path[i]!;
    const d = defOf(schema);
    if (d.type === 'object' && typeof key === 'string') {
      schema = (d.shape as Record<string, AnySchema>)[key];
      value = isRecord(value) ? value[key] : undefined;
    } else if (d.type === 'array' && typeof key === 'number') {
      schema = d.element as AnySchema;
      value = Array.isArray(value) ? value[key] : undefined;
    } else {
      return undefined;
    }
  }
  return schema;
}

function objectShape(schema: AnySchema): Record<string, AnySchema> | undefined {
  const def = defOf(unwrap(schema));
  return def.type === 'object' ? (def.shape as Record<string, AnySchema>) : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIntegerSchema(schema: AnySchema | undefined): boolean {
  if (!schema) return false;
  const format =
    (defOf(unwrap(schema)).format as string | undefined) ?? (unwrap(schema)._zod.bag as { format?: string }).format;
  return format === 'safeint' || format === 'int32' || format === 'uint32';
}

/** What a schema accepts, as a noun phrase: `an integer`, `"docker" or "local"`, `a list`. */
function expectedPhrase(schema: AnySchema | undefined, zodExpected?: string): string {
  if (schema) {
    const inner = unwrap(schema);
    const def = defOf(inner);
    if (def.type === 'enum') return orList(quoteAll(Object.values(def.entries as Record<string, unknown>)));
    if (def.type === 'literal') return orList(quoteAll(def.values as unknown[]));
    if (def.type === 'union' && typeof def.discriminator === 'string') return `a mapping with ${def.discriminator}`;
    if (isIntegerSchema(inner)) return 'an integer';
    return typePhrase(def.type);
  }
  return typePhrase(zodExpected ?? 'value');
}

function typePhrase(type: string): string {
  switch (type) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
      return 'a mapping';
    default:
      return `a ${type}`;
  }
}

function bound(issue: { minimum?: number | bigint; maximum?: number | bigint; inclusive?: boolean }): string {
  if (issue.minimum !== undefined) return `${issue.inclusive === false ? '>' : '>='} ${issue.minimum}`;
  return `${issue.inclusive === false ? '<' : '<='} ${issue.maximum}`;
}

export interface IssueContext {
  /** The schema the data was parsed with, to look up known keys and integer-ness. */
  schema: AnySchema;
  /** The data as parsed from YAML (before zod). */
  data: unknown;
  /** A note for a missing required key at this path (e.g. why the key is needed), or undefined. */
  requiredNote?: (path: readonly PropertyKey[]) => string | undefined;
}

/** Turn one zod 4 issue (parsed with `reportInput: true`) into problems, one per key. */
export function issueToProblems(issue: z.core.$ZodIssue, ctx: IssueContext): ConfigProblem[] {
  const at = (path: readonly PropertyKey[], text: string): ConfigProblem => {
    const p = formatPath(path);
    return { text: p === '' ? text : `${p}: ${text}`, path: p, keys: path };
  };
  const required = (path: readonly PropertyKey[], expected: string): ConfigProblem => {
    const note = ctx.requiredNote?.(path);
    return at(path, `required key missing${note ? ` (${note})` : ''}; expected ${expected}`);
  };
  const schema = schemaAt(ctx.schema, issue.path, ctx.data);
  const input = issue.input;

  switch (issue.code) {
    case 'invalid_type': {
      const expected = expectedPhrase(schema, issue.expected);
      if (input === undefined) return [required(issue.path, expected)];
      if (issue.path.length === 0 && input === null) {
        return [at([], 'the file is empty; expected a mapping with at least live_coding_agent and annotators')];
      }
      return [at(issue.path, `expected ${expected}, got ${describeFound(input)}`)];
    }
    case 'invalid_value': {
      const expected = orList(quoteAll(issue.values));
      if (input === undefined) return [required(issue.path, expected)];
      const found = typeof input === 'string' ? JSON.stringify(input) : describeFound(input);
      return [at(issue.path, `expected ${expected}, got ${found}`)];
    }
    case 'unrecognized_keys': {
      const parent = schema ? objectShape(schema) : undefined;
      const known = parent ? Object.keys(parent) : [];
      return issue.keys.map((key) => {
        const guess = didYouMean(key, known);
        const hint = guess ? `did you mean "${guess}"?` : `known keys are ${known.join(', ')}`;
        return at([...issue.path, key], `unknown key; ${hint}`);
      });
    }
    case 'invalid_union': {
      if (issue.discriminator !== undefined) {
        const tag = isRecord(input) ? input[issue.discriminator] : undefined;
        const expected = orList(quoteAll(('options' in issue ? issue.options : undefined) ?? []));
        // zod already put the discriminator key on the path.
        if (tag === undefined) return [required(issue.path, expected)];
        const found = typeof tag === 'string' ? JSON.stringify(tag) : describeFound(tag);
        return [at(issue.path, `expected ${expected}, got ${found}`)];
      }
      return [at(issue.path, `expected ${expectedPhrase(schema)}, got ${describeFound(input)}`)];
    }
    case 'too_small':
    case 'too_big': {
      const limit = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      if (issue.origin === 'string') {
        if (issue.code === 'too_small' && Number(limit) === 1) {
          return [at(issue.path, `expected a non-empty string, got ${describeFound(input)}`)];
        }
        const most = issue.code === 'too_small' ? 'at least' : 'at most';
        return [at(issue.path, `expected ${most} ${limit} characters, got ${describeFound(input)}`)];
      }
      if (issue.origin === 'array' || issue.origin === 'set') {
        const most = issue.code === 'too_small' ? 'at least' : 'at most';
        const count = Number(limit) === 1 ? '1 item' : `${limit} items`;
        return [at(issue.path, `expected ${most} ${count}, got ${describeFound(input)}`)];
      }
      const kind = isIntegerSchema(schema) ? 'an integer' : 'a number';
      return [at(issue.path, `expected ${kind} ${bound(issue)}, got ${describeFound(input)}`)];
    }
    case 'invalid_format': {
      let expected: string;
      if (issue.format === 'url') expected = 'a URL such as http://localhost:8080';
      else if (issue.format === 'regex') {
        // The schema's own message names the format ("an environment variable name"); zod's default does not.
        expected = issue.message.startsWith('Invalid') ? `text matching ${issue.pattern}` : issue.message;
      } else expected = `a valid ${issue.format}`;
      return [at(issue.path, `expected ${expected}, got ${describeFound(input)}`)];
    }
    case 'not_multiple_of':
      return [at(issue.path, `expected a multiple of ${issue.divisor}, got ${describeFound(input)}`)];
    default:
      return [at(issue.path, issue.message)];
  }
}

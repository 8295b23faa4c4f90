/**
 * @module export/types
 * The Exporter seam: a streaming function from one session's records to JSONL objects. Each
 * format is one file in formats/; index.ts lists them and runs them over a whole store.
 */
import type { ExportFormat } from '../config/schema.js';
import type { PotatoConfig } from '../config/types.js';
import { PotatoError } from '../errors.js';
import type { Step } from '../steps/types.js';
import type { Annotation, BranchRecord, Intervention, SessionRecord, StepLabel } from '../store/types.js';
import type { StringCleaner } from './redact.js';

export type { ExportFormat };

/** Everything the exporters read about one session, loaded once. */
export interface SessionData {
  session: SessionRecord;
  /** The whole step tree, in insertion order. */
  steps: Step[];
  byId: ReadonlyMap<string, Step>;
  branches: BranchRecord[];
  branchById: ReadonlyMap<string, BranchRecord>;
  interventions: Intervention[];
  annotations: Annotation[];
  labels: StepLabel[];
  /** Each branch's path, worked out once (session-data.ts pathOf). */
  paths: Map<BranchRecord, Step[]>;
  /** Applied to every string of every line before encoding (redact.ts). */
  clean: StringCleaner;
  /** Rules worked out once per session (rules.ts), filled on first use. */
  memo: Map<string, unknown>;
}

/** What dpo does with an annotator's edited tool call: a user turn saying so, or no pair. */
export type AnnotatorCalls = 'mark' | 'exclude';
/** What dpo does with the instruction sent with a rollback (only the chosen side saw it). */
export type RollbackInstruction = 'prompt' | 'exclude';

export interface ExportOptions {
  /** trajectories only: one line per branch (true) or one line per session holding the tree (false). */
  flattenBranches?: boolean;
  /** dpo, dpo_step: default 'mark'. */
  annotatorCalls?: AnnotatorCalls;
  /** dpo, dpo_step: default 'prompt'. */
  rollbackInstruction?: RollbackInstruction;
  /** prm_stepwise: steps of context before each line's first completion, and most completions per line (default 8). */
  prmWindow?: number;
  /** prm_stepwise: one line per labelled step (true) instead of runs of labelled steps (false, default). */
  prmSparseLabels?: boolean;
  /** Outcome values, best first: a pair whose rejected branch has a better outcome than its chosen one is dropped. */
  outcomeOrder?: readonly string[];
}

/** The options with their documented defaults filled in. */
export function withDefaults(opts: ExportOptions): Required<ExportOptions> {
  return {
    flattenBranches: opts.flattenBranches ?? false,
    annotatorCalls: opts.annotatorCalls ?? 'mark',
    rollbackInstruction: opts.rollbackInstruction ?? 'prompt',
    prmWindow: opts.prmWindow ?? 8,
    prmSparseLabels: opts.prmSparseLabels ?? false,
    outcomeOrder: opts.outcomeOrder ?? [],
  };
}

/** Turns one session into zero or more JSON lines (no newline); secrets are redacted after. */
export type Exporter = (data: SessionData, opts: ExportOptions) => Iterable<string>;

/** A user-facing export failure (unknown format, empty project, an option that does not apply): exit 2. */
export class ExportError extends PotatoError<'bad_request' | 'not_found'> {
  override name = 'ExportError';
  constructor(message: string, code: 'bad_request' | 'not_found' = 'bad_request', options?: ErrorOptions) {
    super(message, code, options);
  }
}

/** The options of `output.export_options`, as the exporters take them. */
export function exportOptionsOf(config: PotatoConfig): ExportOptions {
  const o = config.output.export_options;
  return {
    annotatorCalls: o.annotator_calls,
    rollbackInstruction: o.rollback_instruction,
    prmWindow: o.prm_window,
    prmSparseLabels: o.prm_sparse_labels,
    outcomeOrder: o.outcome_order,
  };
}

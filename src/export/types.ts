/**
 * @module export/types
 * The Exporter seam: a streaming function from one session's records to JSONL objects. Each
 * format is one file in formats/; index.ts lists them and runs them over a whole store.
 */
import type { ExportFormat } from '../config/schema.js';
import type { Step } from '../steps/types.js';
import type { Annotation, BranchRecord, Intervention, SessionRecord, StepLabel } from '../store/types.js';

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
}

export interface ExportOptions {
  /** trajectories only: one line per branch (true) or one line per session holding the tree (false). */
  flattenBranches?: boolean;
}

/** Turns one session into zero or more JSON lines (no newline); secrets are redacted after. */
export type Exporter = (data: SessionData, opts: ExportOptions) => Iterable<string>;

/** A user-facing export failure (unknown format, empty project, an option that does not apply): exit 2. */
export class ExportError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

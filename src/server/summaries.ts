/**
 * @module server/summaries
 * A session as the session lists show it: its live branch's steps, its branches, how many of
 * those steps its annotator labelled and whether they rated it. One definition for the
 * annotator's list and the lead's overview.
 */
import type { PotatoConfig } from '../config/types.js';
import { branchPath } from '../store/tree.js';
import type { SessionRecord, Store } from '../store/types.js';

export interface SessionCounts {
  /** Steps on the live branch's path (not every branch's steps added up). */
  step_count: number;
  branch_count: number;
  /** Of those steps, how many the session's annotator labelled. */
  labelled_count: number;
  /** The first radio scheme (the outcome) answered for the session or any of its branches. */
  rated: boolean;
}

export type SessionSummary = SessionRecord & SessionCounts;

/** The scheme whose answer counts as "rated": the first radio scheme, as the UI's progress line. */
export function ratingScheme(config: PotatoConfig): string | null {
  return config.annotation_schemes.find((s) => s.annotation_type === 'radio')?.name ?? null;
}

export async function summarize(store: Store, session: SessionRecord, rating: string | null): Promise<SessionSummary> {
  // The tree's shape only: reading every step of every session made a list cost the whole store.
  const [branches, steps, labels, annotations] = await Promise.all([
    store.listBranches(session.id),
    store.listStepLinks(session.id),
    store.listStepLabels(session.id),
    store.listAnnotations(session.id),
  ]);
  const live = branches.find((b) => b.id === session.current_branch_id) ?? branches.at(-1);
  const path = live ? branchPath(live, steps) : steps;
  const labelled = new Set(labels.filter((l) => l.annotator === session.annotator).map((l) => l.step_id));
  const rated =
    rating !== null &&
    annotations.some(
      (a) => a.annotator === session.annotator && a.scheme === rating && a.value !== null && a.value !== '',
    );
  return {
    ...session,
    step_count: path.length,
    branch_count: branches.length,
    labelled_count: path.filter((s) => labelled.has(s.id)).length,
    rated,
  };
}

/**
 * @module web/trace/fullStep
 * The whole step behind a preview. The snapshot and the socket send large text fields cut to
 * their first lines (`payload_cut`); a block that the annotator expands asks for the step
 * once, and the answer is kept for a while so a row scrolled away and back does not ask again.
 */
import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client.ts';
import type { Step } from '../api/types.ts';

/** Whole steps recently fetched, oldest first (a Map keeps insertion order). */
const cache = new Map<string, Promise<Step>>();
const CACHE_SIZE = 40;

function fetchStep(step: Step): Promise<Step> {
  const hit = cache.get(step.id);
  if (hit !== undefined) {
    cache.delete(step.id);
    cache.set(step.id, hit);
    return hit;
  }
  const p = api.step(step.session_id, step.id);
  cache.set(step.id, p);
  // The caller awaiting p sees the failure; the cache only forgets it so a later view retries.
  p.catch(() => cache.delete(step.id));
  while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return p;
}

export interface FullStep {
  /** The step to draw: the whole one once loaded, the preview until then. */
  step: Step;
  /** Ask for the whole step (nothing happens when it is not cut or already asked for). */
  load: () => void;
  loading: boolean;
  error: string | null;
}

export function useFullStep(preview: Step): FullStep {
  const [full, setFull] = useState<Step | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // A new version of the step (a live update) starts from its own preview again.
  // biome-ignore lint/correctness/useExhaustiveDependencies: the step object is the trigger
  useEffect(() => {
    setFull(null);
    setLoading(false);
    setError(null);
  }, [preview]);
  const load = useCallback(() => {
    if (!preview.payload_cut || full || loading) return;
    setLoading(true);
    setError(null);
    fetchStep(preview).then(
      (s) => {
        setFull(s);
        setLoading(false);
      },
      (e: Error) => {
        setError(`Could not load the whole step: ${e.message}`);
        setLoading(false);
      },
    );
  }, [preview, full, loading]);
  return { step: full && full.id === preview.id ? full : preview, load, loading, error };
}

/**
 * @module web/state/route
 * Which page is open, kept in the URL hash (#/ and #/sessions/ID) so any static file server can
 * serve the UI and a reload keeps the annotator where they were. Pages navigate through here
 * rather than through the shell that renders them.
 */
import { useEffect, useState } from 'react';

/** The current hash, re-rendering the caller when it changes. */
export function useHashRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash;
}

export function navigate(to: string): void {
  location.hash = to;
}

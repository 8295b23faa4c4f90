/**
 * @module web/components/StatusBadge
 * A session status as a coloured pill.
 */
import type { SessionStatus } from '../api/types.ts';

export function StatusBadge({ status }: { status: SessionStatus }) {
  return (
    <span className={`status-badge status-${status}`} data-testid="status-badge">
      {status}
    </span>
  );
}

/**
 * @module web/components/ResultPanel
 * Taking the result home: the viewed branch's patch as a download, the `potato apply`
 * command that makes it a branch of the user's repository, where the workspace is and the
 * `git log` that shows the branch's checkpoints.
 */
import { useEffect, useState } from 'react';
import { api } from '../api/client.ts';
import type { SessionResult } from '../api/types.ts';

export function ResultPanel({
  sessionId,
  branchName,
  branchCount,
}: {
  sessionId: string;
  branchName: string | undefined;
  /** Refetched when a branch is added. */
  branchCount: number;
}) {
  const [result, setResult] = useState<SessionResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new branch is the trigger to refetch
  useEffect(() => {
    let current = true;
    api.result(sessionId).then(
      (r) => current && setResult(r),
      (e: Error) => current && setError(e.message),
    );
    return () => {
      current = false;
    };
  }, [sessionId, branchCount]);
  const branch = result?.branches.find((b) => b.name === branchName) ?? result?.branches[0];
  return (
    <div className="result-panel" data-testid="result-panel">
      <div className="panel-title">Result</div>
      {error && <div className="form-error small">{error}</div>}
      {result && (
        <div className="pad small">
          {branch && result.base_commit ? (
            <a
              className="btn btn-small"
              href={branch.patch_url}
              download
              data-testid="download-patch"
              title={`The diff of ${branch.name} from the session's base, for git apply`}
            >
              Download patch ({branch.name})
            </a>
          ) : (
            <div className="muted">No checkpoints in this session: there is no patch to download.</div>
          )}
          <div className="muted">Workspace</div>
          <code className="copyable" data-testid="workspace-path">
            {result.workspace}
          </code>
          {branch && (
            <>
              <div className="muted">Its checkpoints</div>
              <code className="copyable" data-testid="git-log-command">
                {branch.git_log}
              </code>
              <div className="muted">Into your repository, as a new branch</div>
              <code className="copyable" data-testid="apply-command">
                {branch.apply_command}
              </code>
            </>
          )}
        </div>
      )}
    </div>
  );
}

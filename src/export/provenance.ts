/**
 * @module export/provenance
 * Where a line came from, on every line of every format: the session, its annotator, the model
 * and backend settings (secrets masked), the system prompt (hash and text), timestamps, status
 * and end reason, and for the line's branch its head, base commit, final diff and the exit code
 * of the last test command on it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { git, sealedGitEnv } from '../checkpoints/git/git.js';
import { checkpointGitDirOfWorkspace } from '../checkpoints/git/index.js';
import type { Step } from '../steps/types.js';
import type { BranchRecord } from '../store/types.js';
import { TOOL_SPECS } from '../tools/specs.js';
import { RawJson } from './json.js';
import { cleanValue } from './redact.js';
import { pathOf } from './session-data.js';
import type { SessionData } from './types.js';

export const MASKED = '[MASKED]';

// Values under these keys are secrets; `*_env` keys name an environment variable and are kept.
const SECRET_KEY = /(api[_-]?key|token|secret|password|passwd|authorization|credential|cookie)(?!.*_env$)/i;

/** A deep copy of settings with every value under a secret-looking key masked. */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && !k.endsWith('_env') && v !== null && typeof v !== 'object' ? MASKED : maskSecrets(v);
  }
  return out;
}

/** Commands taken for a test run (the last one's exit code is in provenance). */
export const TEST_COMMAND =
  /\b(pytest|py\.test|unittest|nose2?|tox|nox|jest|vitest|mocha|ava|rspec|phpunit|ctest|go test|cargo test|(npm|pnpm|yarn|bun)( run)? test|make (test|check)|mvn (test|verify)|gradlew? test|dotnet test|mix test)\b/;

export interface TestRun {
  step_idx: number;
  command: string;
  exit_code: number | null;
}

/** The last test command among these steps, if any. */
export function lastTest(steps: readonly Step[]): TestRun | null {
  for (let i = steps.length - 1; i >= 0; i--) {
    const p = steps[i]!.payload;
    if (p.type === 'bash_command' && !p.refused && TEST_COMMAND.test(p.command)) {
      return { step_idx: steps[i]!.step_idx, command: p.command, exit_code: p.exit_code };
    }
  }
  return null;
}

const diffCache = new Map<string, string | null>();
const DIFF_ARGS = ['diff-tree', '-p', '-r', '--no-color', '--no-ext-diff', '--no-textconv', '--no-renames'];

function remember(key: string, diff: string | null): void {
  if (diffCache.size > 10_000) diffCache.clear();
  diffCache.set(key, diff);
}

/**
 * Work out each branch's final diff before the (synchronous) exporters build lines, with git
 * started through the process host: a session's end then does not wait on git inside the event
 * loop. A diff asked for beyond these (an abandoned path's) is still made on demand.
 */
export async function prepareFinalDiffs(data: SessionData): Promise<void> {
  const base = data.session.base_commit;
  const gitDir = checkpointGitDirOfWorkspace(data.session.workspace);
  if (!base || !fs.existsSync(path.join(gitDir, 'HEAD'))) return;
  const heads = new Set<string>();
  for (const branch of data.branches) {
    const head = pathOf(data, branch).findLast((s) => s.checkpoint)?.checkpoint;
    if (head && head !== base && !diffCache.has(`${gitDir}\0${base}\0${head}`)) heads.add(head);
  }
  for (const head of heads) {
    const diff = await git([...DIFF_ARGS, base, head, '--'], { gitDir }).then(
      (r) => r.stdout,
      // No such commit any more (a repository cleaned by hand): no diff, as on demand.
      () => null,
    );
    remember(`${gitDir}\0${base}\0${head}`, diff);
  }
}

/**
 * `git diff base head` in the session's checkpoint repository, or null when it is gone. The
 * repository is the server's own (beside the workspaces, never found through the workspace's
 * `.git`, which the agent can rewrite to point anywhere, even at a FIFO) and git runs sealed
 * (checkpoints/git/git.ts): no discovery, no configuration or program of anyone else's.
 */
export function gitDiff(workspace: string, base: string | null, head: string | null): string | null {
  if (!base || !head) return null;
  if (base === head) return '';
  const gitDir = checkpointGitDirOfWorkspace(workspace);
  const key = `${gitDir}\0${base}\0${head}`;
  const hit = diffCache.get(key);
  if (hit !== undefined) return hit;
  let out: string | null = null;
  if (fs.existsSync(path.join(gitDir, 'HEAD'))) {
    // Synchronous: the exporters build lines synchronously (prepareFinalDiffs makes the usual ones first).
    const r = spawnSync('git', [...DIFF_ARGS, base, head, '--'], {
      cwd: gitDir,
      env: sealedGitEnv({ gitDir }),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    out = r.status === 0 ? r.stdout : null;
  }
  remember(key, out);
  return out;
}

/** The branch half of provenance: where the branch ended and what it changed. */
export function branchProvenance(data: SessionData, branch: BranchRecord | null, steps?: readonly Step[]) {
  const p = steps ?? (branch ? pathOf(data, branch) : []);
  let head: string | null = null;
  for (let i = p.length - 1; i >= 0 && !head; i--) head = p[i]!.checkpoint;
  const base = data.session.base_commit;
  return {
    branch: branch?.name ?? null,
    head_step: p.at(-1)?.step_idx ?? 0,
    head_commit: head ?? base,
    final_diff: gitDiff(data.session.workspace, base, head ?? base),
    last_test: lastTest(p),
  };
}

const iso = (ms: number | null | undefined) => (typeof ms === 'number' ? new Date(ms).toISOString() : null);

/** The session half of provenance, the same on every line of a session (worked out once). */
export function sessionProvenance(data: SessionData): Record<string, unknown> {
  const hit = data.memo.get('provenance');
  if (hit) return hit as Record<string, unknown>;
  const made = makeSessionProvenance(data);
  data.memo.set('provenance', made);
  return made;
}

function makeSessionProvenance(data: SessionData): Record<string, unknown> {
  const s = data.session;
  const {
    system_prompt: prompt,
    tools: _tools,
    ...settings
  } = s.backend_settings as Record<string, unknown> & { system_prompt?: unknown; tools?: unknown };
  const systemPrompt = typeof prompt === 'string' ? prompt : null;
  return {
    session_id: s.id,
    annotator: s.annotator,
    backend: s.backend,
    model: typeof settings.model === 'string' ? settings.model : null,
    backend_settings: maskSecrets(settings),
    system_prompt_sha256: systemPrompt === null ? null : createHash('sha256').update(systemPrompt).digest('hex'),
    system_prompt: systemPrompt,
    created_at: iso(s.created_at),
    updated_at: iso(s.updated_at),
    status: s.status,
    end_reason: s.end_reason,
    base_commit: s.base_commit,
  };
}

/**
 * Provenance of a line about one branch (and, for a pair, the rejected one too), as cleaned JSON
 * (redact.ts): lines of one branch share it, so it is made once per branch and session.
 */
export function provenance(
  data: SessionData,
  branch: BranchRecord | null,
  extra?: { steps?: readonly Step[]; rejected?: BranchRecord },
): RawJson {
  const key = extra?.steps ? null : `provenance\0${branch?.id ?? ''}\0${extra?.rejected?.id ?? ''}`;
  const hit = key ? data.memo.get(key) : undefined;
  if (hit) return hit as RawJson;
  const out: Record<string, unknown> = {
    ...sessionProvenance(data),
    ...branchProvenance(data, branch, extra?.steps),
  };
  if (extra?.rejected) out.rejected = branchProvenance(data, extra.rejected);
  const json = new RawJson(JSON.stringify(cleanValue(out, data.clean)));
  if (key) data.memo.set(key, json);
  return json;
}

/**
 * The tools the model had, as TRL's `tools` column wants them (JSON schemas of functions). A
 * session recorded before the tools were stored with it gets the specs of the tools it used.
 */
export function toolsOf(data: SessionData): { type: 'function'; function: Record<string, unknown> }[] {
  let stored = (data.session.backend_settings as { tools?: unknown }).tools;
  if (!Array.isArray(stored)) {
    const used = new Set(data.steps.map((s) => s.tool_call?.name));
    stored = TOOL_SPECS.filter((t) => used.has(t.name));
  }
  return (stored as unknown[]).flatMap((t) => {
    if (!t || typeof t !== 'object') return [];
    const spec = t as { name?: unknown; description?: unknown; input_schema?: unknown };
    if (typeof spec.name !== 'string') return [];
    return [
      {
        type: 'function' as const,
        function: { name: spec.name, description: spec.description ?? '', parameters: spec.input_schema ?? {} },
      },
    ];
  });
}

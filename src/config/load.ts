/**
 * @module config/load
 * `loadConfig(path)`: read the YAML file, check it against the schema, apply the cross-field
 * rules (the selected backend's section, unique annotators, keyboard shortcuts), resolve relative paths against the
 * config file's folder and hash annotator passwords. Every problem is reported at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { ConfigError, type ConfigProblem, formatPath, issueToProblems } from './errors.js';
import { hashPassword } from './passwords.js';
import { BACKENDS, type BackendName, configSchema, type RawConfig } from './schema.js';
import { shortcutProblems } from './shortcuts.js';
import type { PotatoConfig } from './types.js';
import { type ConfigWarning, configWarnings } from './warnings.js';
import { workspaceProblem } from './workspace.js';

/** Load, validate and resolve a config file. Throws ConfigError listing every problem. */
export function loadConfig(file: string): PotatoConfig {
  return loadConfigWithWarnings(file).config;
}

/** loadConfig, plus the keys the file sets that have no effect with its backend and sandbox. */
export function loadConfigWithWarnings(file: string): { config: PotatoConfig; warnings: ConfigWarning[] } {
  const configPath = path.resolve(file);
  const text = readConfigText(configPath);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });

  if (doc.errors.length > 0) {
    const problems = doc.errors.map((err): ConfigProblem => {
      const pos = err.linePos?.[0] ?? lineCounter.linePos(err.pos[0]);
      // yaml appends " at line L, column C:" and a code frame; the location is said once, up front.
      const reason = err.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '');
      return {
        text: `${configPath}:${pos.line}:${pos.col}: YAML syntax error: ${reason}`,
        line: pos.line,
        column: pos.col,
      };
    });
    // The parser often reports one mistake twice at the same spot; the first wording is the clearer one.
    const firstPerLine = problems.filter((p, i) => problems.findIndex((q) => q.line === p.line) === i);
    throw new ConfigError(firstPerLine, configPath);
  }

  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    // yaml refuses documents whose aliases expand too far (a "billion laughs" file).
    throw new ConfigError([{ text: `${configPath}: cannot read the YAML: ${(err as Error).message}` }], configPath, {
      cause: err,
    });
  }
  const backend = selectedBackend(data);
  if (backend && isRecord(data) && isRecord(data.live_coding_agent) && data.live_coding_agent[backend] == null) {
    // The selected backend's section takes its defaults when absent or left empty (`ollama:` with
    // every line commented out); its required keys are then reported as missing.
    data.live_coding_agent[backend] = {};
  }

  const result = configSchema.safeParse(data, { reportInput: true });
  const problems: ConfigProblem[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(
        ...issueToProblems(issue, {
          schema: configSchema,
          data,
          requiredNote: (keys) =>
            backend && keys[0] === 'live_coding_agent' && keys[1] === backend
              ? `the "${backend}" backend needs it`
              : undefined,
        }),
      );
    }
  }
  problems.push(...duplicateAnnotators(data));
  if (result.success) {
    problems.push(...missingFiles(result.data, path.dirname(configPath), data));
    problems.push(...shortcutProblems(result.data, data));
  }

  if (problems.length > 0) {
    const located = problems.map((p) => (p.keys ? { ...p, ...locate(doc.contents, p.keys, lineCounter) } : p));
    // Stable sort: file order, which is the order a user reads and fixes them in.
    located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw new ConfigError(located, configPath);
  }
  const warnings = configWarnings(data, result.data!)
    .map((w) => ({ ...w, line: locate(doc.contents, w.keys, lineCounter, 'key').line }))
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return { config: resolve(result.data!, configPath), warnings };
}

function readConfigText(configPath: string): string {
  try {
    return readFileSync(configPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file; check the path'
        : code === 'EISDIR'
          ? 'it is a folder; give the path of the YAML file'
          : code === 'EACCES'
            ? 'permission denied'
            : (err as Error).message;
    throw new ConfigError([{ text: `cannot read config ${configPath}: ${why}` }]);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function selectedBackend(data: unknown): BackendName | undefined {
  const backend = isRecord(data) && isRecord(data.live_coding_agent) ? data.live_coding_agent.backend : undefined;
  return (BACKENDS as readonly unknown[]).includes(backend) ? (backend as BackendName) : undefined;
}

function duplicateAnnotators(data: unknown): ConfigProblem[] {
  if (!isRecord(data) || !Array.isArray(data.annotators)) return [];
  const firstIndex = new Map<string, number>();
  const problems: ConfigProblem[] = [];
  data.annotators.forEach((a: unknown, i) => {
    if (!isRecord(a) || typeof a.username !== 'string') return;
    const seen = firstIndex.get(a.username);
    if (seen === undefined) {
      firstIndex.set(a.username, i);
      return;
    }
    const keys = ['annotators', i, 'username'];
    problems.push({
      text: `${formatPath(keys)}: ${JSON.stringify(a.username)} is already used by annotators[${seen}]; usernames must be unique`,
      path: formatPath(keys),
      keys,
    });
  });
  return problems;
}

/** Files and folders the config points at that must exist before anything starts. */
function missingFiles(raw: RawConfig, dir: string, data: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const script = raw.live_coding_agent.backend === 'scripted' ? raw.live_coding_agent.scripted?.script : undefined;
  if (script !== undefined && !existsSync(path.resolve(dir, script))) {
    const keys = ['live_coding_agent', 'scripted', 'script'];
    problems.push({
      text: `${formatPath(keys)}: file not found: ${path.resolve(dir, script)}`,
      path: formatPath(keys),
      keys,
    });
  }
  const workspace = raw.live_coding_agent.sandbox.workspace;
  const wrong = workspaceProblem(path.resolve(dir, workspace));
  if (wrong) {
    const keys = ['live_coding_agent', 'sandbox', 'workspace'];
    const sandbox = isRecord(data) && isRecord(data.live_coding_agent) ? data.live_coding_agent.sandbox : undefined;
    const given = isRecord(sandbox) && sandbox.workspace !== undefined;
    const source = given ? '' : ` (not set, so the default ${JSON.stringify(workspace)})`;
    problems.push({ text: `${formatPath(keys)}${source}: ${wrong}`, path: formatPath(keys), keys });
  }
  return problems;
}

/** The line and column of the deepest node on `keys` that the file has (for a missing key: its parent). */
function locate(
  root: Node | null,
  keys: readonly PropertyKey[],
  lineCounter: LineCounter,
  at: 'value' | 'key' = 'value',
): { line?: number; column?: number } {
  let node: unknown = root;
  let found: Node | null = root;
  for (const key of keys) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === key);
      if (!pair) break;
      // An unknown or empty key is best shown at the key itself.
      found = (at === 'value' && (pair.value as Node | null)) || (pair.key as Node);
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | undefined;
      if (!item) break;
      found = item;
      node = item;
    } else break;
  }
  const offset = found?.range?.[0];
  if (offset === undefined) return {};
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

function resolve(raw: RawConfig, configPath: string): PotatoConfig {
  const dir = path.dirname(configPath);
  const abs = (p: string) => path.resolve(dir, p);
  const agent = raw.live_coding_agent;
  const { annotators, ...rest } = raw;
  return {
    ...rest,
    live_coding_agent: {
      ...agent,
      sandbox: {
        ...agent.sandbox,
        workspace: abs(agent.sandbox.workspace),
        mount_volumes: agent.sandbox.mount_volumes.map((spec) => {
          // The schema guarantees HOST:/CONTAINER[:mode] with no colon in HOST.
          const colon = spec.indexOf(':');
          return `${abs(spec.slice(0, colon))}${spec.slice(colon)}`;
        }),
      },
      ...(agent.scripted ? { scripted: { ...agent.scripted, script: abs(agent.scripted.script) } } : {}),
    },
    output: { ...raw.output, path: abs(raw.output.path) },
    annotators: annotators.map(({ username, password, role }) => ({
      username,
      password_hash: hashPassword(password),
      role,
    })),
    config_path: configPath,
    config_dir: dir,
  };
}

/**
 * @module tools/policy
 * The command policy for bash_command, checked before anything runs. The command line is parsed
 * with mvdan/sh (the `mvdan-sh` build, which exposes the full syntax tree) and every simple
 * command is found: in pipelines, lists, subshells, blocks, if/while/for/case bodies, functions,
 * command and process substitutions, heredocs and words. Wrappers (`bash -c`, `env`, `sudo`,
 * `xargs`, `find -exec`, `timeout`, …) are unwrapped so the command they run is checked too.
 * See docs/command-policy.md for the rules and for what a policy like this cannot stop.
 */
import path from 'node:path';
import sh from 'mvdan-sh';
import { PotatoError } from '../errors.js';
import type { CommandPolicy } from './types.js';

export type PolicyVerdict = { ok: true } | { ok: false; command: string; reason: string };

/** A simple command found in a command line. `name` is null when the name is not a literal word. */
export interface FoundCommand {
  name: string | null;
  /** Literal value of each argument after the name; null where a word expands at run time. */
  args: (string | null)[];
  /** The command as written (for messages). */
  text: string;
  /** The wrappers it was found inside, outermost first (`bash -c`, `find -exec`, …). */
  via: string[];
  /** Set when the command runs code the policy cannot read (e.g. a shell fed from a pipe). */
  opaque?: string;
}

const { syntax } = sh;
const parser = syntax.NewParser(syntax.Variant(syntax.LangBash));

const MAX_DEPTH = 8;

/**
 * Shell builtins that never start another program; they are always allowed so that `cd src &&
 * pytest` works under an allow list. Builtins that do run code (eval, exec, source, command,
 * builtin, trap, alias) are not here: they are unwrapped or checked by name.
 */
export const HARMLESS_BUILTINS = new Set([
  'cd',
  'pwd',
  'echo',
  'printf',
  'true',
  'false',
  'test',
  '[',
  ':',
  'export',
  'unset',
  'set',
  'shift',
  'exit',
  'return',
  'read',
  'local',
  'declare',
  'typeset',
  'readonly',
  'wait',
  'break',
  'continue',
  'umask',
  'pushd',
  'popd',
  'dirs',
  'shopt',
]);

const SHELLS = new Set(['bash', 'sh', 'zsh', 'dash', 'ksh', 'mksh', 'ash', 'rbash']);

export class PolicyParseError extends PotatoError<'command_unparsable'> {
  override name = 'PolicyParseError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'command_unparsable', options);
  }
}

/** Parse a command line and return every simple command it would run, wrappers unwrapped. */
export function findCommands(commandLine: string): FoundCommand[] {
  const found: FoundCommand[] = [];
  walkScript(commandLine, [], 0, found);
  return found;
}

/** Check a command line against the policy. Never throws: parse errors refuse the command. */
/** What the agent is told when a command is refused (the raw backends and the SDK's Bash alike). */
export function refusalMessage(reason: string): string {
  return `${reason}\nNothing was run.`;
}

export function checkCommand(commandLine: string, policy: CommandPolicy): PolicyVerdict {
  let commands: FoundCommand[];
  try {
    commands = findCommands(commandLine);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { ok: false, command: commandLine, reason: `refused: the command line could not be parsed: ${msg}` };
  }
  const restricted = policy.restricted.map(parseEntry);
  const allowed = policy.allowed ? new Set(policy.allowed.map((a) => path.posix.basename(a.trim()))) : null;
  const where = (cmd: FoundCommand) => (cmd.via.length > 0 ? `; it is run via ${cmd.via.join(' → ')}` : '');
  // A restricted match anywhere is the most useful answer, so it is looked for first.
  for (const cmd of commands) {
    if (cmd.name === null) continue;
    for (const entry of restricted) {
      if (matchesEntry(cmd, entry)) {
        const shown = entry.args.length > 0 ? cmd.text : cmd.name;
        return {
          ok: false,
          command: cmd.text,
          reason: `refused: "${shown}" matches restricted_commands entry "${entry.source}"${where(cmd)}`,
        };
      }
    }
  }
  if (!allowed) return { ok: true };
  // Innermost first: for `bash -c "curl x"` the agent learns about curl, not only about bash.
  const innermostFirst = [...commands].sort((a, b) => b.via.length - a.via.length);
  for (const cmd of innermostFirst) {
    if (cmd.name !== null && !allowed.has(cmd.name) && !HARMLESS_BUILTINS.has(cmd.name)) {
      return {
        ok: false,
        command: cmd.text,
        reason: `refused: "${cmd.name}" is not in allowed_commands (${[...allowed].join(', ')})${where(cmd)}`,
      };
    }
  }
  for (const cmd of innermostFirst) {
    if (cmd.name === null) {
      return {
        ok: false,
        command: cmd.text,
        reason: `refused: "${cmd.text}" cannot be checked against allowed_commands: the command name is not a literal word, so it is only known at run time${where(cmd)}. Write the command name out literally.`,
      };
    }
    if (cmd.opaque) {
      return {
        ok: false,
        command: cmd.text,
        reason: `refused: "${cmd.text}" cannot be checked against allowed_commands: ${cmd.opaque}${where(cmd)}. Pass the script with -c or a heredoc instead.`,
      };
    }
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------
// Walking the syntax tree

function parse(script: string): sh.File {
  try {
    return parser.Parse(script, '');
  } catch (err) {
    // GopherJS throws the Go error value; its Error() method has the position and the text.
    const e = err as { Error?: () => string; message?: string };
    const text = typeof e.Error === 'function' ? e.Error() : (e.message ?? String(err));
    throw new PolicyParseError(text.replace(/^:/, 'line '));
  }
}

function walkScript(script: string, via: string[], depth: number, out: FoundCommand[]): void {
  if (depth > MAX_DEPTH) throw new PolicyParseError(`commands are nested more than ${MAX_DEPTH} levels deep`);
  const file = parse(script);
  const src = Buffer.from(script, 'utf8');
  syntax.Walk(file, (node) => {
    if (node && syntax.NodeType(node) === 'Stmt') {
      const stmt = node as sh.Stmt;
      if (stmt.Cmd && syntax.NodeType(stmt.Cmd) === 'CallExpr') {
        const words = (stmt.Cmd as sh.CallExpr).Args.filter((w): w is sh.Word => w !== null);
        if (words.length > 0) {
          const ctx: CallContext = { src, stmt, via, depth, out };
          visitCall(
            words.map((w) => wordInfo(w, src)),
            ctx,
          );
        }
      }
    }
    return true;
  });
}

interface CallContext {
  src: Buffer;
  stmt: sh.Stmt;
  via: string[];
  depth: number;
  out: FoundCommand[];
}

interface WordInfo {
  /** Literal value after quote removal, or null when it expands at run time. */
  value: string | null;
  /** True when the word has an unquoted glob or brace character (its value may change). */
  pattern: boolean;
  text: string;
}

function wordInfo(word: sh.Word, src: Buffer): WordInfo {
  const text = src.subarray(word.Pos().Offset(), word.End().Offset()).toString('utf8');
  let value: string | null = '';
  let pattern = false;
  for (const part of word.Parts) {
    const lit = partValue(part);
    if (lit === null) {
      value = null;
      break;
    }
    value += lit.value;
    pattern ||= lit.pattern;
  }
  return { value, pattern, text };
}

function partValue(part: sh.Node): { value: string; pattern: boolean } | null {
  switch (syntax.NodeType(part)) {
    case 'Lit': {
      const raw = (part as sh.Lit).Value;
      return { value: raw.replace(/\\\n/g, '').replace(/\\(.)/gs, '$1'), pattern: /(^|[^\\])[*?[{]/.test(raw) };
    }
    case 'SglQuoted': {
      const q = part as sh.SglQuoted;
      return { value: q.Dollar ? ansiC(q.Value) : q.Value, pattern: false };
    }
    case 'DblQuoted': {
      let value = '';
      for (const inner of (part as sh.DblQuoted).Parts) {
        if (syntax.NodeType(inner) !== 'Lit') return null;
        value += (inner as sh.Lit).Value.replace(/\\\n/g, '').replace(/\\([$`"\\])/g, '$1');
      }
      return { value, pattern: false };
    }
    default:
      return null;
  }
}

/** Decode bash's $'...' escapes, so `$'\x63url'` is seen as curl. */
function ansiC(s: string): string {
  const simple: Record<string, string> = {
    n: '\n',
    t: '\t',
    r: '\r',
    a: '\x07',
    b: '\b',
    e: '\x1b',
    E: '\x1b',
    f: '\f',
    v: '\v',
    '\\': '\\',
    "'": "'",
    '"': '"',
    '?': '?',
  };
  return s.replace(/\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|c.|.)/gs, (m, esc: string) => {
    const c = esc[0]!;
    if (c === 'x' || c === 'u' || c === 'U') return String.fromCodePoint(Number.parseInt(esc.slice(1), 16));
    if (c >= '0' && c <= '7') return String.fromCharCode(Number.parseInt(esc, 8));
    if (c === 'c') return String.fromCharCode(esc.charCodeAt(1) & 0x1f);
    return simple[c] ?? m;
  });
}

function record(words: WordInfo[], ctx: CallContext, opaque?: string): FoundCommand {
  const first = words[0]!;
  const name = first.value !== null && !first.pattern && first.value !== '' ? path.posix.basename(first.value) : null;
  const cmd: FoundCommand = {
    name,
    args: words.slice(1).map((w) => w.value),
    text: words.map((w) => w.text).join(' '),
    via: ctx.via,
  };
  if (opaque) cmd.opaque = opaque;
  ctx.out.push(cmd);
  return cmd;
}

/** Record a simple command, then look inside it when it runs another command or a script. */
function visitCall(words: WordInfo[], ctx: CallContext): void {
  const cmd = record(words, ctx);
  if (cmd.name === null) return;
  const rest = words.slice(1);
  const inner = (label: string) => [...ctx.via, label];
  const runWords = (ws: WordInfo[], label: string) => {
    if (ws.length > 0) visitCall(ws, { ...ctx, via: inner(label) });
  };
  const runScript = (word: WordInfo | string, label: string) => {
    const text = typeof word === 'string' ? word : word.value;
    if (text === null) {
      record([{ value: null, pattern: false, text: typeof word === 'string' ? word : word.text }], {
        ...ctx,
        via: inner(label),
      });
      return;
    }
    walkScript(text, inner(label), ctx.depth + 1, ctx.out);
  };

  switch (cmd.name) {
    case 'sudo':
    case 'doas': {
      runWords(skipOptions(rest, 'ugCDhprtTU', true), cmd.name);
      return;
    }
    case 'env': {
      unwrapEnv(rest, runWords, runScript);
      return;
    }
    case 'command':
    case 'builtin': {
      const r = skipOptions(rest, '', false);
      // `command -v x` only looks x up; it runs nothing.
      if (rest.some((w) => w.value !== null && /^-[pVv]*[Vv]/.test(w.value))) return;
      runWords(r, cmd.name);
      return;
    }
    case 'exec': {
      runWords(skipOptions(rest, 'a', false), 'exec');
      return;
    }
    case 'nohup':
    case 'setsid':
    case 'time': {
      runWords(skipOptions(rest, 'fo', false), cmd.name);
      return;
    }
    case 'nice': {
      runWords(skipOptions(rest, 'n', false, true), 'nice');
      return;
    }
    case 'ionice': {
      runWords(skipOptions(rest, 'cnp', false), 'ionice');
      return;
    }
    case 'stdbuf': {
      runWords(skipOptions(rest, 'ioe', false), 'stdbuf');
      return;
    }
    case 'timeout': {
      const r = skipOptions(rest, 'sk', false);
      runWords(r.slice(1), 'timeout');
      return;
    }
    case 'watch': {
      const r = skipOptions(rest, 'nqd', false);
      runScript(joinWords(r), 'watch');
      return;
    }
    case 'xargs': {
      const r = skipOptions(rest, 'adEILnPs', false);
      runWords(r, 'xargs');
      return;
    }
    case 'find': {
      unwrapFind(rest, runWords);
      return;
    }
    case 'eval': {
      runScript(joinWords(rest), 'eval');
      return;
    }
    case 'trap':
      if (rest[0] && rest[0].value !== '-' && !rest[0].value?.startsWith('-')) runScript(rest[0], 'trap');
      return;
    case 'alias':
      for (const w of rest) {
        if (w.value === null) runScript(w, 'alias');
        else if (w.value.includes('=')) runScript(w.value.slice(w.value.indexOf('=') + 1), 'alias');
      }
      return;
    case 'su':
    case 'runuser': {
      const i = rest.findIndex((w) => w.value === '-c' || w.value === '--command');
      if (i >= 0 && rest[i + 1]) runScript(rest[i + 1]!, `${cmd.name} -c`);
      return;
    }
    default:
      if (SHELLS.has(cmd.name)) {
        unwrapShell(cmd.name, rest, ctx, runScript);
        return;
      }
  }
}

function joinWords(words: WordInfo[]): WordInfo {
  if (words.some((w) => w.value === null))
    return { value: null, pattern: false, text: words.map((w) => w.text).join(' ') };
  return { value: words.map((w) => w.value).join(' '), pattern: false, text: words.map((w) => w.text).join(' ') };
}

/**
 * Drop leading options so the wrapped command comes first. `withArg` lists short options that
 * take a value (`-u root`, or attached: `-uroot`); `assignments` also skips VAR=value words
 * (sudo); `numericFlags` accepts `-10` (nice).
 */
function skipOptions(words: WordInfo[], withArg: string, assignments: boolean, numericFlags = false): WordInfo[] {
  let i = 0;
  while (i < words.length) {
    const v = words[i]!.value;
    if (v === null) break;
    if (v === '--') return words.slice(i + 1);
    if (assignments && /^[A-Za-z_][A-Za-z0-9_]*=/.test(v)) {
      i++;
      continue;
    }
    if (!v.startsWith('-') || v === '-') break;
    if (v.startsWith('--') || (numericFlags && /^-\d+$/.test(v))) {
      // A long option's value is attached (--user=x) in the forms agents write.
      i++;
      continue;
    }
    const flags = v.slice(1);
    const k = [...flags].findIndex((f) => withArg.includes(f));
    i += k === flags.length - 1 ? 2 : 1;
  }
  return words.slice(i);
}

function unwrapEnv(
  words: WordInfo[],
  runWords: (ws: WordInfo[], label: string) => void,
  runScript: (w: WordInfo | string, label: string) => void,
): void {
  let i = 0;
  while (i < words.length) {
    const v = words[i]!.value;
    if (v === null) break;
    if (v === '-S' || v === '--split-string') {
      // env -S "cmd args" splits the string into a command line.
      if (words[i + 1]) runScript(words[i + 1]!, 'env -S');
      return;
    }
    if (v.startsWith('-S') && v.length > 2) {
      runScript(v.slice(2), 'env -S');
      return;
    }
    if (v.startsWith('--split-string=')) {
      runScript(v.slice('--split-string='.length), 'env -S');
      return;
    }
    if (v === '-u' || v === '-C' || v === '--unset' || v === '--chdir') {
      i += 2;
      continue;
    }
    if (v === '--') {
      i++;
      break;
    }
    if (v.startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(v)) {
      i++;
      continue;
    }
    break;
  }
  runWords(words.slice(i), 'env');
}

function unwrapFind(words: WordInfo[], runWords: (ws: WordInfo[], label: string) => void): void {
  for (let i = 0; i < words.length; i++) {
    const v = words[i]!.value;
    if (v === '-exec' || v === '-execdir' || v === '-ok' || v === '-okdir') {
      let j = i + 1;
      while (j < words.length && words[j]!.value !== ';' && words[j]!.value !== '+') j++;
      runWords(words.slice(i + 1, j), `find ${v}`);
      i = j;
    }
  }
}

/** `bash -c SCRIPT`, `bash <<EOF`, `bash <<< SCRIPT`, or a shell reading a pipe. */
function unwrapShell(
  shell: string,
  words: WordInfo[],
  ctx: CallContext,
  runScript: (w: WordInfo | string, label: string) => void,
): void {
  let commandMode = false;
  let i = 0;
  for (; i < words.length; i++) {
    const v = words[i]!.value;
    if (v === null) break;
    if (v === '--' || v === '-') {
      i++;
      break;
    }
    if (v === '-o' || v === '+o' || v === '-O' || v === '+O' || v === '--rcfile' || v === '--init-file') {
      i++;
      continue;
    }
    if (/^[-+][A-Za-z]+$/.test(v)) {
      if (v.startsWith('-') && v.includes('c')) commandMode = true;
      continue;
    }
    if (v.startsWith('--')) continue;
    break;
  }
  if (commandMode) {
    const script = words[i];
    if (script) runScript(script, `${shell} -c`);
    return;
  }
  if (i < words.length) return; // `bash script.sh`: the script is a file, checked as the shell itself.
  for (const redir of ctx.stmt.Redirs) {
    if (!redir) continue;
    if (redir.Hdoc) {
      if (redir.Hdoc.Parts.length === 0) return;
      const body = ctx.src.subarray(redir.Hdoc.Pos().Offset(), redir.Hdoc.End().Offset()).toString('utf8');
      runScript(body, `${shell} <<heredoc`);
      return;
    }
    if (redir.Word && syntax.NodeType(redir) === 'Redirect' && redir.Op === hereStringOp) {
      runScript(wordInfo(redir.Word, ctx.src), `${shell} <<<`);
      return;
    }
    if (redir.Word && redir.Op === readFromOp) return; // `bash < script.sh`: a file, as above.
  }
  record([{ value: shell, pattern: false, text: shell }], ctx, `${shell} reads its commands from standard input`);
}

// mvdan-sh's operator numbers, read from a parse rather than hard-coded.
const hereStringOp = opOf('x <<< y');
const readFromOp = opOf('x < y');
function opOf(line: string): number {
  const stmt = parser.Parse(line, '').Stmts[0]!;
  return stmt.Redirs[0]!.Op as number;
}

// ---------------------------------------------------------------------------------------------
// restricted_commands entries

interface Entry {
  source: string;
  name: string;
  args: string[];
}

const entryCache = new Map<string, Entry>();

/** Entries come from the config and repeat on every call, so each is parsed once. */
function parseEntry(source: string): Entry {
  const cached = entryCache.get(source);
  if (cached) return cached;
  const entry = parseEntryUncached(source);
  if (entryCache.size < 1000) entryCache.set(source, entry);
  return entry;
}

function parseEntryUncached(source: string): Entry {
  let words: string[];
  try {
    const found = findCommands(source)[0];
    words = found && found.name !== null ? [found.name, ...found.args.map((a) => a ?? '')] : source.trim().split(/\s+/);
  } catch {
    // Unparsable: the entry is still listed, split on spaces; checkCommand refuses such commands.
    words = source.trim().split(/\s+/);
  }
  return { source, name: path.posix.basename(words[0] ?? ''), args: words.slice(1) };
}

/** Short flags as a set of letters, long options and operands as words: `-rf` = `-fr` = `-r -f`. */
function argSignature(args: string[]): { flags: Set<string>; words: Set<string> } {
  const flags = new Set<string>();
  const words = new Set<string>();
  let operandsOnly = false;
  for (const a of args) {
    if (!operandsOnly && a === '--') {
      operandsOnly = true;
      continue;
    }
    if (!operandsOnly && /^-[A-Za-z0-9]+$/.test(a)) {
      for (const f of a.slice(1)) flags.add(f);
      continue;
    }
    words.add(!operandsOnly && a.startsWith('--') ? a : normalizeOperand(a));
  }
  return { flags, words };
}

function normalizeOperand(a: string): string {
  if (!a.includes('/')) return a;
  const n = path.posix.normalize(a);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** The command matches when the names agree and it has every flag and word of the entry. */
function matchesEntry(cmd: FoundCommand, entry: Entry): boolean {
  if (cmd.name !== entry.name) return false;
  if (entry.args.length === 0) return true;
  const want = argSignature(entry.args);
  const have = argSignature(cmd.args.filter((a): a is string => a !== null));
  for (const f of want.flags) if (!have.flags.has(f)) return false;
  for (const w of want.words) if (!have.words.has(w)) return false;
  return true;
}

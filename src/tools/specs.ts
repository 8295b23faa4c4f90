/**
 * @module tools/specs
 * The five agent tools as zod schemas: one source for the JSON schemas the models see
 * (TOOL_SPECS) and for checking the calls they make (a bad call is answered, never thrown).
 */
import { z } from 'zod';
import type { ToolSpec } from '../backends/types.js';
import { TOOL_NAMES } from '../config/schema.js';

export type ToolName = (typeof TOOL_NAMES)[number];

const relPath = (what: string) =>
  z
    .string()
    .min(1, 'must not be empty')
    .describe(
      `${what}, relative to the workspace root (e.g. "src/parser.py"). Paths outside the workspace are refused.`,
    );

export const TOOL_INPUTS = {
  file_read: z.object({
    path: relPath('File to read'),
    start_line: z.int().min(1).optional().describe('First line to return (1-based, inclusive). Default: 1.'),
    end_line: z
      .int()
      .min(1)
      .optional()
      .describe('Last line to return (1-based, inclusive). Default: the end of the file.'),
  }),
  file_edit: z.object({
    path: relPath('File to edit or create'),
    old_text: z
      .string()
      .min(1, 'must not be empty; omit old_text to write the whole file')
      .optional()
      .describe(
        'Exact text to replace, including whitespace and indentation. It must occur exactly once in the file; ' +
          'include a few surrounding lines to make it unique. Omit it to write the whole file (creating it if missing).',
      ),
    new_text: z
      .string()
      .describe('Replacement for old_text, or the complete new file content when old_text is omitted.'),
  }),
  bash_command: z.object({
    command: z
      .string()
      .min(1, 'must not be empty')
      .describe(
        'Shell command line, run with bash in the workspace root (pipes, && and redirections work). ' +
          'Output is stdout and stderr combined; long output keeps its start and end. ' +
          'Commands may be refused by the command policy; the refusal says why.',
      ),
    timeout_seconds: z
      .number()
      .positive()
      .optional()
      .describe('Kill the command (and everything it started) after this many seconds. Capped by the server limit.'),
  }),
  directory_list: z.object({
    path: z
      .string()
      .optional()
      .describe('Directory to list, relative to the workspace root. Default: the workspace root.'),
    depth: z
      .int()
      .min(1)
      .max(10)
      .optional()
      .describe('How many levels deep to list (1 = direct children). Default: 2.'),
  }),
  file_search: z.object({
    pattern: z
      .string()
      .min(1, 'must not be empty')
      .describe('Regular expression (JavaScript syntax) matched against each line, e.g. "def parse_\\\\w+".'),
    path: z.string().optional().describe('Directory or file to search, relative to the workspace root. Default: all.'),
    glob: z
      .string()
      .optional()
      .describe('Only search files whose path matches this glob, e.g. "*.py" or "src/**/*.ts".'),
  }),
} satisfies Record<ToolName, z.ZodObject>;

export type ToolInput<N extends ToolName> = z.infer<(typeof TOOL_INPUTS)[N]>;

const DESCRIPTIONS: Record<ToolName, string> = {
  file_read:
    'Read a text file from the workspace. Returns its lines prefixed with line numbers; use start_line and ' +
    'end_line to read part of a large file.',
  file_edit:
    'Change a file. With old_text: replace its single exact occurrence with new_text (fails if old_text is ' +
    'missing or occurs more than once, saying how many times). Without old_text: write new_text as the whole ' +
    'file, creating it and its directories if needed. Returns what changed.',
  bash_command:
    'Run a shell command in the workspace root and return its output and exit code. Use it to run tests, ' +
    'linters, git and other programs. Do not start interactive programs; they get no input.',
  directory_list:
    'List files and directories under a path (directories end with "/"; .git is skipped). Use it to find your ' +
    'way around the project.',
  file_search:
    'Search file contents with a regular expression. Returns matching lines as path:line: text. Use glob to ' +
    'limit the search to some files.',
};

function jsonSchema(schema: z.ZodObject): ToolSpec['input_schema'] {
  const raw = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  const { $schema: _drop, ...rest } = raw;
  // zod writes Number.MAX_SAFE_INTEGER as the maximum of every int; it only adds noise for the model.
  const text = JSON.stringify(rest).replace(/,"maximum":9007199254740991/g, '');
  return JSON.parse(text) as ToolSpec['input_schema'];
}

export const TOOL_SPECS: ToolSpec[] = TOOL_NAMES.map((name) => ({
  name,
  description: DESCRIPTIONS[name],
  input_schema: jsonSchema(TOOL_INPUTS[name]),
}));

/** The specs for a configured subset of tools, in the canonical order. */
export function toolSpecs(names: readonly string[] = TOOL_NAMES): ToolSpec[] {
  return TOOL_SPECS.filter((s) => names.includes(s.name));
}

export function isToolName(name: string): name is ToolName {
  return (TOOL_NAMES as readonly string[]).includes(name);
}

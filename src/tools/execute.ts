/**
 * @module tools/execute
 * executeTool: one model tool call in, one ToolOutcome out. It never throws for anything the
 * model did: a malformed or unknown call becomes a bad_tool_call error step, a failing tool a
 * tool_error step, and in both cases the result text tells the model what to do.
 */
import path from 'node:path';
import type { z } from 'zod';
import { SandboxError } from '../sandbox/types.js';
import type { ToolCall } from '../steps/types.js';
import { bashCommand } from './bash-tool.js';
import { fileEdit, fileRead } from './file-tools.js';
import { directoryList, fileSearch } from './search-tools.js';
import { isToolName, TOOL_INPUTS, TOOL_SPECS, type ToolInput } from './specs.js';
import { ToolFailure } from './tool-result.js';
import type { ToolContext, ToolOutcome } from './types.js';

function errorOutcome(kind: 'bad_tool_call' | 'tool_error', message: string): ToolOutcome {
  return { payload: { type: 'error', kind, message }, result: message, isError: true, changed: [] };
}

function describeIssues(tool: string, error: z.ZodError): string {
  const problems = error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : 'input';
    if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
      return `"${field}" is required`;
    }
    return `"${field}": ${issue.message.replace(/^Invalid input: /, '')}`;
  });
  const spec = TOOL_SPECS.find((s) => s.name === tool)!;
  const required = new Set(spec.input_schema.required ?? []);
  const fields = Object.entries(spec.input_schema.properties)
    .map(([k, v]) => `${k}${required.has(k) ? '' : '?'}: ${(v as { type?: string }).type ?? 'any'}`)
    .join(', ');
  return `Bad call to ${tool}: ${problems.join('; ')}. Expected {${fields}}.`;
}

/**
 * The agent's path in the form the records use: workspace-relative, '/'-separated, no "./".
 * An absolute path inside the workspace is accepted and shortened.
 */
function recordPath(workspace: string, abs: string): string {
  const rel = path.relative(workspace, abs).split(path.sep).join('/');
  return rel === '' ? '.' : rel;
}

export async function executeTool(call: ToolCall, ctx: ToolContext): Promise<ToolOutcome> {
  const { name } = call;
  if (!isToolName(name)) {
    return errorOutcome(
      'bad_tool_call',
      `Unknown tool "${name}". The tools are: ${TOOL_SPECS.map((s) => s.name).join(', ')}.`,
    );
  }
  const parsed = TOOL_INPUTS[name].safeParse(call.input ?? {});
  if (!parsed.success) return errorOutcome('bad_tool_call', describeIssues(name, parsed.error));

  try {
    const sandbox = ctx.sandbox;
    const rel = (p: string | undefined) => recordPath(sandbox.workspace, sandbox.resolve(p ?? '.'));
    switch (name) {
      case 'file_read': {
        const input = parsed.data as ToolInput<'file_read'>;
        return await fileRead(sandbox, rel(input.path), input, ctx.maxOutputBytes);
      }
      case 'file_edit': {
        const input = parsed.data as ToolInput<'file_edit'>;
        return await fileEdit(sandbox, rel(input.path), input);
      }
      case 'bash_command':
        return await bashCommand(parsed.data as ToolInput<'bash_command'>, ctx);
      case 'directory_list': {
        const input = parsed.data as ToolInput<'directory_list'>;
        return await directoryList(sandbox, rel(input.path), input.depth ?? 2);
      }
      case 'file_search': {
        const input = parsed.data as ToolInput<'file_search'>;
        return await fileSearch(sandbox, rel(input.path), input);
      }
    }
  } catch (err) {
    if (err instanceof ToolFailure || err instanceof SandboxError) return errorOutcome('tool_error', err.message);
    throw err;
  }
}

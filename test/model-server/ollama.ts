/**
 * @module test/model-server/ollama
 * The Ollama API wire format: NDJSON chunks from /api/chat (thinking, content, tool_calls with
 * arguments as an object, a final chunk with done_reason and eval counts), /api/tags and
 * /api/show answers, and `{error}` bodies.
 */
import { argumentsText, pieces } from './split.js';
import type { ScriptedFailure, ScriptedTurn, WireResponse } from './types.js';

const NDJSON = { 'content-type': 'application/x-ndjson' };
const CREATED_AT = '2025-06-01T12:00:00.000000Z';

function chunk(model: string, message: Record<string, unknown>): string {
  return `${JSON.stringify({ model, created_at: CREATED_AT, message: { role: 'assistant', content: '', ...message }, done: false })}\n`;
}

/** Ollama parses tool arguments itself; a malformed call arrives as a string we pass through. */
function toolArguments(call: { input?: Record<string, unknown>; raw_arguments?: string }): unknown {
  if (call.raw_arguments === undefined) return call.input ?? {};
  try {
    return JSON.parse(call.raw_arguments);
  } catch {
    return argumentsText(call);
  }
}

export function renderTurn(turn: ScriptedTurn, request: { model?: string; stream?: boolean }): WireResponse {
  const model = request.model ?? 'qwen2.5-coder:32b';
  const usage = turn.usage ?? { input_tokens: 100, output_tokens: 20 };
  const toolCalls = (turn.tool_calls ?? []).map((call, index) => ({
    ...(call.id ? { id: call.id } : {}),
    function: { index, name: call.name, arguments: toolArguments(call) },
  }));
  const final = {
    model,
    created_at: CREATED_AT,
    message: { role: 'assistant', content: '' },
    done: true,
    done_reason: turn.stop_reason === 'max_tokens' ? 'length' : 'stop',
    total_duration: 1_200_000_000,
    load_duration: 20_000_000,
    prompt_eval_count: usage.input_tokens,
    prompt_eval_duration: 300_000_000,
    eval_count: usage.output_tokens,
    eval_duration: 800_000_000,
  };
  if (request.stream === false) {
    const message: Record<string, unknown> = { role: 'assistant', content: turn.text ?? '' };
    if (turn.thinking !== undefined) message.thinking = turn.thinking;
    if (toolCalls.length) message.tool_calls = toolCalls;
    return {
      status: 200,
      headers: { 'content-type': 'application/json' },
      chunks: [JSON.stringify({ ...final, message })],
    };
  }
  const chunks: string[] = [];
  for (const p of pieces(turn.thinking ?? '', turn.chunk_size)) chunks.push(chunk(model, { thinking: p }));
  for (const p of pieces(turn.text ?? '', turn.chunk_size)) chunks.push(chunk(model, { content: p }));
  // Ollama sends each parsed tool call whole, in a chunk of its own.
  for (const call of toolCalls) chunks.push(chunk(model, { tool_calls: [call] }));
  chunks.push(`${JSON.stringify(final)}\n`);
  return { status: 200, headers: NDJSON, chunks };
}

export function renderFailure(failure: ScriptedFailure, request: { model?: string }): WireResponse {
  const message =
    failure.message ??
    (failure.status === 404
      ? `model "${request.model ?? ''}" not found, try pulling it first`
      : failure.status === 401
        ? 'unauthorized'
        : `server error (${failure.status})`);
  return {
    status: failure.status,
    headers: { 'content-type': 'application/json' },
    chunks: [JSON.stringify({ error: message })],
  };
}

export function renderModelMissing(model: string): WireResponse {
  return renderFailure({ status: 404 }, { model });
}

export function renderFixture(lines: Record<string, unknown>[]): WireResponse {
  return { status: 200, headers: NDJSON, chunks: lines.map((l) => `${JSON.stringify(l)}\n`) };
}

export function renderTags(models: string[]): WireResponse {
  const body = {
    models: models.map((name) => ({
      name,
      model: name,
      modified_at: CREATED_AT,
      size: 19_851_349_856,
      digest: 'b92d6a0bd47e2ab4c1d4d7c6e2f0a1b3c5d7e9f1a2b3c4d5e6f7a8b9c0d1e2f3',
      details: {
        parent_model: '',
        format: 'gguf',
        family: 'qwen2',
        families: ['qwen2'],
        parameter_size: '32.8B',
        quantization_level: 'Q4_K_M',
      },
    })),
  };
  return { status: 200, headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify(body)] };
}

export function renderShow(model: string, capabilities: string[]): WireResponse {
  const body = {
    modelfile: `FROM ${model}`,
    parameters: '',
    template: '{{ .Prompt }}',
    details: {
      parent_model: '',
      format: 'gguf',
      family: 'qwen2',
      families: ['qwen2'],
      parameter_size: '32.8B',
      quantization_level: 'Q4_K_M',
    },
    model_info: { 'general.architecture': 'qwen2', 'qwen2.context_length': 32768 },
    capabilities,
    modified_at: CREATED_AT,
  };
  return { status: 200, headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify(body)] };
}

/**
 * @module test/backends/harness
 * A real engine (test/engine/harness: config loader, SQLite, git, local sandbox) whose backend
 * is one of the raw-model backends talking through its real client library to the scripted
 * model server on 127.0.0.1, plus readers for what each provider's wire format put in a
 * recorded request body: user texts, tool calls and tool results.
 */
import { type Engine, startEngine } from '../engine/harness.js';
import {
  type ModelServer,
  type ModelServerOptions,
  type Provider,
  type RecordedRequest,
  startModelServer,
} from '../model-server/server.js';

export const PROVIDERS: Provider[] = ['anthropic', 'ollama', 'openai'];

/** The env var the anthropic and openai sections name; its value must never reach a record. */
export const KEY_ENV = 'POTATO_BACKEND_TEST_KEY';
export const KEY = 'sk-backend-test-5f0c2d9a71e4';

export const MODEL: Record<Provider, string> = {
  anthropic: 'claude-sonnet-4-20250514',
  ollama: 'qwen2.5-coder:32b',
  openai: 'local-model',
};

export function backendSection(provider: Provider, server: ModelServer): Record<string, unknown> {
  switch (provider) {
    case 'anthropic':
      return { base_url: server.anthropicUrl, api_key_env: KEY_ENV, model: MODEL.anthropic };
    case 'ollama':
      return { host: server.ollamaUrl, model: MODEL.ollama };
    case 'openai':
      return { base_url: server.openaiUrl, api_key_env: KEY_ENV, model: MODEL.openai };
  }
}

export interface BackendRig {
  provider: Provider;
  server: ModelServer;
  engine: Engine;
  /** The chat requests the model server received for this provider, in order. */
  chats(): RecordedRequest[];
  close(): Promise<void>;
}

export async function startRig(
  provider: Provider,
  config: Record<string, unknown> = {},
  serverOptions: ModelServerOptions = {},
): Promise<BackendRig> {
  process.env[KEY_ENV] = KEY;
  const server = await startModelServer(serverOptions);
  const agent = (config.live_coding_agent ?? {}) as Record<string, unknown>;
  const engine = await startEngine({
    config: {
      ...config,
      live_coding_agent: {
        ...agent,
        backend: provider,
        [provider]: { ...backendSection(provider, server), ...((agent[provider] as object) ?? {}) },
        sandbox: { allowed_commands: ['python3'], ...((agent.sandbox as object) ?? {}) },
      },
    },
  });
  return {
    provider,
    server,
    engine,
    chats: () => server.modelRequests(provider),
    async close() {
      await engine.close();
      await server.close();
    },
  };
}

type Json = Record<string, unknown>;

function messages(body: unknown): Json[] {
  return ((body as Json).messages ?? []) as Json[];
}

function blocks(content: unknown): Json[] {
  return Array.isArray(content) ? (content as Json[]) : [];
}

/** The texts of the user messages, in order (Anthropic: each text block; others: the content). */
export function userTexts(provider: Provider, body: unknown): string[] {
  const users = messages(body).filter((m) => m.role === 'user');
  if (provider === 'anthropic') {
    return users.flatMap((m) => blocks(m.content).filter((b) => b.type === 'text')).map((b) => String(b.text));
  }
  return users.map((m) => String(m.content));
}

export interface WireToolCall {
  id: string | null;
  name: string;
  input: unknown;
}

/** Tool calls the assistant messages hold (Anthropic tool_use blocks; the others' tool_calls). */
export function toolCalls(provider: Provider, body: unknown): WireToolCall[] {
  const assistants = messages(body).filter((m) => m.role === 'assistant');
  if (provider === 'anthropic') {
    return assistants
      .flatMap((m) => blocks(m.content).filter((b) => b.type === 'tool_use'))
      .map((b) => ({ id: String(b.id), name: String(b.name), input: b.input }));
  }
  return assistants.flatMap((m) =>
    ((m.tool_calls ?? []) as Json[]).map((c) => {
      const fn = c.function as Json;
      return {
        id: typeof c.id === 'string' ? c.id : null,
        name: String(fn.name),
        // OpenAI sends arguments as JSON text, Ollama as an object.
        input: typeof fn.arguments === 'string' ? JSON.parse(fn.arguments) : fn.arguments,
      };
    }),
  );
}

export interface WireToolResult {
  /** The call it answers (Anthropic tool_use_id, OpenAI tool_call_id; Ollama names the tool instead). */
  ref: string;
  content: string;
  /** Anthropic's flag; the others have none (the text says "Error: …"). */
  is_error?: boolean;
}

export function toolResults(provider: Provider, body: unknown): WireToolResult[] {
  const all = messages(body);
  if (provider === 'anthropic') {
    return all
      .filter((m) => m.role === 'user')
      .flatMap((m) => blocks(m.content).filter((b) => b.type === 'tool_result'))
      .map((b) => ({ ref: String(b.tool_use_id), content: String(b.content), is_error: b.is_error === true }));
  }
  return all
    .filter((m) => m.role === 'tool')
    .map((m) => ({ ref: String(provider === 'openai' ? m.tool_call_id : m.tool_name), content: String(m.content) }));
}

/**
 * @module test/model-server/server
 * A scripted model server on 127.0.0.1 that speaks the real wire protocols of Anthropic
 * (/v1/messages), Ollama (/api/chat, /api/tags, /api/show) and OpenAI-compatible servers
 * (/v1/chat/completions, /v1/models), so the real client libraries are exercised end to end.
 * A test queues turns and failures per provider and reads back every request body the model got.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as anthropic from './anthropic.js';
import * as ollama from './ollama.js';
import * as openai from './openai.js';
import type { Provider, QueueItem, RecordedRequest, ScriptedFailure, ScriptedTurn, WireResponse } from './types.js';

export type * from './types.js';

export interface ModelServerOptions {
  /** Models /api/tags lists; /api/chat answers 404 for any other (default: qwen2.5-coder:32b). */
  ollamaModels?: string[];
  /** /api/show capabilities per model (default completion + tools; add 'thinking' for thinking models). */
  ollamaCapabilities?: Record<string, string[]>;
  /** Models /v1/models lists for the OpenAI-compatible endpoint (default: local-model). */
  openaiModels?: string[];
  /**
   * Request fields the OpenAI endpoint rejects with OpenAI's own 400 (as its reasoning models do
   * for `max_tokens` and a non-default `temperature`).
   */
  openaiUnsupported?: ('max_tokens' | 'temperature')[];
  /** Print requests to paths no provider owns (to discover what a client calls). */
  logUnknown?: boolean;
}

export interface ModelServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Base URL for the Anthropic client (it appends /v1/messages). */
  anthropicUrl: string;
  /** Host for the Ollama client. */
  ollamaUrl: string;
  /** Base URL for the OpenAI client (…/v1). */
  openaiUrl: string;
  /** Queue turns, failures or fixture replays; each model request takes the next one. */
  enqueue(provider: Provider, ...items: QueueItem[]): void;
  /** Shorthand for enqueue(provider, {fail: {status, ...}}), `times` times. */
  fail(
    provider: Provider,
    status: ScriptedFailure['status'],
    opts?: Omit<ScriptedFailure, 'status'> & { times?: number },
  ): void;
  /** Items still queued for a provider. */
  pending(provider: Provider): number;
  /** Every request received, in order, with its parsed body. */
  readonly requests: RecordedRequest[];
  /** The model requests (chat endpoints) a provider received, in order. */
  modelRequests(provider: Provider): RecordedRequest[];
  /** Mutable: what Ollama's /api/tags lists. */
  ollamaModels: string[];
  /** Stops listening and drops open streams: clients then see a refused connection. */
  close(): Promise<void>;
}

const FIXTURES = new URL('./fixtures/', import.meta.url);

/** Reads fixtures/<provider>/<name>.chunks.txt: one JSON chunk a line; `#` lines are notes. */
export function readFixture(provider: Provider, name: string): Record<string, unknown>[] {
  const text = readFileSync(new URL(`${provider}/${name}.chunks.txt`, FIXTURES), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const RENDER = {
  anthropic: { turn: anthropic.renderTurn, failure: anthropic.renderFailure, fixture: anthropic.renderFixture },
  ollama: { turn: ollama.renderTurn, failure: ollama.renderFailure, fixture: ollama.renderFixture },
  openai: { turn: openai.renderTurn, failure: openai.renderFailure, fixture: openai.renderFixture },
} as const;

/** Which provider and endpoint a request is for; `chat` endpoints take a turn from the queue. */
function route(method: string, path: string): { provider: Provider | 'unknown'; endpoint: string } {
  if (method === 'POST' && path === '/v1/messages') return { provider: 'anthropic', endpoint: 'chat' };
  if (method === 'POST' && path === '/v1/messages/count_tokens')
    return { provider: 'anthropic', endpoint: 'count_tokens' };
  if (method === 'GET' && path.startsWith('/v1/models/')) return { provider: 'anthropic', endpoint: 'model' };
  if (method === 'POST' && path === '/v1/chat/completions') return { provider: 'openai', endpoint: 'chat' };
  if (method === 'GET' && path === '/v1/models') return { provider: 'openai', endpoint: 'models' };
  if (method === 'POST' && path === '/api/chat') return { provider: 'ollama', endpoint: 'chat' };
  if (method === 'GET' && path === '/api/tags') return { provider: 'ollama', endpoint: 'tags' };
  if (method === 'POST' && path === '/api/show') return { provider: 'ollama', endpoint: 'show' };
  if (method === 'GET' && path === '/api/version') return { provider: 'ollama', endpoint: 'version' };
  return { provider: 'unknown', endpoint: 'unknown' };
}

function json(status: number, body: unknown): WireResponse {
  return { status, headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify(body)] };
}

export async function startModelServer(options: ModelServerOptions = {}): Promise<ModelServer> {
  const queues: Record<Provider, QueueItem[]> = { anthropic: [], ollama: [], openai: [] };
  const requests: RecordedRequest[] = [];
  const state = {
    ollamaModels: options.ollamaModels ?? ['qwen2.5-coder:32b'],
    openaiModels: options.openaiModels ?? ['local-model'],
  };

  function answer(provider: Provider, endpoint: string, path: string, body: Record<string, unknown>): WireResponse {
    const queue = queues[provider];
    const head = queue[0];
    const render = RENDER[provider];
    // A queued failure answers whatever the provider is asked next (a preflight included).
    if (head && 'fail' in head && endpoint !== 'version') {
      queue.shift();
      return render.failure(head.fail, body);
    }
    switch (`${provider}:${endpoint}`) {
      case 'anthropic:model':
        return anthropic.renderModel(decodeURIComponent(path.slice('/v1/models/'.length)));
      case 'anthropic:count_tokens':
        return json(200, { input_tokens: JSON.stringify(body.messages ?? []).length >> 2 });
      case 'openai:models':
        return openai.renderModels(state.openaiModels);
      case 'ollama:tags':
        return ollama.renderTags(state.ollamaModels);
      case 'ollama:version':
        return json(200, { version: '0.9.0' });
      case 'ollama:show': {
        const model = String(body.model ?? body.name ?? '');
        return state.ollamaModels.includes(model)
          ? ollama.renderShow(model, options.ollamaCapabilities?.[model] ?? ['completion', 'tools'])
          : ollama.renderModelMissing(model);
      }
    }
    const unsupported = provider === 'openai' ? options.openaiUnsupported?.find((k) => k in body) : undefined;
    if (unsupported) return openai.renderUnsupported(unsupported, body[unsupported]);
    if (provider === 'ollama' && !state.ollamaModels.includes(String(body.model))) {
      return ollama.renderModelMissing(String(body.model));
    }
    const item = queue.shift();
    if (!item) {
      const n = requests.filter((r) => r.provider === provider).length;
      return render.failure(
        { status: 400, message: `model server: no turn queued for ${provider} (request ${n})` },
        body,
      );
    }
    if ('fixture' in item) return render.fixture(readFixture(provider, item.fixture));
    const turn = item as ScriptedTurn;
    return { ...render.turn(turn, body), delay_ms: turn.chunk_delay_ms };
  }

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const text = Buffer.concat(parts).toString('utf8');
    let body: unknown = null;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const { provider, endpoint } = route(method, path);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
    requests.push({ provider, method, path, headers, body });

    if (provider === 'unknown') {
      if (options.logUnknown) console.log(`[model-server] unknown request ${method} ${req.url} ${text.slice(0, 500)}`);
      const wire = json(404, {
        error: { type: 'not_found_error', message: `model server: no route for ${method} ${path}` },
      });
      res.writeHead(wire.status, wire.headers).end(wire.chunks.join(''));
      return;
    }
    const wire = answer(
      provider,
      endpoint,
      path,
      (body && typeof body === 'object' ? body : {}) as Record<string, unknown>,
    );
    res.writeHead(wire.status, wire.headers);
    const delay = wire.delay_ms ?? 0;
    for (const chunk of wire.chunks) {
      if (res.destroyed) return;
      res.write(chunk);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    }
    res.end();
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    anthropicUrl: url,
    ollamaUrl: url,
    openaiUrl: `${url}/v1`,
    enqueue(provider, ...items) {
      queues[provider].push(...items);
    },
    fail(provider, status, opts = {}) {
      const { times = 1, ...rest } = opts;
      for (let i = 0; i < times; i++) queues[provider].push({ fail: { status, ...rest } });
    },
    pending: (provider) => queues[provider].length,
    requests,
    modelRequests: (provider) =>
      requests.filter((r) => r.provider === provider && route(r.method, r.path).endpoint === 'chat'),
    get ollamaModels() {
      return state.ollamaModels;
    },
    set ollamaModels(models: string[]) {
      state.ollamaModels = models;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

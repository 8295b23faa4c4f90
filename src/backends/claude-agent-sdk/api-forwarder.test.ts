import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ModelServer, startModelServer } from '../../../test/model-server/server.js';
import { type ApiForwarder, startApiForwarder } from './api-forwarder.js';

let server: ModelServer;
let dir: string;
let forwarder: ApiForwarder | undefined;
beforeEach(async () => {
  server = await startModelServer();
  dir = await mkdtemp(path.join(tmpdir(), 'potato-fwd-'));
});
afterEach(async () => {
  await forwarder?.close();
  forwarder = undefined;
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** A request over the Unix socket, as Claude Code in the container sends it. */
function viaSocket(
  socketPath: string,
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the model API forwarder on the container socket', () => {
  it('forwards the Messages API to the configured base URL with the real key in place of the placeholder', async () => {
    const socket = path.join(dir, 'api.sock');
    forwarder = await startApiForwarder({ socketPath: socket, upstream: server.anthropicUrl, apiKey: 'sk-real' });
    server.enqueue('anthropic', { text: 'hello from the model' });
    const answer = await viaSocket(
      socket,
      'POST',
      '/v1/messages?beta=true',
      {
        'content-type': 'application/json',
        'x-api-key': 'placeholder',
        authorization: 'Bearer smuggled',
        cookie: 'a=b',
        'anthropic-version': '2023-06-01',
      },
      JSON.stringify({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('hello from the model');
    const [req] = server.modelRequests('anthropic');
    expect(req!.path).toMatch(/^\/v1\/messages/);
    expect(req!.headers['x-api-key']).toBe('sk-real');
    expect(req!.headers.authorization).toBeUndefined();
    expect(req!.headers.cookie).toBeUndefined();
    expect(req!.headers['anthropic-version']).toBe('2023-06-01');
  });

  it('refuses anything but POST /v1/messages: no other path, method or host is reachable through it', async () => {
    const socket = path.join(dir, 'api.sock');
    forwarder = await startApiForwarder({ socketPath: socket, upstream: server.anthropicUrl, apiKey: 'sk-real' });
    for (const [method, urlPath] of [
      ['GET', '/v1/models/claude'],
      ['POST', '/v1/files'],
      ['POST', '/v1/messages/../files'],
      ['GET', '/v1/messages'],
      ['POST', 'http://169.254.169.254/latest/meta-data'],
    ] as const) {
      const answer = await viaSocket(socket, method, urlPath, { host: 'evil.example' });
      expect(answer.status, `${method} ${urlPath}`).toBe(403);
      expect(answer.body).toContain('Potato Live forwards only POST /v1/messages');
      expect(answer.body).not.toContain('sk-real');
    }
    expect(server.requests).toHaveLength(0);
  });

  it('keeps the base URL path of a gateway, and says so when the API cannot be reached', async () => {
    const socket = path.join(dir, 'api.sock');
    forwarder = await startApiForwarder({
      socketPath: socket,
      upstream: `${server.anthropicUrl}/gateway/anthropic/`,
      apiKey: 'sk-real',
    });
    await viaSocket(socket, 'POST', '/v1/messages', { 'content-type': 'application/json' }, '{}');
    expect(server.requests.at(-1)?.path).toBe('/gateway/anthropic/v1/messages');
    await forwarder.close();
    await server.close();
    // A socket left behind by a killed server is replaced.
    forwarder = await startApiForwarder({ socketPath: socket, upstream: server.anthropicUrl, apiKey: 'sk-real' });
    const answer = await viaSocket(socket, 'POST', '/v1/messages', {}, '{}');
    expect(answer.status).toBe(502);
    expect(answer.body).toMatch(/could not be reached/);
    expect(answer.body).not.toContain('sk-real');
  });
});

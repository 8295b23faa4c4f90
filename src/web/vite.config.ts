/**
 * @module web/vite.config
 * Builds the browser UI into dist/web, which the server serves. `npx vite --config
 * src/web/vite.config.ts` runs it in development with /api proxied to a running server
 * (POTATO_API, default http://127.0.0.1:8000).
 *
 * The API accepts state-changing requests and sockets only from its own origin (see
 * docs/server.md). The dev server's pages have another origin, so the proxy swaps in the API's
 * origin, but only for requests whose Origin is the dev server itself: a page elsewhere still
 * shows its own origin and is refused.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const api = process.env.POTATO_API ?? 'http://127.0.0.1:8000';

function ownOriginAsApi(proxyReq: ClientRequest, req: IncomingMessage): void {
  if (req.headers.origin !== undefined && req.headers.origin === `http://${req.headers.host}`) {
    proxyReq.setHeader('origin', new URL(api).origin);
  }
}

export default defineConfig({
  root,
  base: './',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../../dist/web', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    proxy: {
      '/api': {
        target: api,
        ws: true,
        changeOrigin: true,
        configure: (proxy) => {
          proxy.on('proxyReq', ownOriginAsApi);
          proxy.on('proxyReqWs', ownOriginAsApi);
        },
      },
    },
  },
});

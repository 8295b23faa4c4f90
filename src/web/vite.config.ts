/**
 * @module web/vite.config
 * Builds the browser UI into dist/web, which the server serves. `npx vite --config
 * src/web/vite.config.ts` runs it in development with /api proxied to a running server
 * (POTATO_API, default http://127.0.0.1:8000).
 */
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const api = process.env.POTATO_API ?? 'http://127.0.0.1:8000';

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
    proxy: { '/api': { target: api, ws: true, changeOrigin: true } },
  },
});

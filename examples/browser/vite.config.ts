/**
 * The browser demo: `npx vite --config examples/browser/vite.config.ts`
 * (dev server) or `npx vite build --config examples/browser/vite.config.ts`
 * (into `examples/browser/dist`). The page imports the library from the repo
 * source (`../../src`); tfjs resolves from the repo's `node_modules`, so the
 * page and the library share one tfjs engine. Every server of the page sends
 * the cross-origin isolation headers, so wasm can run threaded (`?threads=N`).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { demoAssets } from './demoAssets.js';
import { CROSS_ORIGIN_ISOLATION_HEADERS } from './isolation.js';
import { ONE_TFJS, unminifiedBuild } from './pageBuild.js';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  resolve: ONE_TFJS,
  build: unminifiedBuild(6000),
  server: { host: '127.0.0.1', port: 5173, headers: { ...CROSS_ORIGIN_ISOLATION_HEADERS } },
  preview: { host: '127.0.0.1', port: 4173, headers: { ...CROSS_ORIGIN_ISOLATION_HEADERS } },
  plugins: [demoAssets()],
});

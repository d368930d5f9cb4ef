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

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // One copy of each tfjs package, whoever imports it (see docs/backends.md).
  resolve: { dedupe: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers'] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Minified identifiers break tfjs' threaded wasm: its pthread workers run
    // the factory's own source text (Function.toString), which then names
    // variables renamed outside it ("e is not defined" in the worker).
    minify: false,
    chunkSizeWarningLimit: 6000,
  },
  server: { host: '127.0.0.1', port: 5173, headers: { ...CROSS_ORIGIN_ISOLATION_HEADERS } },
  preview: { host: '127.0.0.1', port: 4173, headers: { ...CROSS_ORIGIN_ISOLATION_HEADERS } },
  plugins: [demoAssets()],
});

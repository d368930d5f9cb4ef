/**
 * The browser demo: `npx vite --config examples/browser/vite.config.ts`
 * (dev server) or `npx vite build --config examples/browser/vite.config.ts`
 * (into `examples/browser/dist`). The page imports the library from the repo
 * source (`../../src`); tfjs resolves from the repo's `node_modules`, so the
 * page and the library share one tfjs engine.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { demoAssets } from './demoAssets.js';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // One copy of each tfjs package, whoever imports it (see docs/backends.md).
  resolve: { dedupe: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers'] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 6000,
  },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  plugins: [demoAssets()],
});

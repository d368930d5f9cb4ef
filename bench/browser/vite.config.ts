/**
 * The browser benchmark's page, built by `npm run bench:browser` into
 * `bench/browser/dist` (`npx vite build --config bench/browser/vite.config.ts`).
 * The page imports the benchmark code (`bench/`) and the library from source;
 * tfjs' wasm binaries are emitted next to it (`wasm/`).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { ONE_TFJS, unminifiedBuild } from '../../examples/browser/pageBuild.js';

const require = createRequire(import.meta.url);
const WASM_DIR = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/** tfjs' wasm binaries into `dist/wasm/` (the page calls `setWasmPaths('./wasm/')`). */
function wasmBinaries(): Plugin {
  return {
    name: 'tfjs-mae-bench-wasm',
    async generateBundle() {
      for (const f of WASM_FILES) this.emitFile({ type: 'asset', fileName: `wasm/${f}`, source: await readFile(join(WASM_DIR, f)) });
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  resolve: ONE_TFJS,
  build: unminifiedBuild(8000),
  plugins: [wasmBinaries()],
});

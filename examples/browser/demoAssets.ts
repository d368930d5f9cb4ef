/**
 * Vite plugin: the files the demo fetches at run time, served by the dev
 * server and written into `dist/` by the build, from their single source in
 * the repository (nothing is copied by hand or committed twice):
 *
 * - `wasm/*.wasm`: tfjs' wasm binaries from `@tensorflow/tfjs-backend-wasm/dist`
 *   (the page calls `setWasmPaths('./wasm/')`);
 * - `weights/mae-fmnist-tiny.safetensors`: the trained demo MAE
 *   (`examples/weights/`, or the file named by the environment variable
 *   `MAE_DEMO_WEIGHTS`);
 * - `data/fmnist-test-16-images.idx`, `data/fmnist-test-16-labels.idx`: the
 *   first 16 test images and labels of the embedded Fashion-MNIST subset, as
 *   uncompressed IDX files (12.6 KB).
 *
 * Node only (runs inside Vite).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const require = createRequire(import.meta.url);
const WASM_DIR = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/** How many test images the page shows (and the e2e test may index). */
export const DEMO_IMAGES = 16;

/** The weights file the demo loads. */
export function demoWeightsPath(): string {
  return process.env.MAE_DEMO_WEIGHTS ?? join(REPO, 'examples', 'weights', 'mae-fmnist-tiny.safetensors');
}

/** The first `count` records of a gzipped IDX file, with dimension 0 set to `count`. */
async function idxHead(file: string, count: number): Promise<Uint8Array> {
  const bytes = gunzipSync(await readFile(file));
  const ndim = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let record = 1;
  for (let d = 1; d < ndim; d++) record *= view.getUint32(4 + 4 * d, false);
  const header = 4 + 4 * ndim;
  const out = new Uint8Array(bytes.subarray(0, header + count * record)); // uint8 data: 1 byte per value
  new DataView(out.buffer).setUint32(4, count, false);
  return out;
}

/** URL path (relative to the page) → the bytes to serve there. */
function assets(): Record<string, { type: string; load: () => Promise<Uint8Array> }> {
  const subset = join(REPO, 'examples', 'data', 'fashion-mnist-subset');
  const entries: Record<string, { type: string; load: () => Promise<Uint8Array> }> = {
    'weights/mae-fmnist-tiny.safetensors': { type: 'application/octet-stream', load: () => readFile(demoWeightsPath()) },
    'data/fmnist-test-16-images.idx': {
      type: 'application/octet-stream',
      load: () => idxHead(join(subset, 't10k-images-idx3-ubyte.gz'), DEMO_IMAGES),
    },
    'data/fmnist-test-16-labels.idx': {
      type: 'application/octet-stream',
      load: () => idxHead(join(subset, 't10k-labels-idx1-ubyte.gz'), DEMO_IMAGES),
    },
  };
  for (const f of WASM_FILES) entries[`wasm/${f}`] = { type: 'application/wasm', load: () => readFile(join(WASM_DIR, f)) };
  return entries;
}

/** The plugin: dev-server middleware plus build-time assets. */
export function demoAssets(): Plugin {
  const table = assets();
  return {
    name: 'tfjs-mae-demo-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = decodeURIComponent((req.url ?? '').split('?')[0]).replace(/^\/+/, '');
        const asset = table[path];
        if (!asset) return next();
        asset.load().then(
          (bytes) => {
            res.setHeader('Content-Type', asset.type);
            res.end(Buffer.from(bytes));
          },
          (err: Error) => {
            res.statusCode = 500;
            res.end(`tfjs-mae demo: cannot read ${path}: ${err.message}`);
          },
        );
      });
    },
    async generateBundle() {
      for (const [fileName, asset] of Object.entries(table)) {
        this.emitFile({ type: 'asset', fileName, source: await asset.load() });
      }
    },
  };
}

/**
 * The wasm heap of an official-size encoder's features (random weights):
 * tracked bytes (weights; profiled peak of one call) against the heap's byte
 * length after building and after each call, next to `estimateMemory`.
 * One process per model and batch: the heap never shrinks.
 *
 *   npx tsx bench/experiments/officialHeap.ts [B|L|H] [batch] [calls]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { ViTEncoder, estimateMemory } from '../../src';

const SIZES = {
  B: { patchSize: 16, embedDim: 768, depth: 12, numHeads: 12 },
  L: { patchSize: 16, embedDim: 1024, depth: 24, numHeads: 16 },
  H: { patchSize: 14, embedDim: 1280, depth: 32, numHeads: 16 },
} as const;

async function main() {
  const [size = 'B', batchArg = '1', callsArg = '2'] = process.argv.slice(2).filter((a) => a !== '--');
  const batch = Number(batchArg);
  await tf.setBackend('wasm');
  const gib = (b: number) => (b / 2 ** 30).toFixed(3);
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  const cfg = { imgSize: 224, layerNormEps: 1e-6, ...SIZES[size as keyof typeof SIZES] };
  const enc = new ViTEncoder({ ...cfg, seed: 1 });
  enc.ensureBuilt();
  const weights = tf.memory().numBytes;
  const imgs = tf.randomUniform([batch, 224, 224, 3], 0, 1, 'float32', 2);
  const built = heap();
  const est = estimateMemory(cfg, { batch, mode: 'features' });
  const row: Record<string, string | number> = { size, batch, weightsGiB: gib(weights), heapBuiltGiB: gib(built) };
  for (let i = 0; i < Number(callsArg); i++) {
    const t0 = performance.now();
    const info = await tf.profile(async () => {
      const y = tf.tidy(() => enc.forwardFeatures(imgs));
      await y.data();
      y.dispose();
    });
    row[`s/img${i}`] = ((performance.now() - t0) / 1000 / batch).toFixed(2);
    row[`trackedPeakGiB${i}`] = gib(info.peakBytes);
    row[`heapGiB${i}`] = gib(heap());
  }
  row.estimatedGiB = gib(est.totalBytes + est.wasmUntrackedBytes);
  console.log(JSON.stringify(row));
  tf.dispose(imgs);
  enc.dispose();
}
main();

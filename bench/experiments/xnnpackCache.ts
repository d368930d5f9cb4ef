/**
 * Does a plain 2-D matMul on wasm keep an untracked packed copy of its weight
 * (XNNPACK's operator cache, keyed on the weight tensor)? Heap growth after
 * k matMuls with k distinct cached weights, against fresh weights per call.
 *
 *   npx tsx bench/experiments/xnnpackCache.ts [cached|fresh] [k] [side]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

async function main() {
  const [form = 'cached', k = '8', side = '1024'] = process.argv.slice(2).filter((a) => a !== '--');
  await tf.setBackend('wasm');
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20;
  const n = Number(side);
  const ws = Array.from({ length: Number(k) }, (_, i) => tf.randomUniform([n, n], -1, 1, 'float32', i));
  const x = tf.randomUniform([64, n]);
  const before = heap();
  for (let rep = 0; rep < 2; rep++) {
    for (const w of ws) {
      tf.tidy(() => (form === 'fresh' ? tf.matMul(x, tf.add(w, 0)) : tf.matMul(x, w)));
    }
  }
  const weightsMiB = (Number(k) * n * n * 4) / 2 ** 20;
  console.log(`${form}: ${k} weights of ${n}² (${weightsMiB} MiB tracked): heap ${before.toFixed(0)} → ${heap().toFixed(0)} MiB, tracked ${(tf.memory().numBytes / 2 ** 20).toFixed(0)} MiB`);
}
main();

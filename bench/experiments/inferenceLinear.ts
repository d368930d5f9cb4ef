/**
 * Inference forms of one linear map on wasm, same process: ms per call and
 * heap growth, for `x[M, K] · w[K, N] + b`.
 *   cached      tf.fused.matMul(x, w, b): XNNPACK packs w once and keeps the
 *               packed copy for as long as w lives (untracked heap)
 *   transposed  (wᵀ · xᵀ)ᵀ + b: the activation is the packed operand, so the
 *               packed copy dies with the call; wᵀ is a per-call transpose
 *
 *   npx tsx bench/experiments/inferenceLinear.ts [M] [K] [N] [reps]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

async function main() {
  const [m = 197, k = 1024, n = 4096, reps = 10] = process.argv.slice(2).filter((a) => a !== '--').map(Number);
  await tf.setBackend('wasm');
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20;
  const w = tf.randomUniform([k, n], -1, 1, 'float32', 1) as tf.Tensor2D;
  const b = tf.randomUniform([n], -1, 1, 'float32', 2) as tf.Tensor1D;
  const x = tf.randomUniform([m, k], -1, 1, 'float32', 3) as tf.Tensor2D;
  const forms: Record<string, () => tf.Tensor> = {
    cached: () => tf.fused.matMul({ a: x, b: w, bias: b }),
    transposed: () => tf.add(tf.transpose(tf.matMul(tf.transpose(w), tf.transpose(x))), b),
    freshBias: () => tf.fused.matMul({ a: x, b: w, bias: tf.add(b, 0) }),
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(forms).map((f) => [f, []]));
  for (let r = 0; r < reps; r++) {
    for (const [name, f] of Object.entries(forms)) {
      const t0 = performance.now();
      const y = tf.tidy(f);
      await y.data();
      times[name].push(performance.now() - t0);
      y.dispose();
    }
  }
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  const flops = 2 * m * k * n;
  for (const [name, t] of Object.entries(times)) console.log(`${name}: ${med(t.slice(1)).toFixed(1)} ms (${(flops / med(t.slice(1)) / 1e6).toFixed(1)} GFLOP/s)`);
  for (const f of Object.keys(forms)) console.log(`${f}/cached: ${(med(times[f].slice(1)) / med(times.cached.slice(1))).toFixed(2)}`);
  console.log(`heap ${heap().toFixed(0)} MiB`);
}
main();

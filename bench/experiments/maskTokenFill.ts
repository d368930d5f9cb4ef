/**
 * Experiment: the decoder's mask-token fill `[1, 1, Dd]` → `[N, L − K, Dd]`,
 * forward + backward. `tf.broadcastTo` runs the Tile kernel, whose gradient
 * in tfjs 4.22 is one Slice + one Add per output tile (N·(L − K) of each; on
 * wasm every Slice first copies its whole input). A broadcasting add has a
 * one-Sum gradient. CPU seconds, interleaved, median of 13.
 *
 *   npx vite-node bench/experiments/maskTokenFill.ts -- [wasm|cpu]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { median } from '../measure';

async function main() {
  const backend = process.argv.slice(2).filter((a) => a !== '--')[0] ?? 'wasm';
  await tf.setBackend(backend);
  // [N, L − K, Dd]: tiny32, small64, vitb16 at their benchmark batch sizes
  for (const [n, m, dd] of [[32, 48, 128], [16, 48, 256], [4, 147, 512]]) {
    const token = tf.randomNormal([1, 1, dd], 0, 0.02, 'float32', 1);
    const r = tf.randomNormal([n, m, dd], 0, 1, 'float32', 2);
    const forms: Record<string, (t: tf.Tensor) => tf.Tensor> = {
      broadcastTo: (t) => tf.broadcastTo(t, [n, m, dd]),
      addZeros: (t) => tf.add(tf.zeros([n, m, dd]), t),
    };
    const times: Record<string, number[]> = {};
    const grads: Record<string, tf.Tensor> = {};
    for (let i = 0; i < 15; i++) {
      for (const [k, f] of Object.entries(forms)) {
        const c0 = process.cpuUsage();
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), r)))(token);
        g.dataSync();
        const c = process.cpuUsage(c0);
        if (i >= 2) (times[k] ??= []).push((c.user + c.system) / 1e6);
        if (grads[k]) g.dispose();
        else grads[k] = g;
      }
    }
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(grads.broadcastTo, grads.addZeros))).dataSync()[0]);
    console.log(
      `[${n},${m},${dd}]  broadcastTo ${(median(times.broadcastTo) * 1000).toFixed(2)} ms, ` +
        `add to zeros ${(median(times.addZeros) * 1000).toFixed(2)} ms  (max|grad diff| ${diff.toExponential(1)})`,
    );
    tf.dispose([token, r, ...Object.values(grads)]);
  }
}
main();

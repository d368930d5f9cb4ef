/**
 * Experiment: a batched matMul `a[B, M, K] · b[B, K, N]` as ONE depthwise
 * convolution, which wasm runs through XNNPACK: the batch index becomes the
 * channel, `a` the image `[1, M, K, B]`, `b` the filter `[1, K, B, N]`
 * (channel multiplier N), valid padding → `[1, M, 1, B·N]`.
 *
 *   npx vite-node bench/experiments/depthwise.ts -- [wasm|cpu]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { median } from '../measure';

export function bmmDepthwise(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const [bb, m, k] = a.shape;
  const n = b.shape[2];
  const img = tf.reshape(tf.transpose(a, [1, 2, 0]), [1, m, k, bb]); // [1, M, K, B]
  const filt = tf.reshape(tf.transpose(b, [1, 0, 2]), [1, k, bb, n]); // [1, K, B, N]
  const out = tf.depthwiseConv2d(img as tf.Tensor4D, filt as tf.Tensor4D, 1, 'valid'); // [1, M, 1, B·N]
  return tf.transpose(tf.reshape(out, [m, bb, n]), [1, 0, 2]) as tf.Tensor3D;
}

async function main() {
  const backend = process.argv.slice(2).filter((a) => a !== '--')[0] ?? 'wasm';
  await tf.setBackend(backend);
  for (const [bb, m, k, n] of [[96, 17, 64, 17], [96, 17, 17, 64], [128, 65, 32, 65], [128, 65, 65, 32], [96, 65, 64, 65], [64, 197, 32, 197], [64, 197, 197, 32]]) {
    const a = tf.randomNormal([bb, m, k], 0, 1, 'float32', 1) as tf.Tensor3D;
    const b = tf.randomNormal([bb, k, n], 0, 1, 'float32', 2) as tf.Tensor3D;
    const forms: Record<string, () => tf.Tensor> = {
      batched: () => tf.matMul(a, b),
      depthwise: () => bmmDepthwise(a, b),
    };
    const times: Record<string, number[]> = {};
    for (let i = 0; i < 11; i++) {
      for (const f of Object.keys(forms)) {
        const bFresh = tf.mul(b, 1); // a fresh operand each call, as in training
        const c0 = process.cpuUsage();
        tf.tidy(() => void (f === 'batched' ? tf.matMul(a, bFresh) : bmmDepthwise(a, bFresh as tf.Tensor3D)).dataSync());
        const c = process.cpuUsage(c0);
        bFresh.dispose();
        if (i >= 2) (times[f] ??= []).push((c.user + c.system) / 1e6);
      }
    }
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(forms.batched(), forms.depthwise()))).dataSync()[0]);
    const flop = 2 * bb * m * k * n;
    console.log(
      `[${bb},${m},${k}]·[${bb},${k},${n}]  batched ${(median(times.batched) * 1000).toFixed(2)} ms (${(flop / median(times.batched) / 1e9).toFixed(1)} GFLOP/s)` +
        `  depthwise ${(median(times.depthwise) * 1000).toFixed(2)} ms (${(flop / median(times.depthwise) / 1e9).toFixed(1)} GFLOP/s)  max|diff| ${diff.toExponential(1)}`,
    );
    tf.dispose([a, b]);
  }
}
main();

/**
 * Experiment: splitting the fused qkv output `[N, T, 3D]` into per-head
 * q, k, v `[N·H, T, hd]`, forward + backward through the attention core.
 *   slices:    3 Slices on the last axis, then one head transpose each (shipped first)
 *   transpose: one rank-5 transpose to `[3, N·H, T, hd]`, then 3 contiguous slices
 * CPU seconds, interleaved, median of 13 after 2 warm-ups.
 *
 *   npx vite-node bench/experiments/qkvSplit.ts -- [wasm|cpu]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { attention } from '../../src/nn/attentionOps';
import { median } from '../measure';

function core(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, hd: number): tf.Tensor {
  return attention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, hd ** -0.5);
}

function viaSlices(qkv: tf.Tensor, h: number): tf.Tensor {
  const [n, t, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3;
  const hd = d / h;
  const heads = (i: number) =>
    tf.reshape(tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, i * d], [n, t, d]), [n, t, h, hd]), [0, 2, 1, 3]), [n * h, t, hd]);
  return core(heads(0), heads(1), heads(2), hd);
}

function viaTranspose(qkv: tf.Tensor, h: number): tf.Tensor {
  const [n, t, d3] = qkv.shape as [number, number, number];
  const hd = d3 / 3 / h;
  const all = tf.reshape(tf.transpose(tf.reshape(qkv, [n, t, 3, h, hd]), [2, 0, 3, 1, 4]), [3, n * h, t, hd]);
  const part = (i: number) => tf.reshape(tf.slice(all, [i, 0, 0, 0], [1, n * h, t, hd]), [n * h, t, hd]);
  return core(part(0), part(1), part(2), hd);
}

async function main() {
  const backend = process.argv.slice(2).filter((a) => a !== '--')[0] ?? 'wasm';
  await tf.setBackend(backend);
  for (const [n, t, d, h] of [[16, 17, 384, 6], [16, 65, 256, 8], [16, 65, 384, 6], [4, 197, 512, 16]]) {
    const qkv = tf.randomNormal([n, t, 3 * d], 0, 1, 'float32', 1);
    const r = tf.randomNormal([n * h, t, d / h], 0, 1, 'float32', 2);
    const forms = { slices: viaSlices, transpose: viaTranspose };
    const times: Record<string, number[]> = {};
    const grads: Record<string, tf.Tensor> = {};
    for (let i = 0; i < 15; i++) {
      for (const [k, f] of Object.entries(forms)) {
        const c0 = process.cpuUsage();
        const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x, h), r)))(qkv);
        g.dataSync();
        const c = process.cpuUsage(c0);
        if (i >= 2) (times[k] ??= []).push((c.user + c.system) / 1e6);
        if (grads[k]) g.dispose();
        else grads[k] = g;
      }
    }
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(grads.slices, grads.transpose))).dataSync()[0]);
    console.log(
      `[${n},${t},3·${d}] H=${h}  slices ${(median(times.slices) * 1000).toFixed(2)} ms, ` +
        `transpose ${(median(times.transpose) * 1000).toFixed(2)} ms  (max|grad diff| ${diff.toExponential(1)})`,
    );
    tf.dispose([qkv, r, ...Object.values(grads)]);
  }
}
main();

/**
 * Experiment: attention forward (q·kᵀ, softmax, ·v) for all heads of a
 * sample as plain 2-D matMuls against block-diagonal K and V (H× the FLOPs,
 * but on wasm's XNNPACK path), against the batched matMul. Forward only: if
 * this is not clearly faster, the backward will not be either.
 *
 *   npx vite-node bench/experiments/blockdiag.ts -- [wasm|cpu]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { median } from '../measure';

/** Batched: x [N, T, D] heads concatenated → [N, T, D]. */
function batched(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, h: number): tf.Tensor {
  const [n, t, d] = q.shape;
  const hd = d / h;
  const heads = (x: tf.Tensor, perm: number[]) => tf.reshape(tf.transpose(tf.reshape(x, [n, t, h, hd]), perm), perm[2] === 1 ? [n * h, t, hd] : [n * h, hd, t]);
  const s = tf.mul(tf.matMul(heads(q, [0, 2, 1, 3]), heads(k, [0, 2, 3, 1])), hd ** -0.5);
  const o = tf.matMul(tf.softmax(s), heads(v, [0, 2, 1, 3]));
  return tf.reshape(tf.transpose(tf.reshape(o, [n, h, t, hd]), [0, 2, 1, 3]), [n, t, d]);
}

/** Block-diagonal per sample: S_n = Q_n · (tile(K_nᵀ) ⊙ M), O_n = P_n · (tile(V_n) ⊙ Mᵀ). */
function blockDiag(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, h: number, mask: tf.Tensor2D, maskT: tf.Tensor2D): tf.Tensor {
  const [n, t, d] = q.shape;
  const hd = d / h;
  const kbd = tf.mul(tf.tile(tf.transpose(k, [0, 2, 1]), [1, 1, h]), mask); // [N, D, H·T]
  const vbd = tf.mul(tf.tile(v, [1, h, 1]), maskT); // [N, H·T, D]
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const idx = tf.tensor1d([i], 'int32');
    const qi = tf.reshape(tf.gather(q, idx), [t, d]);
    const ki = tf.reshape(tf.gather(kbd, idx), [d, h * t]);
    const vi = tf.reshape(tf.gather(vbd, idx), [h * t, d]);
    const s = tf.reshape(tf.mul(tf.matMul(qi, ki), hd ** -0.5), [t, h, t]);
    const p = tf.reshape(tf.softmax(s), [t, h * t]);
    outs.push(tf.matMul(p, vi));
  }
  return tf.stack(outs);
}

async function main() {
  const backend = process.argv.slice(2).filter((a) => a !== '--')[0] ?? 'wasm';
  await tf.setBackend(backend);
  const cases: [string, number, number, number, number][] = [
    ['small64 enc mae', 16, 17, 384, 6],
    ['small64 dec', 16, 65, 256, 8],
    ['small64 enc [M]', 16, 65, 384, 6],
    ['vitb16 dec', 4, 197, 512, 16],
    ['vitb16 enc [M]', 4, 197, 768, 12],
  ];
  for (const [name, n, t, d, h] of cases) {
    const hd = d / h;
    const [q, k, v] = [1, 2, 3].map((s) => tf.randomNormal([n, t, d], 0, 1, 'float32', s) as tf.Tensor3D);
    const maskVals = new Float32Array(d * h * t);
    for (let di = 0; di < d; di++) for (let c = 0; c < h * t; c++) maskVals[di * h * t + c] = Math.floor(di / hd) === Math.floor(c / t) ? 1 : 0;
    const mask = tf.tensor2d(maskVals, [d, h * t]);
    const maskT = tf.transpose(mask) as tf.Tensor2D;
    const forms: Record<string, () => tf.Tensor> = {
      batched: () => batched(q, k, v, h),
      blockDiag: () => blockDiag(q, k, v, h, mask, maskT),
    };
    const times: Record<string, number[]> = { batched: [], blockDiag: [] };
    for (let i = 0; i < 8; i++) {
      for (const [f, fn] of Object.entries(forms)) {
        const c0 = process.cpuUsage();
        tf.tidy(() => { fn().dataSync(); });
        const c = process.cpuUsage(c0);
        if (i >= 2) times[f].push((c.user + c.system) / 1e6);
      }
    }
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(forms.batched(), forms.blockDiag()))).dataSync()[0]);
    console.log(`${name.padEnd(16)} batched ${median(times.batched).toFixed(4)} s cpu, block-diagonal ${median(times.blockDiag).toFixed(4)} s cpu, max|diff| ${diff.toExponential(1)}`);
    tf.dispose([q, k, v, mask, maskT]);
  }
}
main();

/**
 * Experiment: wasm batched matMul (the non-XNNPACK path) with transposed
 * operands passed as flags vs explicit tf.transpose + plain batched matMul.
 *
 *   npx vite-node bench/experiments/bmmflags.ts -- [wasm|cpu]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { median } from '../measure';

async function main() {
  const backend = process.argv.slice(2).filter((a) => a !== '--')[0] ?? 'wasm';
  await tf.setBackend(backend);
  for (const [b, t, hd] of [[96, 17, 64], [128, 65, 32], [96, 65, 64], [64, 197, 32]]) {
    const x = tf.randomNormal([b, t, hd]);
    const y = tf.randomNormal([b, t, hd]);
    const s = tf.randomNormal([b, t, t]);
    const forms: Record<string, () => tf.Tensor> = {
      'q·kᵀ transposeB flag': () => tf.matMul(x, y, false, true),
      'q·kᵀ explicit transpose': () => tf.matMul(x, tf.transpose(y, [0, 2, 1])),
      'p·v plain': () => tf.matMul(s, y),
      'sᵀ·q transposeA flag': () => tf.matMul(s, x, true, false),
      'sᵀ·q explicit transpose': () => tf.matMul(tf.transpose(s, [0, 2, 1]), x),
      'qᵀ·s (dKᵀ) transposeA flag': () => tf.matMul(x, s, true, false),
    };
    const times: Record<string, number[]> = {};
    for (let i = 0; i < 9; i++) {
      for (const [f, fn] of Object.entries(forms)) {
        const c0 = process.cpuUsage();
        tf.tidy(() => void fn().dataSync());
        const c = process.cpuUsage(c0);
        if (i >= 2) (times[f] ??= []).push((c.user + c.system) / 1e6);
      }
    }
    console.log(`[${b},${t},${hd}]`);
    for (const f of Object.keys(forms)) {
      const flop = f.startsWith('q·kᵀ') ? 2 * b * t * t * hd : 2 * b * t * t * hd;
      console.log(`  ${f.padEnd(28)} ${(median(times[f]) * 1000).toFixed(2)} ms  ${(flop / median(times[f]) / 1e9).toFixed(2)} GFLOP/s`);
    }
    tf.dispose([x, y, s]);
  }
}
main();

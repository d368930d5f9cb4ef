/**
 * Experiment: one linear layer's three products (forward x·w, input gradient
 * dy·wᵀ, weight gradient xᵀ·dy) on wasm, direct against transposed forms
 * (`(wᵀ·xᵀ)ᵀ`, `(w·dyᵀ)ᵀ`), at small64's encoder shapes for `mae` (272 rows)
 * and `mask_tokens` / the decoder (1040 rows). Every repetition gets fresh
 * copies of x, w and dy, as in training (XNNPACK repacks a new right-hand
 * operand). Interleaved, median ms of 12 after 2 warm-ups. Behind the form
 * choice in src/nn/ops.ts. A second table compares the weight gradient
 * `xᵀ·dy` with `(dyᵀ·x)ᵀ` alone (tried, not adopted: docs/benchmarks.md).
 *
 *   npx tsx bench/experiments/linearGrad.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { median } from '../measure';

type F = (x: tf.Tensor2D, w: tf.Tensor2D, dy: tf.Tensor2D) => tf.Tensor[];
const T = (t: tf.Tensor) => tf.transpose(t) as tf.Tensor2D;
const cur: F = (x, w, dy) => [tf.matMul(x, w), tf.matMul(dy, T(w)), tf.matMul(T(x), dy)];
const alt: F = (x, w, dy) => [T(tf.matMul(T(w), T(x))), T(tf.matMul(w, T(dy))), tf.matMul(T(x), dy)];
const altFwdOnly: F = (x, w, dy) => [T(tf.matMul(T(w), T(x))), tf.matMul(dy, T(w)), tf.matMul(T(x), dy)];
const altDxOnly: F = (x, w, dy) => [tf.matMul(x, w), T(tf.matMul(w, T(dy))), tf.matMul(T(x), dy)];
(async () => {
  await tf.setBackend('wasm');
  const forms: Record<string, F> = { cur, alt, altFwdOnly, altDxOnly };
  for (const [m, k, n] of [[272, 384, 1152], [272, 384, 384], [272, 384, 1536], [272, 1536, 384], [1040, 384, 1536], [1040, 256, 1024]]) {
    const X = tf.randomUniform([m, k]) as tf.Tensor2D; const W = tf.randomUniform([k, n]) as tf.Tensor2D; const DY = tf.randomUniform([m, n]) as tf.Tensor2D;
    const res: Record<string, number[]> = {};
    for (let r = 0; r < 14; r++) {
      for (const [name, f] of Object.entries(forms)) {
        const [x, w, dy] = [tf.add(X, 0), tf.add(W, 0), tf.add(DY, 0)] as tf.Tensor2D[];
        await dy.data();
        const t0 = performance.now();
        const outs = tf.tidy(() => f(x, w, dy));
        await outs[2].data();
        const dt = performance.now() - t0;
        tf.dispose([x, w, dy, ...outs]);
        if (r >= 2) (res[name] ??= []).push(dt);
      }
    }
    console.log(`M=${m} K=${k} N=${n}: ` + Object.entries(res).map(([k2, v]) => `${k2} ${median(v).toFixed(2)}`).join('  '));
  }
  // the weight gradient alone: direct xᵀ·dy against (dyᵀ·x)ᵀ
  for (const [m, k, n] of [[272, 384, 1152], [272, 384, 1536], [272, 1536, 384], [1040, 384, 1536], [1040, 1536, 384], [1040, 256, 1024], [1040, 256, 768]]) {
    const X = tf.randomUniform([m, k]) as tf.Tensor2D;
    const DY = tf.randomUniform([m, n]) as tf.Tensor2D;
    const res: Record<string, number[]> = {};
    const dwForms: Record<string, (x: tf.Tensor2D, dy: tf.Tensor2D) => tf.Tensor> = {
      direct: (x, dy) => tf.matMul(T(x), dy),
      transposed: (x, dy) => T(tf.matMul(T(dy), x)),
    };
    for (let r = 0; r < 16; r++) {
      for (const [name, f] of Object.entries(dwForms)) {
        const [x, dy] = [tf.add(X, 0), tf.add(DY, 0)] as tf.Tensor2D[];
        await dy.data();
        const t0 = performance.now();
        const o = tf.tidy(() => f(x, dy));
        await o.data();
        const dt = performance.now() - t0;
        tf.dispose([x, dy, o]);
        if (r >= 2) (res[name] ??= []).push(dt);
      }
    }
    console.log(`dW M=${m} K=${k} N=${n}: ` + Object.entries(res).map(([k2, v]) => `${k2} ${median(v).toFixed(2)}`).join('  '));
    tf.dispose([X, DY]);
  }
})();

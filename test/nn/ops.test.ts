/**
 * The linear primitive and the token gather: values and gradients against
 * plain tfjs autodiff, on both formulations of the input gradient (wasm
 * transposes the product when the activations are smaller than the weight).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, it } from 'vitest';
import '../../src';
import { gatherTokens, linear } from '../../src/nn/ops';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';

describeBackends(['cpu', 'wasm'], (backend) => {
  // [M, K, N]: M·(K + N) < K·N (transposed input gradient on wasm) and the opposite
  for (const [m, k, n] of [[6, 48, 40], [64, 12, 10]]) {
    it(`linear [${m},${k}]·[${k},${n}] + b: value and all gradients as autodiff [${backend}]`, async () => {
      const x = tf.randomNormal([2, m / 2, k], 0, 1, 'float32', 1);
      const w = tf.randomNormal([k, n], 0, 1, 'float32', 2);
      const b = tf.randomNormal([n], 0, 1, 'float32', 3);
      const r = tf.randomNormal([2, m / 2, n], 0, 1, 'float32', 4);
      const ours = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(linear(xx, ww, bb), r));
      const plain = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(tf.add(tf.reshape(tf.matMul(tf.reshape(xx, [m, k]), ww), [2, m / 2, n]), bb), r));
      const got = tf.grads(ours)([x, w, b]);
      const want = tf.grads(plain)([x, w, b]);
      for (let i = 0; i < 3; i++) await expectTensorsClose(got[i], want[i], { atol: 1e-4, name: ['dx', 'dw', 'db'][i] });
      const noBias = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(linear(xx, ww), r)))([x, w]);
      for (let i = 0; i < 2; i++) await expectTensorsClose(noBias[i], want[i], { atol: 1e-4, name: ['dx (no bias)', 'dw (no bias)'][i] });
      await expectNoLeaks(() => tf.dispose(tf.grads(ours)([x, w, b])));
      tf.dispose([x, w, b, r, ...got, ...want, ...noBias]);
    });
  }

  it(`gatherTokens takes rows per sample and routes the gradient back [${backend}]`, async () => {
    const x = tf.reshape(tf.range(0, 2 * 4 * 3, 1, 'float32'), [2, 4, 3]) as tf.Tensor3D;
    const ids = tf.tensor2d([[2, 0], [1, 3]], [2, 2], 'int32');
    const inverse = tf.tensor2d([[1, 3, 0, 2], [2, 0, 3, 1]], [2, 4], 'int32'); // inverse of [2,0,3,1] and [1,3,0,2]
    const out = gatherTokens(x, ids, inverse);
    await expectTensorsClose(out, tf.tensor3d([[[6, 7, 8], [0, 1, 2]], [[15, 16, 17], [21, 22, 23]]]), { atol: 0 });
    const w = tf.reshape(tf.range(1, 13, 1, 'float32'), [2, 2, 3]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherTokens(t as tf.Tensor3D, ids, inverse), w)))(x);
    const want = tf.tensor3d([
      [[4, 5, 6], [0, 0, 0], [1, 2, 3], [0, 0, 0]],
      [[0, 0, 0], [7, 8, 9], [0, 0, 0], [10, 11, 12]],
    ]);
    await expectTensorsClose(g, want, { atol: 0 });
    tf.dispose([x, ids, inverse, out, w, g, want]);
  });
}, { describe, beforeAll });

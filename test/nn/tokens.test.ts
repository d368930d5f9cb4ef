/** repeatToken: copies of a token, and a gradient that is the sum over the copies. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../src'; // as a user: importing tfjs-mae registers tfjs' gradients (through tfjs-layers)
import { repeatToken } from '../../src/nn/tokens';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';

describeBackends(['cpu', 'wasm'], (backend) => {
  it(`copies and sums [${backend}]`, async () => {
    const token = tf.tensor3d([[[1, 2, 3]]]);
    const out = repeatToken(token, 2, 4);
    expect(out.shape).toEqual([2, 4, 3]);
    expect(await out.array()).toEqual(Array.from({ length: 2 }, () => Array.from({ length: 4 }, () => [1, 2, 3])));
    const w = tf.randomNormal([2, 4, 3], 0, 1, 'float32', 1);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(repeatToken(t, 2, 4), w)))(token);
    await expectTensorsClose(g, tf.sum(w, [0, 1], true), { atol: 1e-6 });
    await expectNoLeaks(() => {
      const g2 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(repeatToken(t, 2, 4), w)))(token);
      g2.dispose();
    });
    tf.dispose([token, out, w, g]);
  });

  it(`called outside tf.tidy, leaves only its output [${backend}]`, () => {
    const token = tf.tensor3d([[[1, 2, 3]]]);
    const before = tf.memory().numTensors;
    const out = repeatToken(token, 2, 4);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([token, out]);
  });
}, { describe, beforeAll });

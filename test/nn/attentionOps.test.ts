/**
 * multiHeadAttention (qkv → merged heads in one taped op) against the same
 * attention composed from taped ops (slices, reshapes, transposes, softmax,
 * matMul): values and d qkv, with and without query rows, R < T and R = T
 * (a full permutation). cpu and wasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { multiHeadAttention, splitHeads } from '../../src';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';

/** The textbook composition: `[N, T, 3D]` → `[N, T, D]`. */
function reference(qkv: tf.Tensor3D, h: number): tf.Tensor3D {
  const [n, t, d3] = qkv.shape;
  const d = d3 / 3;
  const hd = d / h;
  const head = (i: number) => tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, i * d], [n, t, d]), [n, t, h, hd]), [0, 2, 1, 3]); // [N, H, T, hd]
  const p = tf.softmax(tf.mul(tf.matMul(head(0), head(1), false, true), hd ** -0.5));
  return tf.reshape(tf.transpose(tf.matMul(p, head(2)), [0, 2, 1, 3]), [n, t, d]) as tf.Tensor3D;
}

describeBackends(['cpu', 'wasm'], (backend) => {
  const [n, t, d, h] = [2, 5, 8, 2];
  const perms = [[3, 0, 4, 1, 2], [1, 2, 0, 4, 3]];
  const rowsOf = (r: number) => ({
    ids: tf.tensor2d(perms.map((p) => p.slice(0, r)), undefined, 'int32'),
    inverse: tf.tensor2d(perms.map((p) => p.map((_, i) => p.indexOf(i))), undefined, 'int32'),
  });

  it(`matches the composed attention: value and d qkv, all rows [${backend}]`, async () => {
    const qkv = tf.randomNormal([n, t, 3 * d], 0, 1, 'float32', 1) as tf.Tensor3D;
    const w = tf.randomNormal([n, t, d], 0, 1, 'float32', 2);
    const ours = tf.valueAndGrad((x: tf.Tensor) => tf.sum(tf.mul(multiHeadAttention(x as tf.Tensor3D, h), w)))(qkv);
    const want = tf.valueAndGrad((x: tf.Tensor) => tf.sum(tf.mul(reference(x as tf.Tensor3D, h), w)))(qkv);
    await expectTensorsClose(ours.value, want.value, { atol: 1e-4, name: 'value' });
    await expectTensorsClose(ours.grad, want.grad, { atol: 1e-5, name: 'd qkv' });
    await expectNoLeaks(() => tf.dispose(tf.grad((x: tf.Tensor) => tf.sum(multiHeadAttention(x as tf.Tensor3D, h)))(qkv)));
    tf.dispose([qkv, w, ours.value, ours.grad, want.value, want.grad]);
  });

  for (const r of [2, 5]) {
    it(`with ${r} of ${t} query rows: those rows of the full output, and the same d qkv [${backend}]`, async () => {
      const qkv = tf.randomNormal([n, t, 3 * d], 0, 1, 'float32', 3) as tf.Tensor3D;
      const rows = rowsOf(r);
      const w = tf.randomNormal([n, r, d], 0, 1, 'float32', 4);
      const wRows = (await w.array()) as number[][][];
      // the same weights at the chosen rows' places, zeros elsewhere
      const wFull = tf.tensor3d(perms.map((p, b) => Array.from({ length: t }, (_, i) => (p.indexOf(i) < r ? wRows[b][p.indexOf(i)] : new Array(d).fill(0)))));
      const ours = tf.valueAndGrad((x: tf.Tensor) => tf.sum(tf.mul(multiHeadAttention(x as tf.Tensor3D, h, rows), w)))(qkv);
      const want = tf.valueAndGrad((x: tf.Tensor) => tf.sum(tf.mul(reference(x as tf.Tensor3D, h), wFull)))(qkv);
      await expectTensorsClose(ours.value, want.value, { atol: 1e-4, name: 'value' });
      await expectTensorsClose(ours.grad, want.grad, { atol: 1e-5, name: 'd qkv' });
      const { q, k, v } = splitHeads(qkv, h, rows);
      expect([q.shape, k.shape, v.shape]).toEqual([[n * h, r, d / h], [n * h, t, d / h], [n * h, t, d / h]]);
      tf.dispose([qkv, rows.ids, rows.inverse, w, wFull, ours.value, ours.grad, want.value, want.grad, q, k, v]);
    });
  }
}, { describe, beforeAll });

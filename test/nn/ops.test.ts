/**
 * The linear primitive and the token gather: values and gradients against
 * plain tfjs autodiff, on both formulations of the input gradient (wasm
 * transposes the product when the activations are smaller than the weight).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEInputError, TransformerBlock } from '../../src';
import { gatherTokens, linear, packedWeights, takeRows, withoutPackedWeights } from '../../src/nn/ops';
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
      // a tf.Variable kernel (read from the closure in the backward pass, not saved): the same gradients
      const wv = tf.variable(w);
      const viaVar = tf.variableGrads(() => tf.sum(tf.mul(linear(x, wv, b), r)) as tf.Scalar, [wv]);
      await expectTensorsClose(viaVar.grads[wv.name], want[1], { atol: 1e-4, name: 'dw (variable kernel)' });
      await expectNoLeaks(() => {
        const g = tf.variableGrads(() => tf.sum(tf.mul(linear(x, wv, b), r)) as tf.Scalar, [wv]);
        tf.dispose([g.value, ...Object.values(g.grads)]);
      });
      tf.dispose([x, w, b, r, wv, viaVar.value, ...Object.values(viaVar.grads), ...got, ...want, ...noBias]);
    });
  }

  // inference (no tape): on wasm the direct form while packed weights fit, the transposed one above the limit
  for (const maxBytes of [packedWeights.maxBytes, 0]) {
    it(`linear in inference, packed-weights limit ${maxBytes} bytes: the value of a plain product [${backend}]`, async () => {
      const saved = packedWeights.maxBytes;
      packedWeights.maxBytes = maxBytes;
      try {
        const x = tf.randomNormal([2, 5, 48], 0, 1, 'float32', 1);
        const w = tf.randomNormal([48, 40], 0, 1, 'float32', 2);
        const b = tf.randomNormal([40], 0, 1, 'float32', 3);
        const want = tf.add(tf.reshape(tf.matMul(tf.reshape(x, [10, 48]), w), [2, 5, 40]), b);
        const [got, gotNoBias, wantNoBias] = [linear(x, w, b), linear(x, w), tf.sub(want, b)];
        await expectTensorsClose(got, want, { atol: 1e-4, name: 'with bias' });
        await expectTensorsClose(gotNoBias, wantNoBias, { atol: 1e-4, name: 'no bias' });
        await expectNoLeaks(() => linear(x, w, b).dispose());
        tf.dispose([x, w, b, want, got, gotNoBias, wantNoBias]);
      } finally {
        packedWeights.maxBytes = saved;
      }
    });
  }

  it(`withoutPackedWeights: inference products run transposed inside, the limit is restored after a throw [${backend}]`, async () => {
    const x = tf.randomNormal([10, 48], 0, 1, 'float32', 1);
    const w = tf.randomNormal([48, 40], 0, 1, 'float32', 2);
    const transposes = async (f: () => tf.Tensor) => (await tf.profile(() => f())).kernels.filter((k) => k.name === 'Transpose').length;
    const outside = await transposes(() => linear(x, w));
    const inside = await withoutPackedWeights(async () => transposes(() => linear(x, w)));
    // wasm: x·w outside (the weight packed once), (wᵀ·xᵀ)ᵀ inside; other backends always x·w
    expect([outside, inside]).toEqual(backend === 'wasm' ? [0, 3] : [0, 0]);
    const saved = packedWeights.maxBytes;
    await expect(withoutPackedWeights(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(packedWeights.maxBytes).toBe(saved);
    tf.dispose([x, w]);
  });

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

  it(`takeRows takes any rows per sample, repeats allowed [${backend}]`, async () => {
    const x = tf.reshape(tf.range(0, 2 * 3 * 2, 1, 'float32'), [2, 3, 2]) as tf.Tensor3D;
    const ids = tf.tensor2d([[2, 2, 0], [1, 0, 1]], [2, 3], 'int32');
    const out = takeRows(x, ids);
    await expectTensorsClose(out, tf.tensor3d([[[4, 5], [4, 5], [0, 1]], [[8, 9], [6, 7], [8, 9]]]), { atol: 0 });
    tf.dispose([x, ids, out]);
  });

  it(`a TransformerBlock with queryRows gives those rows of the full block, values and gradients [${backend}]`, async () => {
    const block = new TransformerBlock({ dim: 8, numHeads: 2, seed: 3 });
    const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
    const perm = [[3, 0, 4, 1, 2], [1, 2, 0, 4, 3]];
    const rows = {
      ids: tf.tensor2d(perm.map((p) => p.slice(0, 2)), undefined, 'int32'),
      inverse: tf.tensor2d(perm.map((p) => p.map((_, i) => p.indexOf(i))), undefined, 'int32'),
    };
    const w = tf.randomNormal([2, 2, 8], 0, 1, 'float32', 2);
    const wFull = tf.tensor3d(
      perm.map((p, n) => Array.from({ length: 5 }, (_, t) => (p.indexOf(t) < 2 ? (w.arraySync() as number[][][])[n][p.indexOf(t)] : new Array(8).fill(0)))),
    );
    const f = (t: tf.Tensor) => tf.sum(tf.mul(block.call(t, { queryRows: rows }), w)) as tf.Scalar;
    const g = (t: tf.Tensor) => tf.sum(tf.mul(block.call(t), wFull)) as tf.Scalar;
    const a = tf.valueAndGrad(f)(x);
    const b = tf.valueAndGrad(g)(x);
    await expectTensorsClose(a.value, b.value, { atol: 1e-5, name: 'value' });
    await expectTensorsClose(a.grad, b.grad, { atol: 1e-5, name: 'd/dx' });
    const va = tf.variableGrads(() => f(x));
    const vb = tf.variableGrads(() => g(x));
    for (const k of Object.keys(vb.grads)) await expectTensorsClose(va.grads[k], vb.grads[k], { atol: 1e-5, name: k });
    await expectNoLeaks(() => {
      const r = tf.variableGrads(() => f(x));
      tf.dispose([r.value, ...Object.values(r.grads)]);
    }, 'queryRows forward + backward');
    const bad = { ids: tf.tensor2d([[0]], [1, 1], 'int32'), inverse: rows.inverse };
    await expectNoLeaks(() => {
      expect(() => block.call(x, { queryRows: bad })).toThrow(MAEInputError);
      expect(() => block.call(x, { queryRows: bad })).toThrow(
        'TransformerBlock queryRows: expected { ids: int32 [2, R] with 1 ≤ R ≤ 5, inverse: int32 [2, 5] }, got ids "int32" [1, 1], inverse "int32" [2, 5]',
      );
    }, 'queryRows validation');
    bad.ids.dispose();
    tf.dispose([x, rows.ids, rows.inverse, w, wFull, a.value, a.grad, b.value, b.grad, va.value, vb.value, ...Object.values(va.grads), ...Object.values(vb.grads)]);
    block.dispose();
  });
}, { describe, beforeAll });

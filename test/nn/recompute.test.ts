/**
 * Recomputation: a block run with `recompute: true` gives the values and
 * gradients of the plain block (queryRows, training noise with and without
 * a seed, attention maps), leaks nothing, and leaves tfjs' engine as a plain
 * backward pass does; on cpu and wasm.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TransformerBlock, type BlockCallArgs } from '../../src';
import { recomputed } from '../../src/nn/recompute';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';

/** Loss `Σ y ⊙ r` of one block call, its value and its gradients with respect to x and every weight. */
function lossAndGrads(block: TransformerBlock, x: tf.Tensor, r: tf.Tensor, kwargs: BlockCallArgs) {
  const weights = block.weights.map((w) => w.read() as tf.Variable);
  return tf.tidy(() => {
    const { value, grads } = tf.engine().gradients(() => tf.sum(tf.mul(block.call(x, kwargs), r)) as tf.Scalar, [x, ...weights]);
    return { value, grads };
  });
}

describeBackends(['cpu', 'wasm'], (backend) => {
  let block: TransformerBlock;
  let x: tf.Tensor3D;
  let rows: { ids: tf.Tensor2D; inverse: tf.Tensor2D };
  beforeAll(() => {
    block = new TransformerBlock({ dim: 8, numHeads: 2, seed: 1, dropPath: 0.3, dropRate: 0.2 });
    block.ensureBuilt();
    x = tf.randomNormal([3, 5, 8], 0, 1, 'float32', 2) as tf.Tensor3D;
    // rows 4, 0, 2 of each sample; the inverse of the permutation [4, 0, 2, 1, 3]
    rows = { ids: tf.tensor2d([[4, 0, 2], [4, 0, 2], [4, 0, 2]], [3, 3], 'int32'), inverse: tf.tensor2d([[1, 3, 2, 4, 0], [1, 3, 2, 4, 0], [1, 3, 2, 4, 0]], [3, 5], 'int32') };
  });
  afterAll(() => {
    block.dispose();
    tf.dispose([x, rows.ids, rows.inverse]);
  });

  const cases: Record<string, () => BlockCallArgs> = {
    inference: () => ({}),
    'training noise with a seed': () => ({ training: true, seed: 11 }),
    'query rows': () => ({ queryRows: rows }),
    'query rows and training noise': () => ({ queryRows: rows, training: true, seed: 5 }),
  };
  for (const [name, kwargs] of Object.entries(cases)) {
    it(`${name}: the values and gradients of the plain block [${backend}]`, async () => {
      const before = tf.memory().numTensors;
      const r = tf.randomNormal(kwargs().queryRows ? [3, 3, 8] : [3, 5, 8], 0, 1, 'float32', 3);
      const plain = lossAndGrads(block, x, r, kwargs());
      const re = lossAndGrads(block, x, r, { ...kwargs(), recompute: true });
      try {
        await expectTensorsClose(re.value, plain.value, { atol: 1e-6, rtol: 1e-6, name: 'loss' });
        for (let i = 0; i < plain.grads.length; i++) {
          await expectTensorsClose(re.grads[i], plain.grads[i], { atol: 1e-6, rtol: 1e-5, name: i === 0 ? 'dx' : block.weights[i - 1].name });
        }
      } finally {
        tf.dispose([r, plain.value, re.value, ...plain.grads, ...re.grads]);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it(`training noise without a seed is drawn once per call, so the replay sees it [${backend}]`, async () => {
    const r = tf.randomNormal([3, 5, 8], 0, 1, 'float32', 3);
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.25);
    let re: ReturnType<typeof lossAndGrads>;
    try {
      re = lossAndGrads(block, x, r, { training: true, recompute: true });
    } finally {
      random.mockRestore();
    }
    const plain = lossAndGrads(block, x, r, { training: true, seed: 0.25 * 4294967296 });
    try {
      for (let i = 0; i < plain.grads.length; i++) await expectTensorsClose(re.grads[i], plain.grads[i], { atol: 1e-6, rtol: 1e-5 });
    } finally {
      tf.dispose([r, plain.value, re.value, ...plain.grads, ...re.grads]);
    }
  });

  it(`attention maps come from the forward run only [${backend}]`, async () => {
    const maps: tf.Tensor[] = [];
    const out = tf.variableGrads(() => tf.sum(block.call(x, { attnOut: maps, recompute: true })) as tf.Scalar);
    try {
      expect(maps.map((m) => m.shape)).toEqual([[3, 2, 5, 5]]);
    } finally {
      tf.dispose([out.value, ...Object.values(out.grads), ...maps]);
    }
  });

  it(`tf.variableGrads + an optimiser step leak nothing, and the engine's tape ends as tfjs leaves it [${backend}]`, async () => {
    const opt = tf.train.sgd(0.01);
    await expectNoLeaks(() => {
      opt.minimize(() => tf.sum(block.call(block.call(x, { recompute: true }), { recompute: true })) as tf.Scalar);
    }, 'recomputed step');
    opt.dispose();
    // what recompute relies on (src/nn/recompute.ts): a finished backward pass leaves no tape
    expect(tf.engine().state.activeTape).toBeNull();
    expect(tf.engine().state.gradientDepth).toBe(0);
  });

  it(`a failing recomputed function leaks nothing [${backend}]`, async () => {
    const bad = tf.zeros([2, 3, 7]); // block width 8
    await expect(
      expectNoLeaks(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(block.call(bad, { recompute: true })) as tf.Scalar);
        tf.dispose([value, ...Object.values(grads)]);
      }, 'bad input'),
    ).rejects.toThrow();
    bad.dispose();
  });

  it(`a weight the function does not reach gets a zero gradient, and a function reading consts gets them back in the replay [${backend}]`, async () => {
    const w = tf.variable(tf.tensor1d([2, 3]));
    const unused = tf.variable(tf.tensor1d([1]));
    const c = tf.tensor1d([10, 20]);
    const seen: boolean[] = [];
    try {
      const { value, grads } = tf.variableGrads(() =>
        tf.sum(
          recomputed(
            (xs, [cs], replay) => {
              seen.push(replay);
              return tf.mul(tf.mul(xs, w), cs);
            },
            tf.tensor1d([1, 1]),
            [c],
            [w, unused],
          ),
        ) as tf.Scalar,
        [w, unused],
      );
      expect(seen).toEqual([false, true]);
      expect(Array.from(await grads[w.name].data())).toEqual([10, 20]);
      expect(Array.from(await grads[unused.name].data())).toEqual([0]);
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      tf.dispose([w, unused, c]);
    }
  });
}, { describe, beforeAll });

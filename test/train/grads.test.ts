import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { GradAccumulator, clipGradNorm } from '../../src/train/grads';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const read = async (t: tf.Tensor) => Array.from(await t.data());

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(tol);
}

describe('GradAccumulator', () => {
  it('averages k micro-batches and leaves the caller its tensors', async () => {
    const base = tf.memory().numTensors;
    const acc = new GradAccumulator(3);
    const micro = [
      { w: tf.tensor([[1, 2], [3, 4]]), b: tf.tensor([1]) },
      { w: tf.tensor([[0, -2], [6, 1]]), b: tf.tensor([2]) },
      { w: tf.tensor([[2, 3], [0, 1]]), b: tf.tensor([-6]) },
    ];
    const inputs = tf.memory().numTensors;
    for (const g of micro) {
      expect(acc.ready).toBe(false);
      acc.add(new Map(Object.entries(g)));
      expect(tf.memory().numTensors).toBe(inputs + 2); // one running sum per name
    }
    expect([acc.count, acc.ready]).toEqual([3, true]);
    const mean = acc.average();
    expect(await read(mean.w)).toEqual([1, 1, 3, 2]);
    expect(await read(mean.b)).toEqual([-1]);
    expect(acc.count).toBe(0);
    expect(tf.memory().numTensors).toBe(inputs + 2); // just the mean
    expect(await read(micro[0].w)).toEqual([1, 2, 3, 4]); // inputs untouched, still alive
    tf.dispose([...Object.values(mean), ...micro.flatMap((g) => Object.values(g))]);
    expect(tf.memory().numTensors).toBe(base);
  });

  it('averages a partial accumulation over what was added; dispose drops it', async () => {
    const base = tf.memory().numTensors;
    const acc = new GradAccumulator(4);
    const g = { w: tf.tensor([2, 4]) };
    acc.add(g);
    acc.add(g);
    const mean = acc.average();
    expect(await read(mean.w)).toEqual([2, 4]);
    acc.add(g);
    acc.dispose();
    expect(acc.count).toBe(0);
    tf.dispose([g.w, mean.w]);
    expect(tf.memory().numTensors).toBe(base);
  });

  it('rejects mismatched micro-batches and misuse, leaking nothing', () => {
    expect(() => new GradAccumulator(0)).toThrow(/GradAccumulator microBatches: expected an integer >= 1, got 0/);
    const acc = new GradAccumulator(2);
    expect(() => acc.average()).toThrow(MAEInputError);
    const a = tf.ones([2]);
    const b = tf.ones([3]);
    acc.add({ w: a });
    const base = tf.memory().numTensors;
    expect(() => acc.add({ v: a })).toThrow(/expected the names of the first micro-batch \["w"\], got \["v"\]/);
    expect(() => acc.add({ w: a, v: a })).toThrow(MAEInputError);
    expect(() => acc.add({ w: b })).toThrow(/grads\["w"\]: expected shape \[2\], got \[3\]/);
    expect(tf.memory().numTensors).toBe(base);
    acc.add({ w: a });
    expect(() => acc.add({ w: a })).toThrow(/expected average\(\) after 2 micro-batches/);
    acc.dispose();
    tf.dispose([a, b]);
  });
});

describe('clipGradNorm (torch clip_grad_norm_)', () => {
  it('scales by maxNorm / (norm + 1e-6) when the global norm exceeds maxNorm', async () => {
    const base = tf.memory().numTensors;
    const grads = { a: tf.tensor([3, 0]), b: tf.tensor([[0], [4]]) }; // global norm 5
    const { grads: clipped, totalNorm } = clipGradNorm(grads, 1);
    expect(await read(totalNorm)).toEqual([5]);
    const coef = 1 / (5 + 1e-6);
    expectClose(await read(clipped.a), [3 * coef, 0], 1e-7);
    expectClose(await read(clipped.b), [0, 4 * coef], 1e-7);
    expect(clipped.b.shape).toEqual([2, 1]);
    tf.dispose([...Object.values(grads), ...Object.values(clipped), totalNorm]);
    expect(tf.memory().numTensors).toBe(base);
  });

  it('leaves gradients under maxNorm unchanged (coefficient clamped to 1)', async () => {
    const grads = new Map([['w', tf.tensor([0.1, -0.2, 0.2])]]); // norm 0.3
    const { grads: clipped, totalNorm } = clipGradNorm(grads, 1);
    expectClose(await read(totalNorm), [0.3], 1e-7);
    expect(await read(clipped.w)).toEqual(await read(grads.get('w')!));
    tf.dispose([grads.get('w')!, clipped.w, totalNorm]);
  });

  it('returns norm 0 for no gradients and rejects a bad maxNorm', async () => {
    const base = tf.memory().numTensors;
    const { grads, totalNorm } = clipGradNorm({}, 1);
    expect(grads).toEqual({});
    expect(await read(totalNorm)).toEqual([0]);
    totalNorm.dispose();
    expect(() => clipGradNorm({}, 0)).toThrow(MAEConfigError);
    expect(() => clipGradNorm({}, Number.POSITIVE_INFINITY)).toThrow(/clipGradNorm maxNorm: expected a finite number > 0, got Infinity/);
    expect(tf.memory().numTensors).toBe(base);
  });
});

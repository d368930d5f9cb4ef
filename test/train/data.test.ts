import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, TrainingError } from '../../src/errors';
import { epochIterator, imageDataSource, resolveBatchesPerEpoch, disposeBatch, type TrainBatch } from '../../src/train/data';
import { epochOrder } from '../../src/data/batches';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const pixels = Uint8Array.from({ length: 10 * 4 }, (_, i) => i); // 10 images of 2×2×1

describe('imageDataSource', () => {
  it('yields the seeded epoch order from any batch on, normalised, with labels', async () => {
    const labels = Uint8Array.from({ length: 10 }, (_, i) => i);
    const src = imageDataSource(pixels, labels, { batchSize: 3, imageShape: [2, 2, 1], seed: 9, mean: 0.5, std: 0.25 });
    expect(src.batchesPerEpoch).toBe(3); // 10 // 3, last partial dropped
    const order = epochOrder(10, { seed: 9, epoch: 2 });
    const batches = [...src.batches(2, 1)] as TrainBatch[];
    expect(batches).toHaveLength(2);
    expect(Array.from(await batches[0].labels!.data())).toEqual(Array.from(order.slice(3, 6)));
    const first = order[3];
    expect(Array.from(await batches[0].images.data()).slice(0, 4)).toEqual(
      [0, 1, 2, 3].map((k) => Math.fround(Math.fround(Math.fround((4 * first + k) / 255) - 0.5) / 0.25)),
    );
    batches.forEach(disposeBatch);
  });

  it('checks its arguments at once', () => {
    expect(() => imageDataSource(pixels, undefined, { batchSize: 0, imageShape: [2, 2, 1] })).toThrow(MAEConfigError);
    expect(() => imageDataSource(pixels, undefined, { batchSize: 3 } as never)).toThrow(/imageShape/);
  });
});

describe('epochIterator', () => {
  it('skips (and disposes) the first batches of a function source, and says when an epoch is too short', () => {
    const before = tf.memory().numTensors;
    const made: tf.Tensor[] = [];
    const source = () => [0, 1, 2].map((v) => (made.push(tf.scalar(v)), made.at(-1)!));
    const it = epochIterator(source, 0, 2);
    expect(made.slice(0, 2).every((t) => t.isDisposed)).toBe(true);
    const third = it.next().value as tf.Tensor;
    expect(third.dataSync()[0]).toBe(2);
    third.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => epochIterator(source, 4, 5)).toThrow(TrainingError);
    expect(() => epochIterator(source, 4, 5)).toThrow(/epoch 4 ended after 3 batches while skipping to batch 5/);
    made.forEach((t) => t.dispose());
  });

  it('resolves batchesPerEpoch from the option or the source', () => {
    expect(resolveBatchesPerEpoch({ batches: () => [], batchesPerEpoch: 4 }, undefined, 'x')).toBe(4);
    expect(resolveBatchesPerEpoch(() => [], 7, 'x')).toBe(7);
    expect(() => resolveBatchesPerEpoch(() => [], undefined, 'x')).toThrow(/x batchesPerEpoch: expected a positive integer/);
  });
});

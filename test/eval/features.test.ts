import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { ViTEncoder } from '../../src/encode/ViTEncoder';
import { extractFeatures, extractPooledFeatures } from '../../src/eval/features';
import { maxAbsDiff } from '../../src/testing';

let encoder: ViTEncoder;
let images: tf.Tensor4D;

beforeAll(async () => {
  await tf.setBackend('cpu');
  encoder = new ViTEncoder({ imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2, seed: 3 });
  images = tf.randomNormal([7, 8, 8, 1], 0, 1, 'float32', 11) as tf.Tensor4D;
});

afterAll(() => {
  encoder.dispose();
  images.dispose();
});

describe('extractFeatures', () => {
  it('mean-pools the L patch tokens (not cls) of forwardFeatures, in batches, leaking nothing', async () => {
    const tokens = encoder.forwardFeatures(images); // [7, 5, 8]
    const wantMean = tf.mean(tf.slice(tokens, [0, 1, 0], [7, 4, 8]), 1);
    const wantCls = tf.reshape(tf.slice(tokens, [0, 0, 0], [7, 1, 8]), [7, 8]);
    const before = tf.memory().numTensors;
    const done: number[] = [];
    const mean = await extractFeatures(encoder, images, { batchSize: 3, onProgress: (k) => void done.push(k) });
    const cls = await extractFeatures(encoder, images, { pool: 'cls', batchSize: 100 });
    expect(mean.shape).toEqual([7, 8]);
    expect(done).toEqual([3, 6, 7]);
    expect(await maxAbsDiff(mean, wantMean)).toBeLessThan(1e-5);
    expect(await maxAbsDiff(cls, wantCls)).toBeLessThan(1e-5);
    tf.dispose([mean, cls]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([tokens, wantMean, wantCls]);
  });

  it('returns several poolings from one pass and takes an iterable of batches (disposing them)', async () => {
    const before = tf.memory().numTensors;
    const batches = [tf.slice(images, [0, 0, 0, 0], [4, -1, -1, -1]), tf.slice(images, [4, 0, 0, 0], [3, -1, -1, -1])];
    const both = await extractPooledFeatures(encoder, batches);
    const single = await extractFeatures(encoder, images, { pool: 'cls' });
    expect(batches.every((b) => b.isDisposed)).toBe(true);
    expect(both.mean!.shape).toEqual([7, 8]);
    expect(await maxAbsDiff(both.cls!, single)).toBeLessThan(1e-6);
    tf.dispose([both.mean!, both.cls!, single]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad arguments with typed errors, leaking nothing', async () => {
    const before = tf.memory().numTensors;
    await expect(extractFeatures({} as never, images)).rejects.toThrow(/encoder: expected an encoder with forwardFeatures/);
    await expect(extractFeatures(encoder, images, { pool: 'max' as never })).rejects.toThrow(MAEConfigError);
    await expect(extractFeatures(encoder, images, { batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(extractFeatures(encoder, [] as tf.Tensor[])).rejects.toThrow(/at least one image/);
    const flat = tf.zeros([2, 64]);
    await expect(extractFeatures(encoder, flat)).rejects.toThrow(MAEInputError);
    flat.dispose();
    // A batch of the wrong size fails inside the encoder: the earlier batches are released.
    await expect(extractFeatures(encoder, [tf.zeros([1, 8, 8, 1]), tf.zeros([1, 4, 4, 1])])).rejects.toThrow();
    expect(tf.memory().numTensors).toBe(before);
  });
});

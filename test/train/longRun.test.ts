/**
 * A long run without drift: 300 pre-training steps of a tiny MAE on cpu.
 * `tf.memory().numTensors` must be the same after every step from step 2 on
 * (the optimiser creates its moments at step 1), and every loss finite.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, expect, it } from 'vitest';
import { MaskedAutoencoder, Rng } from '../../src';
import { imageDataSource } from '../../src/train/data';
import { pretrain } from '../../src/train/pretrain';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

it('300 steps: constant numTensors from step 2 on, finite losses, the loss falls', async () => {
  const rng = new Rng(11);
  const n = 32;
  const pixels = new Uint8Array(n * 8 * 8);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(rng.uniformIn(0, 256));
  const data = imageDataSource(pixels, undefined, { batchSize: 4, imageShape: [8, 8, 1], seed: 1, mean: 0.5, std: 0.29 });
  const start = tf.memory().numTensors; // before the model: its constructor creates the weights
  const model = new MaskedAutoencoder({
    imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2,
    decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 3,
  });
  const counts: number[] = [];
  const losses: number[] = [];
  try {
    const result = await pretrain(model, data, {
      epochs: 38, // 38 × 8 batches = 304 steps
      lr: 2e-3,
      progress: false,
      onStep: (info) => {
        counts.push(tf.memory().numTensors);
        losses.push(info.loss);
      },
    });
    expect(result.step).toBeGreaterThanOrEqual(300);
  } finally {
    model.dispose();
  }
  expect(counts.length).toBeGreaterThanOrEqual(300);
  const steady = counts.slice(1);
  expect(new Set(steady).size, `numTensors per step: ${[...new Set(steady)].join(', ')}`).toBe(1);
  expect(losses.every(Number.isFinite)).toBe(true);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  expect(mean(losses.slice(-40))).toBeLessThan(mean(losses.slice(0, 40)));
  expect(tf.memory().numTensors).toBe(start);
}, 300_000);

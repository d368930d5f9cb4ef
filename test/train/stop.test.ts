/** trainLoop's `signal`: stop mid-epoch, save, and resume to the uninterrupted result bit for bit. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // registers the gradients in Node
import { beforeAll, describe, expect, it } from 'vitest';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { pretrain, type PretrainOptions } from '../../src/train/pretrain';
import { imageDataSource } from '../../src/train/data';
import { decodeCheckpoint, encodeCheckpoint, type TrainingCheckpoint } from '../../src/train/checkpoint';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const config = {
  imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 7,
};
const pixels = Uint8Array.from({ length: 16 * 64 }, (_, i) => (i * 2654435761) >>> 24);
const data = () => imageDataSource(pixels, undefined, { batchSize: 4, imageShape: [8, 8, 1], seed: 5, mean: 0.5, std: 0.3 });
const base: PretrainOptions = { epochs: 2, lr: 5e-3, progress: false };

async function run(options: Partial<PretrainOptions>, seed = 7) {
  const model = new MaskedAutoencoder({ ...config, seed });
  try {
    const result = await pretrain(model, data(), { ...base, ...options });
    return { result, weights: Object.fromEntries(await Promise.all(model.stateEntries().map(async (e) => [e.name, Array.from(await e.variable.read().data())]))) };
  } finally {
    model.dispose();
  }
}

describe('trainLoop signal', () => {
  it('stops after the step under way, saves a mid-epoch checkpoint, and a resume ends bit-exact', async () => {
    const full = await run({});
    const controller = new AbortController();
    const saved: TrainingCheckpoint[] = [];
    const tensorsBefore = tf.memory().numTensors;
    const stopped = await run({
      onStep: (info) => {
        if (info.step === 5) controller.abort(); // epoch 1, step 2 of 4
      },
      signal: controller.signal,
      save: (c) => void saved.push(c),
    });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(stopped.result.stopped).toBe(true);
    expect(stopped.result.losses).toEqual(full.result.losses.slice(0, 6));
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ step: 6, epoch: 1 });
    const resumed = await run({ resume: decodeCheckpoint(encodeCheckpoint(saved[0])) }, 99);
    expect(resumed.result.losses).toEqual(full.result.losses.slice(6));
    expect(resumed.weights).toEqual(full.weights);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers the gradients in Node
import { beforeAll, describe, expect, it } from 'vitest';
import { describeBackends } from '../../src/testing';
import { MAEConfigError } from '../../src/errors';
import { ViTClassifier } from '../../src/classify/ViTClassifier';
import { finetune } from '../../src/eval/finetune';
import { FINETUNE_RECIPE } from '../../src/eval/finetuneRecipe';
import { imageDataSource, type TrainBatch } from '../../src/train/data';
import { Rng } from '../../src/data/rng';

const tinyClassifier = () =>
  new ViTClassifier({ imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 2, numHeads: 2, numClasses: 4, seed: 3 });

function noise(n: number, seed: number) {
  const rng = new Rng(seed);
  return {
    images: Uint8Array.from({ length: n * 64 }, () => rng.below(256)),
    labels: Uint8Array.from({ length: n }, (_, k) => k % 4),
  };
}

const source = (d: ReturnType<typeof noise>) => imageDataSource(d.images, d.labels, { batchSize: 8, imageShape: [8, 8, 1], seed: 4, mean: 0.5, std: 0.25 });

describeBackends(['cpu', 'wasm'], () => {
  it('labelSmoothing: the first loss is timm LabelSmoothingCrossEntropy of the batch (lr 0), computed on the host', async () => {
    const d = noise(16, 1);
    const clf = tinyClassifier();
    clf.ensureBuilt();
    // The first batch and the classifier's logits on it, before training.
    const first = source(d).batches(0, 0)[Symbol.iterator]().next().value as TrainBatch;
    const { logits, features } = clf.forward(first.images);
    const z = Array.from(await logits.data());
    const y = Array.from(await first.labels!.data());
    tf.dispose([logits, features, first.images, first.labels!]);
    const eps = 0.1;
    let expected = 0;
    for (let i = 0; i < 8; i++) {
      const row = z.slice(4 * i, 4 * i + 4);
      const lse = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
      const nll = lse - row[y[i]];
      const uniform = row.reduce((a, v) => a + (lse - v), 0) / 4;
      expected += ((1 - eps) * nll + eps * uniform) / 8;
    }
    const before = tf.memory().numTensors;
    const r = await finetune(clf, source(d), { epochs: 1, schedule: () => 0, labelSmoothing: eps, progress: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.losses[0]).toBeCloseTo(expected, 5);
    clf.dispose();
  });

  it('randomErasing and randAugment: p 0 leaves the plain losses, p 1 changes them (lr 0)', async () => {
    const d = noise(16, 6);
    const run = async (extra: object) => {
      const clf = tinyClassifier();
      try {
        return (await finetune(clf, source(d), { epochs: 1, schedule: () => 0, progress: false, ...extra })).losses;
      } finally {
        clf.dispose();
      }
    };
    const plain = await run({});
    expect(await run({ randomErasing: 0 })).toEqual(plain);
    expect(await run({ randAugment: { prob: 0, mean: 0.5, std: 0.25 } })).toEqual(plain);
    expect(await run({ randAugment: { prob: 1, mean: 0.5, std: 0.25 } })).not.toEqual(plain);
    const erased = await run({ randomErasing: { p: 1, mode: 'const' } });
    expect(erased).not.toEqual(plain);
    expect(erased.every(Number.isFinite)).toBe(true);
  });

  it('the whole FINETUNE_RECIPE (RandAugment, erasing, mixup/cutmix, smoothing): reproducible per seed, resumes bit for bit, differs from the plain loss, and leaks nothing', async () => {
    const d = noise(32, 2);
    const run = async (extra: object) => {
      const clf = tinyClassifier();
      try {
        return await finetune(clf, source(d), { epochs: 2, lr: 1e-2, progress: false, seed: 9, ...extra });
      } finally {
        clf.dispose();
      }
    };
    const recipe = {
      ...FINETUNE_RECIPE,
      dropPath: undefined, // a ViTClassifier source keeps its own
      randAugment: { ...FINETUNE_RECIPE.randAugment, mean: 0.5, std: 0.25 }, // the source's normalisation
    };
    const before = tf.memory().numTensors;
    const full = await run(recipe);
    expect(tf.memory().numTensors).toBe(before);
    expect(full.losses.every(Number.isFinite)).toBe(true);
    expect((await run(recipe)).losses).toEqual(full.losses);
    expect((await run({})).losses).not.toEqual(full.losses);
    let ckpt: unknown;
    await run({ ...recipe, stopAfterEpoch: 1, save: (c: unknown) => void (ckpt = c) });
    expect((await run({ ...recipe, resume: ckpt })).losses).toEqual(full.losses.slice(4));
  });
}, { describe, beforeAll }, 'finetune regularisers');

describe('finetune regulariser options', () => {
  it('rejects bad values before training', async () => {
    await tf.setBackend('cpu');
    const clf = tinyClassifier();
    const data = source(noise(8, 3));
    await expect(finetune(clf, data, { epochs: 1, labelSmoothing: 1 })).rejects.toThrow(/labelSmoothing: expected a number in \[0, 1\)/);
    await expect(finetune(clf, data, { epochs: 1, mixup: { mixupAlpha: 0, cutmixAlpha: 0 } })).rejects.toThrow(MAEConfigError);
    await expect(finetune(clf, data, { epochs: 1, mixup: { mixupAlpha: -1 } })).rejects.toThrow(/mixup.mixupAlpha/);
    await expect(finetune(clf, data, { epochs: 1, randomErasing: 1.5 })).rejects.toThrow(/randomErasing p/);
    await expect(finetune(clf, data, { epochs: 1, randomErasing: 'yes' as never })).rejects.toThrow(/randomErasing: expected a probability/);
    await expect(finetune(clf, data, { epochs: 1, randAugment: { magnitude: 20 } })).rejects.toThrow(/randAugment magnitude/);
    clf.dispose();
  });
});

describe('finetune dropPath', () => {
  it('puts drop path on every block by timm\'s linear rule, acts in training, and refuses a mismatch with a classifier source', async () => {
    await tf.setBackend('cpu');
    const { MaskedAutoencoder } = await import('../../src/model/MaskedAutoencoder');
    const mae = new MaskedAutoencoder({ imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 3, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 3 });
    mae.ensureBuilt();
    const d = noise(16, 5);
    const run = async (dropPath: number) => {
      const r = await finetune(mae, source(d), { numClasses: 4, epochs: 1, schedule: () => 0, dropPath, progress: false, seed: 1 });
      const rates = r.classifier.blocks.map((b) => b.dropPath);
      r.classifier.dispose();
      return { losses: r.losses, rates };
    };
    const before = tf.memory().numTensors;
    const plain = await run(0);
    const dropped = await run(0.1);
    expect(tf.memory().numTensors).toBe(before);
    expect(dropped.rates).toEqual([0, 0.05, 0.1]);
    expect(dropped.losses).not.toEqual(plain.losses); // lr 0: only the dropped branches change the loss
    expect(dropped.losses).toEqual((await run(0.1)).losses);
    const clf = tinyClassifier();
    await expect(finetune(clf, source(d), { epochs: 1, dropPath: 0.1 })).rejects.toThrow(/dropPath: expected the classifier's own 0/);
    clf.dispose();
    mae.dispose();
  });
});

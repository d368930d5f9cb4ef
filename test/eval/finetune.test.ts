import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { ViTClassifier } from '../../src/classify/ViTClassifier';
import { evaluateClassifier, evaluateClassifierMetrics, finetune, finetuneParamGroups } from '../../src/eval/finetune';
import { imageDataSource } from '../../src/train/data';
import { Rng } from '../../src/data/rng';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tinyMae = () =>
  new MaskedAutoencoder({
    imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 2, numHeads: 2,
    decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 3,
  });

/** 8×8 images, class = which quarter (of 4) is bright, plus noise. */
function quarters(n: number, seed: number) {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * 64);
  const labels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const c = k % 4;
    labels[k] = c;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      const q = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1);
      images[k * 64 + y * 8 + x] = Math.round((q === c ? 180 : 40) + 40 * rng.uniform());
    }
  }
  return { images, labels };
}

describe('finetuneParamGroups', () => {
  it('puts patch embed and cls at layer 0, block i at i+1, fc_norm and head at depth+1; pos_embed frozen', () => {
    const mae = tinyMae();
    const clf = ViTClassifier.fromMAE(mae, { numClasses: 4, seed: 1 });
    const table = (groups: ReturnType<typeof finetuneParamGroups>) =>
      Object.fromEntries(groups.flatMap((g) => g.params.map((p) => [p.name, [g.lrScale, g.weightDecay]])));
    const t = table(finetuneParamGroups(clf));
    expect(t['cls_token']).toEqual([0.75 ** 3, 0]);
    expect(t['patch_embed.proj.weight']).toEqual([0.75 ** 3, 0.05]);
    expect(t['patch_embed.proj.bias']).toEqual([0.75 ** 3, 0]);
    expect(t['blocks.0.attn.qkv.weight']).toEqual([0.75 ** 2, 0.05]);
    expect(t['blocks.0.norm1.weight']).toEqual([0.75 ** 2, 0]);
    expect(t['blocks.1.mlp.fc2.weight']).toEqual([0.75, 0.05]);
    expect(t['head.weight']).toEqual([1, 0.05]);
    expect(t['head.bias']).toEqual([1, 0]);
    expect(t['fc_norm.weight']).toEqual([1, 0]);
    expect(t['pos_embed']).toBeUndefined();
    expect(table(finetuneParamGroups(clf, { trainPosEmbed: true, layerDecay: 0.5 }))['pos_embed']).toEqual([0.125, 0]);
    clf.dispose();
    mae.dispose();
  });
});

describe('finetune', () => {
  it('learns a separable task from MAE weights, leaves the MAE untouched and leaks nothing', async () => {
    const mae = tinyMae();
    const before = mae.stateDict();
    const train = quarters(128, 1);
    const test = quarters(32, 2);
    const data = imageDataSource(train.images, train.labels, { batchSize: 16, imageShape: [8, 8, 1], seed: 4, mean: 0.4, std: 0.3 });
    const tensorsBefore = tf.memory().numTensors;
    const r = await finetune(mae, data, { numClasses: 4, epochs: 10, lr: 2e-2, progress: false, seed: 0 });
    expect(r.losses).toHaveLength(80);
    expect(r.epochLosses[9]).toBeLessThan(0.5 * r.epochLosses[0]);
    const testImages = tf.tidy(() => tf.div(tf.sub(tf.div(tf.tensor4d(test.images, [32, 8, 8, 1], 'float32'), 255), 0.4), 0.3));
    const acc = await evaluateClassifier(r.classifier, testImages, test.labels, { batchSize: 10 });
    expect(acc).toBeGreaterThanOrEqual(0.9);
    testImages.dispose();
    // pos_embed stayed the sin-cos table of the MAE; the MAE itself is unchanged.
    const pos = r.classifier.stateDict();
    const after = mae.stateDict();
    expect(Array.from(await pos['pos_embed'].data())).toEqual(Array.from(await before['pos_embed'].data()));
    for (const name of Object.keys(before)) expect(Array.from(await after[name].data())).toEqual(Array.from(await before[name].data()));
    tf.dispose([...Object.values(pos), ...Object.values(after)]);
    r.classifier.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    tf.dispose(Object.values(before));
    mae.dispose();
  });

  it('gives the same curve for the same seed and continues it bit for bit after a resume', async () => {
    const train = quarters(32, 1);
    const data = () => imageDataSource(train.images, train.labels, { batchSize: 8, imageShape: [8, 8, 1], seed: 4, mean: 0.4, std: 0.3 });
    const run = async (extra: object) => {
      const mae = tinyMae();
      try {
        const r = await finetune(mae, data(), { numClasses: 4, epochs: 2, lr: 1e-2, progress: false, ...extra });
        r.classifier.dispose();
        return r;
      } finally {
        mae.dispose();
      }
    };
    const full = await run({});
    const again = await run({});
    expect(again.losses).toEqual(full.losses);
    let ckpt: unknown;
    await run({ stopAfterEpoch: 1, save: (c: unknown) => void (ckpt = c) });
    const rest = await run({ resume: ckpt });
    expect(rest.losses).toEqual(full.losses.slice(4));
  });

  it('recompute: true gives the same curve (to float rounding) with drop path and dropout, and leaks nothing', async () => {
    const train = quarters(32, 1);
    const data = () => imageDataSource(train.images, train.labels, { batchSize: 8, imageShape: [8, 8, 1], seed: 4, mean: 0.4, std: 0.3 });
    const run = async (extra: object) => {
      const mae = tinyMae();
      try {
        const r = await finetune(mae, data(), { numClasses: 4, epochs: 1, lr: 1e-2, dropPath: 0.2, progress: false, ...extra });
        r.classifier.dispose();
        return r;
      } finally {
        mae.dispose();
      }
    };
    const plain = await run({});
    const before = tf.memory().numTensors;
    const re = await run({ recompute: true });
    expect(tf.memory().numTensors).toBe(before);
    re.losses.forEach((l, i) => expect(l).toBeCloseTo(plain.losses[i], 5));
  });

  it('rejects a missing numClasses and batches without labels', async () => {
    const mae = tinyMae();
    mae.encoder.ensureBuilt();
    const before = tf.memory().numTensors;
    await expect(finetune(mae, () => [], { epochs: 1, batchesPerEpoch: 1 })).rejects.toThrow(MAEConfigError);
    await expect(
      finetune(mae, () => [tf.zeros([2, 8, 8, 1])], { epochs: 1, batchesPerEpoch: 1, numClasses: 4, progress: false }),
    ).rejects.toThrow(/labels: expected a \[2\] int tensor/);
    expect(tf.memory().numTensors).toBe(before);
    await expect(evaluateClassifier({ forward: () => ({}) } as never, tf.zeros([2, 8, 8, 1]), [0])).rejects.toThrow(MAEInputError);
    mae.dispose();
  });
});

describe('evaluateClassifierMetrics', () => {
  it('top-1, top-5 and the mean cross-entropy over all images (main_finetune.py --eval), in batches; no leaks', async () => {
    // A fake classifier whose logits are the image's first row of 6 pixels: the numbers are known on the host.
    const rng = new Rng(7);
    const n = 13, k = 6;
    const rows = Array.from({ length: n }, () => Array.from({ length: k }, () => rng.uniformIn(-2, 2)));
    const labels = rows.map((_, i) => (i * 5) % k);
    const images = tf.tensor4d(rows.flat(), [n, 1, k, 1]);
    const fake = { forward: (x: tf.Tensor) => ({ logits: tf.reshape(x, [x.shape[0], k]) as tf.Tensor2D, features: tf.zeros([x.shape[0], 1]) as tf.Tensor2D }) };
    let right = 0, right5 = 0, loss = 0;
    rows.forEach((row, i) => {
      const y = labels[i];
      const max = Math.max(...row);
      if (row.indexOf(max) === y) right++;
      if (row.filter((v) => v > row[y]).length < 5) right5++;
      loss += Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) + max - row[y];
    });
    const before = tf.memory().numTensors;
    const m = await evaluateClassifierMetrics(fake, images, labels, { batchSize: 5 }); // batches 5, 5, 3
    expect(tf.memory().numTensors).toBe(before);
    expect(m.count).toBe(n);
    expect(m.acc1).toBeCloseTo(right / n, 7);
    expect(m.acc5).toBeCloseTo(right5 / n, 7);
    expect(right5).toBeLessThan(n); // top-5 of 6 classes misses some: the check means something
    expect(Math.abs(m.loss - loss / n)).toBeLessThan(1e-5);
    expect(await evaluateClassifier(fake, images, labels, { batchSize: 5 })).toBe(m.acc1);
    // Fewer than 5 classes: no top-5.
    const two = { forward: (x: tf.Tensor) => ({ logits: tf.reshape(tf.slice(x, [0, 0, 0, 0], [-1, 1, 2, 1]), [x.shape[0], 2]) as tf.Tensor2D, features: tf.zeros([x.shape[0], 1]) as tf.Tensor2D }) };
    expect((await evaluateClassifierMetrics(two, images, labels.map((y) => y % 2))).acc5).toBeUndefined();
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});

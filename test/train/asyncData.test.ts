import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers the gradients in Node
import * as tfd from '@tensorflow/tfjs-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError, TrainingError } from '../../src/errors';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { ViTEncoder } from '../../src/encode/ViTEncoder';
import { pretrain, type PretrainOptions } from '../../src/train/pretrain';
import { epochBatches, imageDataSource, disposeBatch, type AnyBatch, type TrainData } from '../../src/train/data';
import type { TrainingCheckpoint } from '../../src/train/checkpoint';
import { extractFeatures, extractPooledFeatures } from '../../src/eval/features';
import { linearProbe } from '../../src/eval/linearProbe';
import { evaluateClassifier, finetune } from '../../src/eval/finetune';
import { Rng } from '../../src/data/rng';
import { maxAbsDiff } from '../../src/testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tinyMae = () =>
  new MaskedAutoencoder({
    imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2,
    decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 7,
  });

/** 16 grey 8×8 images (uint8) and 2 labels (bright on the left or right half). */
function pixels(n = 16): { images: Uint8Array; labels: Uint8Array } {
  const rng = new Rng(3);
  const images = new Uint8Array(n * 64);
  const labels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    labels[k] = k % 2;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      const bright = (x < 4) === (labels[k] === 0);
      images[k * 64 + y * 8 + x] = Math.round((bright ? 200 : 40) + 30 * rng.uniform());
    }
  }
  return { images, labels };
}

const { images, labels } = pixels();
const sync = () => imageDataSource(images, labels, { batchSize: 4, imageShape: [8, 8, 1], seed: 5, mean: 0.2, std: 0.3 });

/** The same batches as `sync()`, as an async generator per epoch, with a tick between batches. */
const asyncSource = (): TrainData => {
  const s = sync();
  return {
    batchesPerEpoch: s.batchesPerEpoch,
    async *batches(epoch: number, start: number) {
      for (const b of s.batches(epoch, start)) {
        await new Promise((r) => setTimeout(r, 1));
        yield b;
      }
    },
  };
};

/** Epoch `e` as a tf.data.Dataset of `{ xs, ys }`, built from the epoch (so a resume skipping by iteration is exact). */
const datasetPerEpoch = (epoch: number) =>
  tfd.generator(function* () {
    for (const b of sync().batches(epoch, 0)) yield { xs: b.images, ys: b.labels! };
  });

const base: PretrainOptions = { epochs: 2, lr: 5e-3, progress: false };

async function run(data: TrainData, options: Partial<PretrainOptions> = {}) {
  const model = tinyMae();
  try {
    return await pretrain(model, data, { ...base, ...options });
  } finally {
    model.dispose();
  }
}

describe('pretrain on async sources', () => {
  it('an async data source, an async function source and a Dataset give the synchronous curve bit for bit', async () => {
    const before = tf.memory().numTensors;
    const want = (await run(sync())).losses;
    expect(want).toHaveLength(8);
    expect((await run(asyncSource())).losses).toEqual(want);
    // A function returning an async iterable.
    const fnAsync = async function* (epoch: number) {
      yield* sync().batches(epoch, 0);
    };
    expect((await run(fnAsync, { batchesPerEpoch: 4 })).losses).toEqual(want);
    // A function returning a Dataset of { xs, ys } (fitDataset's convention).
    expect((await run(datasetPerEpoch, { batchesPerEpoch: 4 })).losses).toEqual(want);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a Dataset passed directly: batchesPerEpoch from its size, one iteration per epoch', async () => {
    const items = [...sync().batches(0, 0)].map((b) => b.images);
    // A dataset whose elements are cloned at each iteration (the loop disposes what it gets).
    const ds = tfd.array(items.map((_, i) => i)).map((i) => tf.clone(items[i as number]));
    const r = await run(ds as never, { epochs: 2 });
    expect(r.losses).toHaveLength(8);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    tf.dispose(items);
  });

  it('resumes exactly: an async source from (epoch, startBatch), a Dataset per epoch by skipping', async () => {
    const full = (await run(sync(), { epochs: 2 })).losses;
    for (const [data, opts] of [
      [asyncSource(), {}],
      [datasetPerEpoch, { batchesPerEpoch: 4 }],
    ] as const) {
      let ckpt: TrainingCheckpoint | undefined;
      const before = tf.memory().numTensors;
      const first = await run(data, { ...opts, stopAfterEpoch: 1, save: (c) => void (ckpt = c) });
      expect(first.losses).toEqual(full.slice(0, 4));
      expect((await run(data, { ...opts, resume: ckpt })).losses).toEqual(full.slice(4));
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('skips by iteration mid-epoch, disposing what it skips; a short async epoch is a TrainingError; nothing leaks', async () => {
    const before = tf.memory().numTensors;
    const it = await epochBatches(datasetPerEpoch, 1, 3);
    const r = await it.next();
    expect(r.done).toBe(false);
    const want = [...sync().batches(1, 3)][0];
    expect(await maxAbsDiff((r.value as { xs: tf.Tensor }).xs, want.images)).toBe(0);
    disposeBatch(r.value as AnyBatch);
    disposeBatch(want);
    expect((await it.next()).done).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    await expect(epochBatches(datasetPerEpoch, 0, 6)).rejects.toThrow(/epoch 0 ended after 4 batches while skipping to batch 6/);
    const short = async function* (epoch: number) {
      let i = 0;
      for (const b of sync().batches(epoch, 0)) {
        if (i++ === 2) return disposeBatch(b);
        yield b;
      }
    };
    await expect(run(short, { batchesPerEpoch: 4 })).rejects.toThrow(TrainingError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an async source that throws mid-epoch stops the run with its error and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const failing: TrainData = {
      batchesPerEpoch: 4,
      async *batches(epoch, start) {
        let i = start;
        for (const b of sync().batches(epoch, start)) {
          if (i++ === 2) {
            disposeBatch(b);
            throw new Error('disk gone at batch 2');
          }
          yield b;
        }
      },
    };
    await expect(run(failing)).rejects.toThrow('disk gone at batch 2');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects what is not a data source, naming the kinds it takes', async () => {
    await expect(run(42 as never)).rejects.toThrow(MAEConfigError);
    await expect(run([1, 2] as never)).rejects.toThrow(/async iterable or a tf.data.Dataset/);
  });
});

describe('pretrain on async sources, wasm', () => {
  it('a Dataset per epoch gives the synchronous curve and resumes it bit for bit', async () => {
    await tf.setBackend('wasm');
    try {
      const before = tf.memory().numTensors;
      const full = (await run(sync())).losses;
      expect((await run(datasetPerEpoch, { batchesPerEpoch: 4 })).losses).toEqual(full);
      let ckpt: TrainingCheckpoint | undefined;
      await run(asyncSource(), { stopAfterEpoch: 1, save: (c) => void (ckpt = c) });
      expect((await run(asyncSource(), { resume: ckpt })).losses).toEqual(full.slice(4));
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await tf.setBackend('cpu');
    }
  });
});

describe('features, probe and evaluation on async sources', () => {
  let encoder: ViTEncoder;
  beforeAll(() => {
    encoder = new ViTEncoder({ imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2, seed: 3 });
  });
  afterAll(() => encoder.dispose());

  const evalSource = () => imageDataSource(images, labels, { batchSize: 5, imageShape: [8, 8, 1], shuffle: false, dropLast: false, mean: 0.2, std: 0.3 });

  for (const backend of ['cpu', 'wasm']) {
    it(`extractPooledFeatures: a data source, an async iterable and a Dataset match the tensor, with labels and indices (${backend})`, async () => {
      await tf.setBackend(backend);
      try {
        const all = [...evalSource().batches(0, 0)];
        const whole = tf.concat(all.map((b) => b.images));
        all.forEach(disposeBatch);
        const want = await extractPooledFeatures(encoder, whole, { batchSize: 5 }); // the same batches: wasm's matMul rounds by shape
        const before = tf.memory().numTensors; // after the encoder's lazy build
        expect(want.labels).toBeUndefined();
        const fromSource = await extractPooledFeatures(encoder, evalSource());
        const fromAsync = await extractPooledFeatures(encoder, (async function* () {
          yield* evalSource().batches(0, 0);
        })());
        const ds = tfd.generator(function* () {
          for (const b of evalSource().batches(0, 0)) yield { xs: b.images, ys: b.labels! };
        });
        const fromDataset = await extractPooledFeatures(encoder, ds as never, { pools: ['cls'] });
        for (const got of [fromSource, fromAsync]) {
          expect(await maxAbsDiff(got.mean!, want.mean!)).toBe(0);
          expect(await maxAbsDiff(got.cls!, want.cls!)).toBe(0);
          expect(Array.from(await got.labels!.data())).toEqual(Array.from(labels));
          expect(got.labels!.dtype).toBe('int32');
        }
        expect(Array.from(fromSource.indices!)).toEqual([...Array(16).keys()]);
        expect(fromAsync.indices).toHaveLength(16);
        expect(await maxAbsDiff(fromDataset.cls!, want.cls!)).toBe(0);
        expect(fromDataset.mean).toBeUndefined();
        expect(fromDataset.indices).toBeUndefined();
        expect(Array.from(await fromDataset.labels!.data())).toEqual(Array.from(labels));
        const one = await extractFeatures(encoder, evalSource());
        expect(await maxAbsDiff(one, want.mean!)).toBe(0);
        for (const r of [fromSource, fromAsync, fromDataset]) tf.dispose([r.mean!, r.cls!, r.labels!].filter(Boolean));
        one.dispose();
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([want.mean!, want.cls!]);
        whole.dispose();
      } finally {
        await tf.setBackend('cpu');
      }
    });
  }

  it('stops an async source early on a bad batch and disposes it, leaking nothing', async () => {
    const before = tf.memory().numTensors;
    let closed = false;
    const gen = async function* () {
      try {
        yield tf.zeros([2, 8, 8, 1]);
        yield tf.zeros([2, 64]); // rank 2
        yield tf.zeros([2, 8, 8, 1]);
      } finally {
        closed = true;
      }
    };
    await expect(extractFeatures(encoder, gen())).rejects.toThrow(MAEInputError);
    expect(closed).toBe(true);
    await expect(extractFeatures(encoder, { foo: 1 } as never)).rejects.toThrow(/expected a \[N, H, W, C\] tensor, an \(async\) iterable/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('linearProbe on images equals linearProbe on the extracted features', async () => {
    const before = tf.memory().numTensors;
    const opts = { epochs: 3, batchSize: 8, lr: 1e-2, seed: 4 };
    const fromImages = await linearProbe(encoder, evalSource(), (async function* () {
      yield* evalSource().batches(0, 0);
    })(), opts);
    const f = await extractPooledFeatures(encoder, evalSource(), { pools: ['mean'] });
    const fromFeatures = await linearProbe(f.mean!, f.labels!, f.mean!, f.labels!, opts);
    expect(fromImages).toEqual(fromFeatures);
    tf.dispose([f.mean!, f.labels!]);
    const unlabelled = imageDataSource(images, undefined, { batchSize: 4, imageShape: [8, 8, 1] });
    await expect(linearProbe(encoder, unlabelled, evalSource(), opts)).rejects.toThrow(/train: expected batches carrying labels/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('finetune on a Dataset of { xs, ys }, evaluateClassifier with the labels of the batches', async () => {
    const before = tf.memory().numTensors;
    const mae = tinyMae();
    try {
      const a = await finetune(mae, datasetPerEpoch, { numClasses: 2, epochs: 1, batchesPerEpoch: 4, progress: false, lr: 1e-3 });
      const b = await finetune(mae, sync(), { numClasses: 2, epochs: 1, progress: false, lr: 1e-3 });
      expect(a.losses).toEqual(b.losses);
      const accFromBatches = await evaluateClassifier(a.classifier, evalSource());
      const all = [...evalSource().batches(0, 0)];
      const whole = tf.concat(all.map((x) => x.images));
      all.forEach(disposeBatch);
      expect(accFromBatches).toBe(await evaluateClassifier(a.classifier, whole, labels));
      await expect(evaluateClassifier(a.classifier, whole)).rejects.toThrow(/labels: expected labels, or batches carrying/);
      whole.dispose();
      a.classifier.dispose();
      b.classifier.dispose();
    } finally {
      mae.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import {
  batches,
  batchesPerEpoch,
  epochOrder,
  imagesToTensor,
  normalizationTable,
  permutation,
  type Batch,
} from '../../src/data/batches';
import { readIdx } from '../../src/data/idx';

const FMNIST_MEAN = 0.2860405969887955;
const FMNIST_STD = 0.35302424451492237;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** 10 images of 2×2×1; image k holds k·10, k·10+1, k·10+2, k·10+3; label k % 256. */
const N = 10;
const pixels = Uint8Array.from({ length: N * 4 }, (_, i) => Math.floor(i / 4) * 10 + (i % 4));
const labels = Uint8Array.from({ length: N }, (_, k) => k);

async function collect(it: Iterable<Batch>): Promise<{ indices: number[]; images: number[]; labels: number[]; shape: number[] }[]> {
  const out = [];
  for (const b of it) {
    out.push({
      indices: Array.from(b.indices),
      images: Array.from(await b.images.data()),
      labels: b.labels ? Array.from(await b.labels.data()) : [],
      shape: b.images.shape,
    });
    expect(b.images.dtype).toBe('float32');
    if (b.labels) expect(b.labels.dtype).toBe('int32');
    tf.dispose([b.images, b.labels ?? []]);
  }
  return out;
}

function expectThrows(f: () => unknown, type: new (...a: never[]) => Error, pattern: RegExp): void {
  const before = tf.memory().numTensors;
  expect(f).toThrow(type);
  expect(f).toThrow(pattern);
  expect(tf.memory().numTensors).toBe(before);
}

// Golden orders computed once with an independent Python implementation of the
// same mulberry32 / murmur3-fmix32 / Fisher–Yates definitions.
describe('permutation and epoch order', () => {
  it('matches the golden permutation for (n=10, seed=42)', () => {
    expect(Array.from(permutation(10, 42))).toEqual([1, 3, 9, 5, 2, 8, 4, 0, 7, 6]);
  });

  it('orders epochs 0 and 1 of seed 42 as the golden values', () => {
    expect(Array.from(epochOrder(10, { seed: 42, epoch: 0 }))).toEqual([3, 0, 5, 9, 6, 7, 2, 4, 8, 1]);
    expect(Array.from(epochOrder(10, { seed: 42, epoch: 1 }))).toEqual([6, 9, 5, 7, 0, 8, 1, 4, 2, 3]);
    expect(Array.from(epochOrder(5, { shuffle: false, seed: 42, epoch: 3 }))).toEqual([0, 1, 2, 3, 4]);
  });

  it('is a permutation, a pure function of (n, seed), different across seeds and epochs', () => {
    const p = permutation(1000, 7);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(permutation(1000, 7))).toEqual(Array.from(p));
    expect(Array.from(permutation(1000, 8))).not.toEqual(Array.from(p));
    const e = [0, 1, 2].map((epoch) => Array.from(epochOrder(1000, { seed: 7, epoch })));
    expect(e[0]).not.toEqual(e[1]);
    expect(e[1]).not.toEqual(e[2]);
    expect(Array.from(permutation(0, 1))).toEqual([]);
    expect(Array.from(permutation(1, 1))).toEqual([0]);
  });

  it('is roughly uniform: each of 3! orders of 3 items about 1/6 of 6000 seeds', () => {
    const counts = new Map<string, number>();
    for (let seed = 0; seed < 6000; seed++) {
      const k = permutation(3, seed).join('');
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(120); // > 4 sigma
  });

  it('refuses bad n, seed and epoch', () => {
    expectThrows(() => permutation(-1, 0), MAEConfigError, /n: expected an integer in \[0, 2\^31\), got -1/);
    expectThrows(() => permutation(3, -1), MAEConfigError, /seed: expected an integer in \[0, 2\^32\), got -1/);
    expectThrows(() => permutation(3, 0.5), MAEConfigError, /seed: .* got 0.5/);
    expectThrows(() => epochOrder(3, { epoch: 1.5 }), MAEConfigError, /epoch: expected an integer in \[0, 2\^32\), got 1.5/);
  });
});

describe('normalisation', () => {
  // numpy float32: (np.float32(v) / np.float32(255) - np.float32(mean)) / np.float32(std),
  // the same float32 operations as PyTorch on a float32 tensor.
  const golden: [number, number][] = [
    [0, -0.8102576732635498],
    [1, -0.7991491556167603],
    [128, 0.6116299629211426],
    [255, 2.022408962249756],
  ];

  it('normalizationTable matches float32 numpy for the Fashion-MNIST constants', () => {
    const t = normalizationTable({ mean: FMNIST_MEAN, std: FMNIST_STD });
    for (const [v, y] of golden) expect(t[v]).toBe(y);
    const id = normalizationTable();
    expect(id[0]).toBe(0);
    expect(id[255]).toBe(1);
    expect(id[51]).toBe(Math.fround(0.2));
  });

  it('imagesToTensor gives [N, H, W, 1] from [N, H, W] with the table values', async () => {
    const before = tf.memory().numTensors;
    const t = imagesToTensor(Uint8Array.from([0, 1, 128, 255]), [1, 2, 2], { mean: FMNIST_MEAN, std: FMNIST_STD });
    expect(t.shape).toEqual([1, 2, 2, 1]);
    expect(Array.from(await t.data())).toEqual(golden.map(([, y]) => y));
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('imagesToTensor refuses a wrong length, shape, std', () => {
    expectThrows(() => imagesToTensor(new Uint8Array(5), [1, 2, 2, 1]), MAEInputError, /uint8: expected 4 pixels for shape \[1, 2, 2, 1\], got 5/);
    expectThrows(() => imagesToTensor(new Uint8Array(4), [4]), MAEConfigError, /shape: expected \[N, H, W, C\] or \[N, H, W\]/);
    expectThrows(() => imagesToTensor(new Uint8Array(4), [1, 2, 2], { std: 0 }), MAEConfigError, /std: expected a finite number > 0, got 0/);
    expectThrows(() => imagesToTensor(new Uint8Array(4), [1, 2, 2], { mean: NaN }), MAEConfigError, /mean: expected a finite number, got NaN/);
    expectThrows(() => imagesToTensor(new Float32Array(4) as unknown as Uint8Array, [1, 2, 2]), MAEInputError, /expected a Uint8Array/);
  });
});

describe('batches', () => {
  const args = { batchSize: 3, seed: 42, imageShape: [2, 2, 1] as [number, number, number] };

  it('yields the golden order of epoch 0, its pixels and labels', async () => {
    const got = await collect(batches(pixels, labels, args));
    expect(got.map((b) => b.indices)).toEqual([
      [3, 0, 5],
      [9, 6, 7],
      [2, 4, 8],
    ]); // epoch-0 order [3,0,5,9,6,7,2,4,8,1], last partial batch dropped
    for (const b of got) {
      expect(b.shape).toEqual([3, 2, 2, 1]);
      expect(b.labels).toEqual(b.indices);
      expect(b.images).toEqual(b.indices.flatMap((k) => [0, 1, 2, 3].map((p) => Math.fround((k * 10 + p) / 255))));
    }
  });

  it('keeps the last partial batch with dropLast false, and uses epoch order', async () => {
    const got = await collect(batches(pixels, labels, { ...args, dropLast: false, epoch: 1 }));
    expect(got.map((b) => b.indices)).toEqual([[6, 9, 5], [7, 0, 8], [1, 4, 2], [3]]);
    expect(got[3].shape).toEqual([1, 2, 2, 1]);
    expect(batchesPerEpoch(10, 3, false)).toBe(4);
    expect(batchesPerEpoch(10, 3)).toBe(3);
  });

  it('is deterministic across calls; resumes with startBatch; shuffle false is file order', async () => {
    const a = await collect(batches(pixels, labels, { ...args, epoch: 5 }));
    const b = await collect(batches(pixels, labels, { ...args, epoch: 5 }));
    expect(b).toEqual(a);
    const c = await collect(batches(pixels, labels, { ...args, epoch: 6 }));
    expect(c.map((x) => x.indices)).not.toEqual(a.map((x) => x.indices));
    const resumed = await collect(batches(pixels, labels, { ...args, epoch: 5, startBatch: 2 }));
    expect(resumed).toEqual(a.slice(2));
    expect(await collect(batches(pixels, labels, { ...args, epoch: 5, startBatch: 3 }))).toEqual([]);
    const plain = await collect(batches(pixels, undefined, { ...args, shuffle: false }));
    expect(plain.map((x) => x.indices)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
    expect(plain[0].labels).toEqual([]);
  });

  it('normalises with mean and std exactly as the float32 table', async () => {
    const img = Uint8Array.from([0, 1, 128, 255]);
    const [b] = await collect(batches(img, undefined, { batchSize: 1, imageShape: [2, 2, 1], mean: FMNIST_MEAN, std: FMNIST_STD }));
    expect(b.images).toEqual([-0.8102576732635498, -0.7991491556167603, 0.6116299629211426, 2.022408962249756]);
  });

  it('reads a uint8 IdxArray [N, 28, 28] as [B, 28, 28, 1]', async () => {
    const bytes = new Uint8Array(readFileSync(fileURLToPath(new URL('../../examples/data/fashion-mnist-subset/t10k-images-idx3-ubyte.gz', import.meta.url))));
    const idx = await readIdx(bytes);
    const it = batches(idx, undefined, { batchSize: 256, seed: 3 });
    const first = it.next().value as Batch;
    expect(first.images.shape).toEqual([256, 28, 28, 1]);
    const k = first.indices[1];
    const row = Array.from((await first.images.data()).subarray(784, 2 * 784));
    expect(row).toEqual(Array.from(idx.data.subarray(k * 784, (k + 1) * 784), (v) => Math.fround(v / 255)));
    tf.dispose(first.images);
    expect(batchesPerEpoch(1000, 256)).toBe(3);
  });

  it('leaks no tensor: consumed, broken off early, or never started', async () => {
    const before = tf.memory().numTensors;
    await collect(batches(pixels, labels, args));
    expect(tf.memory().numTensors).toBe(before);
    for (const b of batches(pixels, labels, args)) {
      tf.dispose([b.images, b.labels ?? []]);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
    batches(pixels, labels, args); // not iterated: creates nothing
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses bad arguments eagerly with typed one-line errors and no tensors', () => {
    const f = (imgs: unknown, lbls: unknown, a: object) => () => batches(imgs as Uint8Array, lbls as Uint8Array, a as typeof args);
    expectThrows(f(pixels, labels, { ...args, batchSize: 0 }), MAEConfigError, /batchSize: expected a positive integer, got 0/);
    expectThrows(f(pixels, labels, { ...args, batchSize: 11 }), MAEConfigError, /batchSize: expected at most the 10 images when dropLast is true .* got 11/);
    expectThrows(f(pixels, labels, { batchSize: 2 }), MAEConfigError, /imageShape: expected \[H, W, C\] when images is a plain Uint8Array, got undefined/);
    expectThrows(f(pixels, labels, { ...args, imageShape: [3, 3, 1] }), MAEInputError, /images: expected a multiple of H·W·C = 9 pixels .* got 40/);
    expectThrows(f(pixels, labels.subarray(1), args), MAEInputError, /labels: expected 10 labels \(one per image\), got 9/);
    expectThrows(f(pixels, new Float32Array(10), args), MAEInputError, /labels: expected an integer typed array/);
    expectThrows(f(pixels, labels, { ...args, std: -1 }), MAEConfigError, /std: expected a finite number > 0, got -1/);
    expectThrows(f(pixels, labels, { ...args, seed: 2 ** 32 }), MAEConfigError, /seed: expected an integer in \[0, 2\^32\)/);
    expectThrows(f(pixels, labels, { ...args, startBatch: 4 }), MAEConfigError, /startBatch: expected an integer in \[0, 3\], got 4/);
    expectThrows(f({ dtype: 'float32', shape: [1, 2, 2], data: new Float32Array(4) }, undefined, { batchSize: 1 }), MAEInputError, /images: expected a Uint8Array or a uint8 IdxArray, got an IdxArray of dtype float32/);
    expectThrows(f({ dtype: 'uint8', shape: [4], data: new Uint8Array(4) }, undefined, { batchSize: 1 }), MAEInputError, /shape \[N, H, W\] or \[N, H, W, C\], got \[4\]/);
  });
});

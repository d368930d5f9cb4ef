import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import {
  randomHorizontalFlip,
  randomResizedCrop,
  sampleCropBoxes,
  sampleFlips,
} from '../../src/data/augment';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** `[n, h, w, c]` float32 with distinct values `v = 1 + index`. */
function ramp(n: number, h: number, w: number, c = 1): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from({ length: n * h * w * c }, (_, i) => 1 + i), [n, h, w, c]);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs `f`, returns its output's values and shape, and checks that nothing leaked. */
async function run(f: () => tf.Tensor): Promise<{ values: Float32Array; shape: number[] }> {
  const before = tf.memory().numTensors;
  const t = f();
  const out = { values: Float32Array.from(await t.data()), shape: t.shape };
  t.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

function expectThrows(f: () => unknown, type: new (...a: never[]) => Error, pattern: RegExp): void {
  const before = tf.memory().numTensors;
  expect(f).toThrow(type);
  expect(f).toThrow(pattern);
  expect(tf.memory().numTensors).toBe(before);
}

describe('randomHorizontalFlip', () => {
  it('flips a known 2×3 image (p = 1) and leaves it (p = 0)', async () => {
    const img = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]);
    expect(Array.from((await run(() => randomHorizontalFlip(img, { p: 1, seed: 0 }))).values)).toEqual([3, 2, 1, 6, 5, 4]);
    expect(Array.from((await run(() => randomHorizontalFlip(img, { p: 0, seed: 0 }))).values)).toEqual([1, 2, 3, 4, 5, 6]);
    // Two channels: pixels move, channels stay.
    const rgb = tf.tensor4d([1, 10, 2, 20, 3, 30], [1, 1, 3, 2]);
    expect(Array.from((await run(() => randomHorizontalFlip(rgb, { p: 1, seed: 0 }))).values)).toEqual([3, 30, 2, 20, 1, 10]);
    tf.dispose([img, rgb]);
  });

  it('flips exactly the images sampleFlips names; golden flags for seed 1', async () => {
    // Golden flags from an independent Python implementation of the same PRNG definitions.
    expect(Array.from(sampleFlips(12, { seed: 1 }))).toEqual([1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1]);
    const x = ramp(12, 2, 3);
    const flags = sampleFlips(12, { seed: 1 });
    const { values, shape } = await run(() => randomHorizontalFlip(x, { seed: 1 }));
    expect(shape).toEqual([12, 2, 3, 1]);
    const src = await x.data();
    for (let k = 0; k < 12; k++) {
      for (let r = 0; r < 2; r++) {
        for (let c = 0; c < 3; c++) {
          const from = flags[k] ? 2 - c : c;
          expect(values[k * 6 + r * 3 + c]).toBe(src[k * 6 + r * 3 + from]);
        }
      }
    }
    x.dispose();
  });

  it('is deterministic per seed, differs across seeds, flips a fraction p', async () => {
    const x = ramp(32, 1, 2);
    const a = await run(() => randomHorizontalFlip(x, { seed: 5 }));
    const b = await run(() => randomHorizontalFlip(x, { seed: 5 }));
    const c = await run(() => randomHorizontalFlip(x, { seed: 6 }));
    expect(b.values).toEqual(a.values);
    expect(c.values).not.toEqual(a.values);
    x.dispose();
    const f = sampleFlips(20000, { p: 0.3, seed: 9 });
    const rate = f.reduce((s, v) => s + v, 0) / f.length;
    expect(Math.abs(rate - 0.3)).toBeLessThan(0.013); // 4 sigma
  });

  it('refuses bad inputs with typed errors and no tensors', () => {
    const x = ramp(1, 2, 2);
    const flat = tf.zeros([2, 2]);
    expectThrows(() => randomHorizontalFlip(flat as tf.Tensor4D, { seed: 0 }), MAEInputError, /imgs: expected a tensor of shape \[N, H, W, C\], got shape \[2, 2\]/);
    expectThrows(() => randomHorizontalFlip(x, { p: 1.5, seed: 0 }), MAEConfigError, /p: expected a probability in \[0, 1\], got 1.5/);
    expectThrows(() => randomHorizontalFlip(x, { p: NaN, seed: 0 }), MAEConfigError, /got NaN/);
    expectThrows(() => randomHorizontalFlip(x, {} as { seed: number }), MAEConfigError, /seed: expected an integer in \[0, 2\^32\), got undefined/);
    tf.dispose([x, flat]);
  });
});

describe('sampleCropBoxes (torchvision RandomResizedCrop parameters)', () => {
  it('matches golden boxes from an independent Python implementation', () => {
    const toTuple = (b: { top: number; left: number; height: number; width: number }) => [b.top, b.left, b.height, b.width];
    expect(sampleCropBoxes(6, 28, 28, { seed: 1 }).map(toTuple)).toEqual([
      [1, 2, 26, 25],
      [5, 1, 15, 14],
      [2, 1, 20, 21],
      [0, 0, 27, 23],
      [0, 0, 26, 28],
      [1, 1, 18, 15],
    ]);
    expect(sampleCropBoxes(4, 6, 5, { seed: 7 }).map(toTuple)).toEqual([
      [1, 1, 5, 4],
      [0, 0, 3, 4],
      [0, 0, 6, 5],
      [0, 0, 4, 4],
    ]);
  });

  it('keeps boxes inside the image with area and ratio in range', () => {
    const boxes = sampleCropBoxes(2000, 32, 32, { seed: 3 });
    let minArea = 1;
    let maxArea = 0;
    const tops = new Set<number>();
    for (const b of boxes) {
      expect(b.top).toBeGreaterThanOrEqual(0);
      expect(b.left).toBeGreaterThanOrEqual(0);
      expect(b.top + b.height).toBeLessThanOrEqual(32);
      expect(b.left + b.width).toBeLessThanOrEqual(32);
      const area = (b.height * b.width) / 1024;
      minArea = Math.min(minArea, area);
      maxArea = Math.max(maxArea, area);
      // Rounding each side to an integer moves the ratio by at most ~1/side each way.
      expect(b.width / b.height).toBeGreaterThan((3 / 4) * (1 - 1 / 6) - 1e-9);
      expect(b.width / b.height).toBeLessThan((4 / 3) * (1 + 1 / 6) + 1e-9);
      tops.add(b.top);
    }
    expect(minArea).toBeGreaterThan(0.2 * 0.8);
    expect(minArea).toBeLessThan(0.25);
    expect(maxArea).toBeGreaterThan(0.9);
    expect(tops.size).toBeGreaterThan(10);
  });

  it('rounds half to even as Python does', () => {
    // 5×5, area fraction 0.25, ratio 1: sqrt(6.25) = 2.5 → 2 (Math.round would give 3).
    const [b] = sampleCropBoxes(1, 5, 5, { scale: [0.25, 0.25], ratio: [1, 1], seed: 0 });
    expect([b.height, b.width]).toEqual([2, 2]);
  });

  it('falls back to the centre crop with the ratio clamped', () => {
    // A ratio of 2 at full area never fits a square: w = round(sqrt(32)) = 6 > 4.
    expect(sampleCropBoxes(1, 4, 4, { scale: [1, 1], ratio: [2, 2], seed: 0 })).toEqual([{ top: 1, left: 0, height: 2, width: 4 }]);
    expect(sampleCropBoxes(1, 4, 4, { scale: [1, 1], ratio: [0.25, 0.25], seed: 0 })).toEqual([{ top: 0, left: 1, height: 4, width: 1 }]);
    // Larger than the image: the whole image (its ratio is within [3/4, 4/3]).
    expect(sampleCropBoxes(1, 4, 4, { scale: [2, 3], seed: 0 })).toEqual([{ top: 0, left: 0, height: 4, width: 4 }]);
  });

  it('refuses bad ranges and sizes', () => {
    expectThrows(() => sampleCropBoxes(1, 4, 4, { scale: [0.5, 0.2], seed: 0 }), MAEConfigError, /scale: expected \[lo, hi\] with 0 < lo <= hi, finite, got \[0.5,0.2\]/);
    expectThrows(() => sampleCropBoxes(1, 4, 4, { ratio: [0, 1], seed: 0 }), MAEConfigError, /ratio: expected \[lo, hi\]/);
    expectThrows(() => sampleCropBoxes(1, 0, 4, { seed: 0 }), MAEConfigError, /height: expected a positive integer, got 0/);
  });
});

describe('randomResizedCrop', () => {
  it('is the identity for scale [1, 1], ratio [1, 1] at the image size', async () => {
    const x = ramp(2, 5, 5, 3);
    const { values, shape } = await run(() => randomResizedCrop(x, { size: 5, scale: [1, 1], ratio: [1, 1], seed: 11 }));
    expect(shape).toEqual([2, 5, 5, 3]);
    expect(maxAbsDiff(values, await x.data())).toBeLessThan(1e-4); // values up to 150: float32 box rounding
    x.dispose();
  });

  it('equals a corner-aligned bilinear resize of the whole image for scale [1, 1], ratio [1, 1]', async () => {
    const x = ramp(1, 4, 4, 2);
    for (const size of [7, 3, 1] as const) {
      const want = tf.image.resizeBilinear(x, [size, size], true);
      const { values } = await run(() => randomResizedCrop(x, { size, scale: [1, 1], ratio: [1, 1], seed: 0 }));
      const ref = await want.data();
      if (size === 1) {
        // One sample at the centre of the crop: the mean of the 4 central pixels.
        expect(maxAbsDiff(values, [(11 + 13 + 19 + 21) / 4, (12 + 14 + 20 + 22) / 4])).toBeLessThan(1e-5);
      } else {
        expect(maxAbsDiff(values, ref)).toBeLessThan(1e-5);
      }
      want.dispose();
    }
    x.dispose();
  });

  it('cuts exactly the sampled box when the output has the box size', async () => {
    const x = ramp(1, 6, 5);
    let touchesEdge = 0;
    for (let seed = 0; seed < 12; seed++) {
      const [b] = sampleCropBoxes(1, 6, 5, { seed });
      if (b.top + b.height === 6 || b.left + b.width === 5) touchesEdge++;
      const want = tf.slice(x, [0, b.top, b.left, 0], [1, b.height, b.width, 1]);
      const { values, shape } = await run(() => randomResizedCrop(x, { size: [b.height, b.width], seed }));
      expect(shape).toEqual([1, b.height, b.width, 1]);
      expect(maxAbsDiff(values, await want.data())).toBeLessThan(1e-4);
      want.dispose();
    }
    expect(touchesEdge).toBeGreaterThan(0);
    x.dispose();
  });

  it('never reads outside the image when upscaling (a constant image stays constant)', async () => {
    const ones = tf.ones([64, 7, 9, 1]) as tf.Tensor4D;
    const { values, shape } = await run(() => randomResizedCrop(ones, { size: [29, 23], seed: 4 }));
    expect(shape).toEqual([64, 29, 23, 1]);
    expect(maxAbsDiff(values, new Float32Array(values.length).fill(1))).toBeLessThan(1e-6);
    ones.dispose();
  });

  it('is deterministic per seed and differs across seeds; N = 0 works', async () => {
    const x = ramp(4, 8, 8);
    const a = await run(() => randomResizedCrop(x, { size: 6, seed: 1 }));
    const b = await run(() => randomResizedCrop(x, { size: 6, seed: 1 }));
    const c = await run(() => randomResizedCrop(x, { size: 6, seed: 2 }));
    expect(b.values).toEqual(a.values);
    expect(maxAbsDiff(c.values, a.values)).toBeGreaterThan(0.5);
    x.dispose();
    const empty = tf.zeros([0, 8, 8, 3]) as tf.Tensor4D;
    expect((await run(() => randomResizedCrop(empty, { size: 4, seed: 0 }))).shape).toEqual([0, 4, 4, 3]);
    empty.dispose();
  });

  it('refuses bad inputs with typed errors and no tensors', () => {
    const x = ramp(1, 4, 4);
    const xi = tf.zeros([1, 4, 4, 1], 'int32') as tf.Tensor4D;
    const x3 = tf.zeros([4, 4, 1]);
    expectThrows(() => randomResizedCrop(x3 as unknown as tf.Tensor4D, { size: 2, seed: 0 }), MAEInputError, /imgs: expected a tensor of shape \[N, H, W, C\], got shape \[4, 4, 1\]/);
    expectThrows(() => randomResizedCrop(xi, { size: 2, seed: 0 }), MAEInputError, /imgs: expected a float32 tensor, got int32/);
    expectThrows(() => randomResizedCrop(x, { size: 0, seed: 0 }), MAEConfigError, /size: expected a positive integer or \[outH, outW\], got 0/);
    expectThrows(() => randomResizedCrop(x, { size: [2, 2.5] as [number, number], seed: 0 }), MAEConfigError, /size: .* got \[2,2.5\]/);
    expectThrows(() => randomResizedCrop(x, { size: 2, seed: -3 }), MAEConfigError, /seed: expected an integer in \[0, 2\^32\), got -3/);
    expectThrows(() => randomResizedCrop(x, { size: 2, scale: [0, 1], seed: 0 }), MAEConfigError, /scale: expected \[lo, hi\]/);
    tf.dispose([x, xi, x3]);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeBackends } from '../../src/testing';
import { MAEConfigError } from '../../src/errors';
import { RAND_AUGMENT_OPS, randAugment, randAugmentOp, sampleRandAugment, type RandAugmentOp } from '../../src/data/randAugment';
import { Rng } from '../../src/data/rng';

describe('sampleRandAugment', () => {
  it('maps a fixed magnitude 9 to timm\'s arguments', () => {
    const seen = new Map<string, Set<number>>();
    for (const ops of sampleRandAugment(3000, { seed: 1, magnitudeStd: 0 })) {
      for (const op of ops) {
        if (!seen.has(op.name)) seen.set(op.name, new Set());
        seen.get(op.name)!.add(Math.round(op.arg * 1e9) / 1e9);
      }
    }
    const args = (name: string) => [...seen.get(name)!].sort((a, b) => a - b);
    expect(seen.size).toBe(15);
    expect(args('Rotate')).toEqual([-27, 27]);
    expect(args('PosterizeIncreasing')).toEqual([1]); // 4 − ⌊3.6⌋
    expect(args('SolarizeIncreasing')).toEqual([26]); // 256 − ⌊230.4⌋
    expect(args('SolarizeAdd')).toEqual([99]); // ⌊99⌋
    for (const e of ['ColorIncreasing', 'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing']) expect(args(e)).toEqual([0.19, 1.81]);
    expect(args('ShearX')).toEqual([-0.27, 0.27]);
    expect(args('TranslateYRel')).toEqual([-0.405, 0.405]);
    expect(args('Invert')).toEqual([0]);
  });

  it('draws 2 ops per image uniformly, keeps each with probability 0.5, magnitudes N(9, 0.5²) clipped to 10', () => {
    const plans = sampleRandAugment(6000, { seed: 2 });
    expect(plans).toEqual(sampleRandAugment(6000, { seed: 2 }));
    const counts = new Map<string, number>();
    let applied = 0;
    const rot: number[] = [];
    for (const ops of plans) {
      applied += ops.length;
      for (const op of ops) {
        counts.set(op.name, (counts.get(op.name) ?? 0) + 1);
        if (op.name === 'Rotate') rot.push((Math.abs(op.arg) / 30) * 10); // back to the magnitude
      }
    }
    expect(Math.abs(applied / 6000 - 1)).toBeLessThan(0.03); // 2 ops × 0.5
    for (const name of RAND_AUGMENT_OPS) expect(Math.abs((counts.get(name) ?? 0) / applied - 1 / 15)).toBeLessThan(0.012);
    expect(Math.max(...rot)).toBeLessThanOrEqual(10);
    const mean = rot.reduce((a, b) => a + b, 0) / rot.length;
    expect(Math.abs(mean - 8.99)).toBeLessThan(0.06); // E[min(N(9, .25), 10)] ≈ 8.9957
    expect(sampleRandAugment(10, { seed: 3, prob: 0 }).every((o) => o.length === 0)).toBe(true);
    expect(sampleRandAugment(10, { seed: 3, ops: ['Invert'], prob: 1, numOps: 3 }).every((o) => o.length === 3 && o.every((p) => p.name === 'Invert'))).toBe(true);
  });

  it('rejects bad options', () => {
    expect(() => sampleRandAugment(1, { seed: 1, magnitude: 11 })).toThrow(/magnitude: expected a number in \[0, 10\]/);
    expect(() => sampleRandAugment(1, { seed: 1, ops: ['Blur' as never] })).toThrow(MAEConfigError);
    expect(() => sampleRandAugment(1, { seed: 1, numOps: 1.5 })).toThrow(/numOps/);
  });
});

/** PIL's `ImageOps.equalize` on one channel of uint8 values, written from its definition. */
function pilEqualize(values: number[]): number[] {
  const h = new Array(256).fill(0);
  for (const v of values) h[v]++;
  const nonzero = h.filter((x) => x > 0);
  const step = nonzero.length <= 1 ? 0 : Math.floor((nonzero.reduce((a, b) => a + b, 0) - nonzero[nonzero.length - 1]) / 255);
  if (step === 0) return values.slice();
  const lut: number[] = [];
  let n = Math.floor(step / 2);
  for (let i = 0; i < 256; i++) {
    lut.push(Math.min(255, Math.floor(n / step)));
    n += h[i];
  }
  return values.map((v) => lut[v]);
}

async function apply(values: number[], shape: [number, number, number, number], op: RandAugmentOp, fill: number[] = [0, 0, 0]): Promise<number[]> {
  const x = tf.tensor4d(values, shape);
  const before = tf.memory().numTensors;
  const y = randAugmentOp(x, op, fill.slice(0, shape[3]));
  const out = Array.from(await y.data());
  y.dispose();
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
  return out;
}

const close = (got: number[], want: number[], digits = 4) => want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, digits));

describeBackends(['cpu', 'wasm'], () => {
  it('pixel ops: invert, posterize, solarize, solarize-add, brightness, autocontrast (hand values)', async () => {
    const shape: [number, number, number, number] = [1, 1, 4, 1];
    close(await apply([0, 63, 64, 200.4], shape, { name: 'Invert', arg: 0 }), [255, 192, 191, 54.6]);
    close(await apply([0, 63, 64, 200.4], shape, { name: 'PosterizeIncreasing', arg: 2 }), [0, 0, 64, 192]);
    close(await apply([0, 63, 64, 200.4], shape, { name: 'PosterizeIncreasing', arg: 0 }), [0, 0, 0, 0]);
    close(await apply([10, 127, 128, 200], shape, { name: 'SolarizeIncreasing', arg: 128 }), [10, 127, 127, 55]);
    close(await apply([10, 127, 128, 200], shape, { name: 'SolarizeAdd', arg: 99 }), [109, 226, 128, 200]);
    close(await apply([10, 127, 128, 200], shape, { name: 'SolarizeAdd', arg: 200 }), [210, 255, 128, 200]);
    close(await apply([10, 100, 128, 200], shape, { name: 'BrightnessIncreasing', arg: 1.5 }), [15, 150, 192, 255]);
    // Per channel: channel 0 is 50..150, channel 1 is flat.
    close(await apply([50, 7, 100, 7, 150, 7, 75, 7], [1, 2, 2, 2], { name: 'AutoContrast', arg: 0 }), [0, 7, 127.5, 7, 255, 7, 63.75, 7]);
  });

  it('enhance ops: color, contrast and sharpness blend with PIL\'s degenerate images (hand values)', async () => {
    // One RGB pixel (100, 150, 200): luma 140.75.
    close(await apply([100, 150, 200], [1, 1, 1, 3], { name: 'ColorIncreasing', arg: 0.5 }), [120.375, 145.375, 170.375]);
    // Contrast: lumas 0 and 200 → mean ⌊100 + .5⌋ = 100; factor 0.5 halves the distance to it.
    close(await apply([0, 0, 0, 200, 200, 200], [1, 1, 2, 3], { name: 'ContrastIncreasing', arg: 0.5 }), [50, 50, 50, 150, 150, 150]);
    // Sharpness 0 is the SMOOTH image: centre (8·10 + 5·36)/13 = 20; the border keeps its pixels.
    const img = [10, 10, 10, 10, 36, 10, 10, 10, 10];
    close(await apply(img, [1, 3, 3, 1], { name: 'SharpnessIncreasing', arg: 0 }), [10, 10, 10, 10, 20, 10, 10, 10, 10]);
    close(await apply(img, [1, 3, 3, 1], { name: 'SharpnessIncreasing', arg: 1.5 }), [10, 10, 10, 10, 44, 10, 10, 10, 10]);
  });

  it('equalize matches PIL\'s equalize written on the host, per channel (20×20×3 random uint8)', async () => {
    const rng = new Rng(4);
    const values = Array.from({ length: 20 * 20 * 3 }, (_, i) => (i % 3 === 2 ? 77 : Math.min(255, Math.floor(rng.uniform() * 120) + 60 * (i % 3))));
    const got = await apply(values, [1, 20, 20, 3], { name: 'Equalize', arg: 0 });
    for (let ch = 0; ch < 3; ch++) {
      const chan = values.filter((_, i) => i % 3 === ch);
      const want = pilEqualize(chan);
      expect(got.filter((_, i) => i % 3 === ch)).toEqual(want);
    }
    expect(got.filter((_, i) => i % 3 === 2).every((v) => v === 77)).toBe(true); // a flat channel is left alone
  });

  it('geometric ops: rotate 90° is np.rot90, translate shifts by whole pixels with the fill, shear samples at x + f·(y + ½)', async () => {
    const img = Array.from({ length: 16 }, (_, i) => i * 10); // 4×4, A[r][c] = 10(4r + c)
    const rot = await apply(img, [1, 4, 4, 1], { name: 'Rotate', arg: 90 });
    const rot90 = Array.from({ length: 16 }, (_, i) => img[(i % 4) * 4 + (3 - Math.floor(i / 4))]); // rot90(A)[i][j] = A[j][n−1−i]
    close(rot, rot90, 3);
    // TranslateXRel 0.25 of 4 columns = 1 pixel: out[x] = in[x + 1]; the last column is the fill.
    const tx = await apply(img, [1, 4, 4, 1], { name: 'TranslateXRel', arg: 0.25 }, [200]);
    close(tx, Array.from({ length: 16 }, (_, i) => (i % 4 === 3 ? 200 : img[i + 1])), 3);
    const ty = await apply(img, [1, 4, 4, 1], { name: 'TranslateYRel', arg: -0.25 }, [5]);
    close(ty, Array.from({ length: 16 }, (_, i) => (i < 4 ? 5 : img[i - 4])), 3);
    // ShearX 1 on a 2×3 image: row 0 samples x + 0.5, row 1 samples x + 1.5 (bilinear, fill 0 outside).
    const sh = await apply([0, 10, 20, 30, 40, 50], [1, 2, 3, 1], { name: 'ShearX', arg: 1 });
    close(sh, [5, 15, 10, 45, 25, 0], 3);
  });

  it('randAugment: leaves images without ops unchanged, renormalises with mean/std, is seeded and leaks nothing', async () => {
    const x = tf.randomUniform([6, 8, 8, 3], -1.5, 1.5, 'float32', 3);
    const before = tf.memory().numTensors;
    const args = { seed: 11, mean: [0.5, 0.4, 0.3], std: [0.25, 0.2, 0.3] };
    const plans = sampleRandAugment(6, args);
    const y = randAugment(x, args);
    const y2 = randAugment(x, args);
    const [xv, yv, y2v] = [await x.data(), await y.data(), await y2.data()];
    expect(Array.from(y2v)).toEqual(Array.from(yv));
    const per = 8 * 8 * 3;
    plans.forEach((ops, k) => {
      if (ops.length === 0) expect(Array.from(yv.subarray(k * per, (k + 1) * per))).toEqual(Array.from(xv.subarray(k * per, (k + 1) * per)));
    });
    // Invert in pixel space (1 − p) with mean 0.5 is x → −x.
    const inv = randAugment(x, { seed: 1, ops: ['Invert'], prob: 1, numOps: 1, mean: 0.5, std: 0.25 });
    const clipped = tf.tidy(() => tf.neg(tf.clipByValue(x, -2, 2)));
    close(Array.from(await inv.data()), Array.from(await clipped.data()), 4);
    tf.dispose([y, y2, inv, clipped]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => randAugment(x, { seed: 1, mean: [0, 0] })).toThrow(/mean: expected a number or 3 numbers/);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
}, { describe, beforeAll }, 'randAugment');

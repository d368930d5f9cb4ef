import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeBackends } from '../../src/testing';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { mixupCutmix, mixupTargets, sampleMixup } from '../../src/data/mixup';
import { betaDraw, gammaDraw, normalDraw } from '../../src/data/distributions';
import { Rng } from '../../src/data/rng';
import { crossEntropy, softTargetCrossEntropy } from '../../src/eval/metrics';

function moments(draw: () => number, n: number): [number, number] {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const v = draw();
    s += v;
    s2 += v * v;
  }
  const mean = s / n;
  return [mean, s2 / n - mean * mean];
}

/** `[n, h, w, c]` float32 with distinct values `1 + index`. */
const ramp = (n: number, h: number, w: number, c = 1) => Float32Array.from({ length: n * h * w * c }, (_, i) => 1 + i);

describe('distributions', () => {
  it('normal, gamma and beta draws have the right mean and variance (200k draws)', () => {
    const rng = new Rng(7);
    const n = 200_000;
    const [m0, v0] = moments(() => normalDraw(rng), n);
    expect(Math.abs(m0)).toBeLessThan(0.01);
    expect(Math.abs(v0 - 1)).toBeLessThan(0.02);
    for (const k of [0.5, 0.8, 3]) {
      const [m, v] = moments(() => gammaDraw(rng, k), n); // Gamma(k, 1): mean k, variance k
      expect(Math.abs(m - k) / k).toBeLessThan(0.02);
      expect(Math.abs(v - k) / k).toBeLessThan(0.04);
    }
    for (const [a, b] of [[0.8, 0.8], [1, 1], [2, 5]]) {
      const [m, v] = moments(() => betaDraw(rng, a, b), n);
      expect(Math.abs(m - a / (a + b))).toBeLessThan(0.005);
      expect(Math.abs(v - (a * b) / ((a + b) ** 2 * (a + b + 1)))).toBeLessThan(0.003);
    }
  });
});

describe('sampleMixup', () => {
  it('is a pure function of the seed; prob 0 never mixes', () => {
    expect(sampleMixup(8, 8, { seed: 5 })).toEqual(sampleMixup(8, 8, { seed: 5 }));
    expect(sampleMixup(8, 8, { seed: 5, prob: 0 })).toEqual({ lam: 1, cutmix: false });
  });

  it('switches to cutmix half the time; λ follows Beta(α, α); mixup only / cutmix only', () => {
    let cut = 0;
    const lams: number[] = [];
    for (let s = 0; s < 4000; s++) {
      const p = sampleMixup(16, 16, { seed: s });
      if (p.cutmix) cut++;
      else lams.push(p.lam);
    }
    expect(Math.abs(cut / 4000 - 0.5)).toBeLessThan(0.03);
    const mean = lams.reduce((a, b) => a + b, 0) / lams.length;
    const variance = lams.reduce((a, b) => a + (b - mean) ** 2, 0) / lams.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(variance - 0.64 / (2.56 * 2.6))).toBeLessThan(0.01); // Beta(0.8, 0.8)
    for (let s = 0; s < 50; s++) {
      expect(sampleMixup(16, 16, { seed: s, cutmixAlpha: 0 }).cutmix).toBe(false);
      expect(sampleMixup(16, 16, { seed: s, mixupAlpha: 0 }).cutmix).toBe(true);
    }
  });

  it('cutmix boxes: sides 2·⌊⌊H√(1−λ)⌋/2⌋ around the centre, clipped; corrected λ = 1 − area/HW', () => {
    let clipped = 0;
    for (let s = 0; s < 500; s++) {
      const raw = sampleMixup(20, 12, { seed: s, mixupAlpha: 0, correctLam: false });
      const cor = sampleMixup(20, 12, { seed: s, mixupAlpha: 0 });
      if (raw.lam === 1) continue;
      const b = raw.box!;
      expect(cor.box).toEqual(b);
      expect(cor.lam).toBeCloseTo(1 - (b.height * b.width) / 240, 12);
      const fullH = 2 * Math.floor(Math.floor(20 * Math.sqrt(1 - raw.lam)) / 2);
      const fullW = 2 * Math.floor(Math.floor(12 * Math.sqrt(1 - raw.lam)) / 2);
      expect(b.height).toBeLessThanOrEqual(fullH);
      expect(b.width).toBeLessThanOrEqual(fullW);
      if (b.height < fullH || b.width < fullW) {
        clipped++;
        expect(b.top === 0 || b.top + b.height === 20 || b.left === 0 || b.left + b.width === 12).toBe(true);
      }
      expect(b.top).toBeGreaterThanOrEqual(0);
      expect(b.top + b.height).toBeLessThanOrEqual(20);
    }
    expect(clipped).toBeGreaterThan(10);
  });

  it('rejects bad options', () => {
    expect(() => sampleMixup(8, 8, { seed: 1, mixupAlpha: 0, cutmixAlpha: 0 })).toThrow(/mixupAlpha > 0 or cutmixAlpha > 0/);
    expect(() => sampleMixup(8, 8, { seed: 1, switchProb: 2 })).toThrow(MAEConfigError);
    expect(() => sampleMixup(8, 8, { seed: -1 })).toThrow(/seed/);
  });
});

describeBackends(['cpu', 'wasm'], () => {
  it('mixupTargets: smoothing 0.1 over 4 classes and a λ blend with the reversed labels (hand values)', async () => {
    const y = tf.tensor1d([0, 2, 3], 'int32');
    const before = tf.memory().numTensors;
    const t = mixupTargets(y, 4, 0.7, 0.1);
    // on = 0.925, off = 0.025; row 0 pairs with label 3, row 1 with itself, row 2 with 0.
    const e = [
      [0.7 * 0.925 + 0.3 * 0.025, 0.025, 0.025, 0.7 * 0.025 + 0.3 * 0.925],
      [0.025, 0.025, 0.925, 0.025],
      [0.7 * 0.025 + 0.3 * 0.925, 0.025, 0.025, 0.7 * 0.925 + 0.3 * 0.025],
    ].flat();
    const got = await t.data();
    e.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 6));
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    y.dispose();
  });

  it('mixup blends each image with its partner N−1−i by λ, cutmix pastes the box; leaks nothing', async () => {
    const [n, h, w, c] = [4, 6, 5, 2];
    const values = ramp(n, h, w, c);
    const x = tf.tensor4d(values, [n, h, w, c]);
    const y = tf.tensor1d([1, 0, 2, 1], 'int32');
    const before = tf.memory().numTensors;
    const per = h * w * c;
    // Mixup: find a seed that mixes, then check every value.
    const m = mixupCutmix(x, y, { numClasses: 3, seed: 3, cutmixAlpha: 0 });
    expect(m.cutmix).toBe(false);
    expect(m.lam).toBeGreaterThan(0);
    expect(m.lam).toBeLessThan(1);
    const mv = await m.images.data();
    for (let i = 0; i < values.length; i++) {
      const k = Math.floor(i / per);
      const partner = (n - 1 - k) * per + (i % per);
      expect(mv[i]).toBeCloseTo(m.lam * values[i] + (1 - m.lam) * values[partner], 3);
    }
    const ref = mixupTargets(y, 3, m.lam, 0.1);
    expect(Array.from(await m.targets.data())).toEqual(Array.from(await ref.data()));
    tf.dispose([m.images, m.targets, ref]);
    // CutMix: inside the box the partner's pixels, outside one's own; λ from the box.
    let seed = 0;
    let cm = mixupCutmix(x, y, { numClasses: 3, seed, mixupAlpha: 0 });
    while (cm.box === undefined || cm.box.height * cm.box.width === 0) {
      tf.dispose([cm.images, cm.targets]);
      cm = mixupCutmix(x, y, { numClasses: 3, seed: ++seed, mixupAlpha: 0 });
    }
    const b = cm.box!;
    expect(cm.lam).toBeCloseTo(1 - (b.height * b.width) / (h * w), 12);
    const cv = await cm.images.data();
    for (let i = 0; i < values.length; i++) {
      const k = Math.floor(i / per);
      const r = Math.floor((i % per) / (w * c));
      const col = Math.floor((i % (w * c)) / c);
      const inside = r >= b.top && r < b.top + b.height && col >= b.left && col < b.left + b.width;
      expect(cv[i]).toBe(inside ? values[(n - 1 - k) * per + (i % per)] : values[i]);
    }
    tf.dispose([cm.images, cm.targets]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });

  it('rejects bad images and labels, leaking nothing', () => {
    const x = tf.zeros([2, 4, 4, 1]);
    const rank3 = tf.zeros([4, 4, 1]);
    const y = tf.tensor1d([0, 1], 'int32');
    const y1 = tf.tensor1d([0], 'int32');
    const before = tf.memory().numTensors;
    expect(() => mixupCutmix(rank3, y, { numClasses: 2, seed: 0 })).toThrow(MAEInputError);
    expect(() => mixupCutmix(x, y1, { numClasses: 2, seed: 0 })).toThrow(/labels: expected \[2\]/);
    expect(() => mixupCutmix(x, y, { numClasses: 0, seed: 0 })).toThrow(MAEConfigError);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, rank3, y, y1]);
  });

  it('softTargetCrossEntropy: hand values; one-hot targets give crossEntropy; smoothed ones give timm LabelSmoothingCrossEntropy', async () => {
    const logits = tf.tensor2d([[1, 2, 3], [0.5, -1, 0]]);
    const targets = tf.tensor2d([[0.2, 0.3, 0.5], [1, 0, 0]]);
    const before = tf.memory().numTensors;
    const lse = (r: number[]) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0));
    const l0 = lse([1, 2, 3]);
    const l1 = lse([0.5, -1, 0]);
    const expected = (0.2 * (l0 - 1) + 0.3 * (l0 - 2) + 0.5 * (l0 - 3) + (l1 - 0.5)) / 2;
    const loss = softTargetCrossEntropy(logits, targets);
    expect((await loss.data())[0]).toBeCloseTo(expected, 5);
    const labels = tf.tensor1d([2, 0], 'int32');
    const oneHot = mixupTargets(labels, 3);
    const [a, b] = [softTargetCrossEntropy(logits, oneHot), crossEntropy(logits, labels)];
    expect((await a.data())[0]).toBeCloseTo((await b.data())[0], 6);
    // LabelSmoothingCrossEntropy(ε): (1 − ε)·nll + ε·mean_k(−log p_k).
    const eps = 0.1;
    const smoothed = mixupTargets(labels, 3, 1, eps);
    const smooth = softTargetCrossEntropy(logits, smoothed);
    const nll = ((l0 - 3) + (l1 - 0.5)) / 2;
    const uniform = ((3 * l0 - 6) / 3 + (3 * l1 - -0.5) / 3) / 2;
    expect((await smooth.data())[0]).toBeCloseTo((1 - eps) * nll + eps * uniform, 5);
    tf.dispose([loss, oneHot, a, b, smooth, smoothed, labels]);
    expect(tf.memory().numTensors).toBe(before);
    const wrong = tf.zeros([2, 2]);
    expect(() => softTargetCrossEntropy(logits, wrong)).toThrow(/shaped like the logits/);
    tf.dispose([logits, targets, wrong]);
  });
}, { describe, beforeAll }, 'mixupCutmix');

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { denormalizeNormPix } from '../../src/viz/normPix';
import { patchTargets } from '../../src/loss/loss';
import { patchify } from '../../src/patch/patchify';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';

/**
 * One 4×4 grey image, patch 2 → 4 patches of 4 values (patch order: top-left,
 * top-right, bottom-left, bottom-right). Patch k holds `base[k] + step[k]·(0, 1, 2, 3)`.
 */
const BASE = [1, -2, 0.5, 3];
const STEP = [0.5, 1, 0, 2];
function image(): tf.Tensor4D {
  const v = new Float32Array(16);
  for (let k = 0; k < 4; k++) {
    const [py, px] = [Math.floor(k / 2), k % 2];
    for (let i = 0; i < 4; i++) v[(2 * py + Math.floor(i / 2)) * 4 + 2 * px + (i % 2)] = BASE[k] + STEP[k] * i;
  }
  return tf.tensor4d(v, [1, 4, 4, 1]);
}
/** Mean and unbiased variance of patch k: base + step·1.5 and step²·(5/3). */
const patchMean = (k: number) => BASE[k] + 1.5 * STEP[k];
const patchVar = (k: number) => (STEP[k] ** 2 * 5) / 3;

describeBackends(['cpu', 'wasm'], (backend) => {
  it(`'visible' uses the mean patch mean and mean patch variance of the visible patches [${backend}]`, async () => {
    const imgs = image();
    const mask = tf.tensor2d([[1, 0, 0, 1]]); // patches 1 and 2 visible
    const pred = tf.tensor3d([[[0, 1, -1, 2], [0, 0, 0, 0], [1, 1, 1, 1], [-2, 0, 2, 0]]]);
    const mu = (patchMean(1) + patchMean(2)) / 2; // (1 + 0.5) / 2 = 0.75
    const s = Math.sqrt((patchVar(1) + patchVar(2)) / 2 + 1e-6); // √(5/6 + 1e-6)
    const out = await expectNoLeaks(async () => {
      const o = denormalizeNormPix(imgs, pred, mask, { patchSize: 2 });
      const v = Array.from(await o.data());
      o.dispose();
      return v;
    });
    const expected = Array.from(await pred.data()).map((t) => t * s + mu);
    await expectTensorsClose(out, expected, { atol: 1e-5, name: 'visible' });
    tf.dispose([imgs, mask, pred]);
  });

  it(`'visible' does not look at the removed patches; 'target' does [${backend}]`, async () => {
    const imgs = image();
    // The same image with the removed patches (0 and 3) replaced by something else.
    const changed = tf.tidy(() => {
      const keep = tf.tensor4d([0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0], [1, 4, 4, 1]);
      return tf.add(tf.mul(imgs, keep), tf.mul(tf.sub(1, keep), 7));
    });
    const mask = tf.tensor2d([[1, 0, 0, 1]]);
    const pred = tf.randomNormal([1, 4, 4], 0, 1, 'float32', 3);
    const a = denormalizeNormPix(imgs, pred, mask, { patchSize: 2 });
    const b = denormalizeNormPix(changed, pred, mask, { patchSize: 2 });
    await expectTensorsClose(a, b, { atol: 0, name: 'visible stats' });
    const ta = denormalizeNormPix(imgs, pred, mask, { patchSize: 2, stats: 'target' });
    const tb = denormalizeNormPix(changed, pred, mask, { patchSize: 2, stats: 'target' });
    const diff = (await tf.max(tf.abs(tf.sub(ta, tb))).data())[0];
    expect(diff).toBeGreaterThan(1);
    tf.dispose([imgs, changed, mask, pred, a, b, ta, tb]);
  });

  it(`'target' inverts the norm-pix targets exactly (and leaks: zeros give each patch's mean) [${backend}]`, async () => {
    const imgs = tf.randomNormal([2, 8, 8, 3], 0.3, 1.2, 'float32', 7);
    const mask = tf.tensor2d([[1, 0, 1, 0], [0, 1, 1, 1]]);
    const targets = patchTargets(imgs, 4, { normPixLoss: true });
    const back = denormalizeNormPix(imgs, targets, mask, { patchSize: 4, stats: 'target' });
    const truth = patchify(imgs, 4);
    await expectTensorsClose(back, truth, { atol: 2e-5, name: 'inverse' });
    const zeros = tf.zeros([2, 4, 48]);
    const fromNothing = denormalizeNormPix(imgs, zeros, mask, { patchSize: 4, stats: 'target' });
    const means = tf.tidy(() => tf.tile(tf.mean(truth, -1, true), [1, 1, 48]));
    await expectTensorsClose(fromNothing, means, { atol: 1e-5, name: 'patch means' });
    tf.dispose([imgs, mask, targets, back, truth, zeros, fromNothing, means]);
  });

  it(`an image without visible patches gets mean 0 and variance 1, not NaN [${backend}]`, async () => {
    const imgs = image();
    const mask = tf.ones([1, 4]);
    const pred = tf.fill([1, 4, 4], 2);
    const out = denormalizeNormPix(imgs, pred, mask, { patchSize: 2 });
    await expectTensorsClose(out, new Array(16).fill(2 * Math.sqrt(1 + 1e-6)), { atol: 1e-6, name: 'no visible patch' });
    tf.dispose([imgs, mask, pred, out]);
  });
}, { describe, beforeAll });

describe('denormalizeNormPix arguments', () => {
  it('refuses bad shapes and options with typed one-line errors, leaking nothing', async () => {
    await tf.setBackend('cpu');
    const imgs = tf.zeros([2, 4, 4, 1]);
    const pred = tf.zeros([2, 4, 4]);
    const mask = tf.zeros([2, 4]);
    const bad = tf.zeros([2, 4, 5]);
    const badMask = tf.zeros([2, 5]);
    await expectNoLeaks(() => {
      expect(() => denormalizeNormPix(imgs, pred, mask, { patchSize: 3 })).toThrow(MAEConfigError);
      expect(() => denormalizeNormPix(imgs, pred, mask, { patchSize: 3 })).toThrow(/patchSize: expected a divisor of H 4 and W 4, got 3/);
      expect(() => denormalizeNormPix(imgs, bad, mask, { patchSize: 2 })).toThrow(/pred: expected shape \[2, 4, 4\]/);
      expect(() => denormalizeNormPix(imgs, pred, badMask, { patchSize: 2 })).toThrow(/mask: expected shape \[2, 4\]/);
      expect(() => denormalizeNormPix(imgs, pred, mask, { patchSize: 2, stats: 'oracle' as never })).toThrow(/stats: expected 'visible' or 'target'/);
      expect(() => denormalizeNormPix(imgs, pred, mask, { patchSize: 2, eps: 0 })).toThrow(/eps must be a finite number > 0/);
      expect(() => denormalizeNormPix(pred, pred, mask, { patchSize: 2 })).toThrow(MAEInputError);
      expect(() => denormalizeNormPix(imgs, pred, mask, undefined as never)).toThrow(/patchSize must be a positive integer/);
    });
    tf.dispose([imgs, pred, mask, bad, badMask]);
  });
});

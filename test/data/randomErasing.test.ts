import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeBackends } from '../../src/testing';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { randomErasing, sampleErasing } from '../../src/data/randomErasing';

describe('sampleErasing', () => {
  it('erases a fraction p of the images with boxes inside timm\'s area and ratio ranges', () => {
    const boxes = sampleErasing(4000, 32, 24, { seed: 3 });
    const erased = boxes.filter((b) => b !== null);
    expect(Math.abs(erased.length / 4000 - 0.25)).toBeLessThan(0.02);
    for (const b of erased) {
      expect(b!.height).toBeLessThan(32);
      expect(b!.width).toBeLessThan(24);
      expect(b!.top + b!.height).toBeLessThanOrEqual(32);
      expect(b!.left + b!.width).toBeLessThanOrEqual(24);
      // h·w ≈ A·HW and h/w ≈ r up to the rounding of h and w to integers.
      const a = (b!.height * b!.width) / (32 * 24);
      expect(a).toBeGreaterThan(0.02 * 0.5);
      expect(a).toBeLessThan(1 / 3 + 0.08);
      expect(b!.height / b!.width).toBeGreaterThan(0.3 * 0.6);
      expect(b!.height / b!.width).toBeLessThan((1 / 0.3) * 1.7);
    }
    expect(sampleErasing(50, 8, 8, { seed: 3, p: 0 }).every((b) => b === null)).toBe(true);
    expect(sampleErasing(5, 8, 8, { seed: 9, p: 1 })).toEqual(sampleErasing(5, 8, 8, { seed: 9, p: 1 }));
  });

  it('gives up after 10 tries (90 % of a 4×4 image never fits h < 4 and w < 4)', () => {
    expect(sampleErasing(20, 4, 4, { seed: 1, p: 1, area: [0.9, 0.95] }).every((b) => b === null)).toBe(true);
    expect(sampleErasing(20, 4, 4, { seed: 1, p: 1, area: [0.2, 0.3] }).some((b) => b !== null)).toBe(true);
  });

  it('rejects bad options', () => {
    expect(() => sampleErasing(1, 8, 8, { seed: 1, p: 2 })).toThrow(/p: expected a probability/);
    expect(() => sampleErasing(1, 8, 8, { seed: 1, area: [0.5, 0.1] })).toThrow(MAEConfigError);
    expect(() => sampleErasing(1, 8, 8, { seed: 1.5 })).toThrow(/seed/);
  });
});

describeBackends(['cpu', 'wasm'], () => {
  it('fills exactly the sampled boxes with N(0, 1) noise (or zeros), leaves every other pixel, leaks nothing', async () => {
    const [n, h, w, c] = [32, 16, 12, 3];
    const values = Float32Array.from({ length: n * h * w * c }, (_, i) => 10 + (i % 97));
    const x = tf.tensor4d(values, [n, h, w, c]);
    const before = tf.memory().numTensors;
    const args = { seed: 5, p: 0.5 };
    const boxes = sampleErasing(n, h, w, args);
    const out = randomErasing(x, args);
    const zeros = randomErasing(x, { ...args, mode: 'const' });
    const [ov, zv] = [await out.data(), await zeros.data()];
    tf.dispose([out, zeros]);
    expect(tf.memory().numTensors).toBe(before);
    const inside: number[] = [];
    for (let i = 0; i < values.length; i++) {
      const k = Math.floor(i / (h * w * c));
      const r = Math.floor(i / (w * c)) % h;
      const col = Math.floor(i / c) % w;
      const b = boxes[k];
      if (b && r >= b.top && r < b.top + b.height && col >= b.left && col < b.left + b.width) {
        inside.push(ov[i]);
        expect(zv[i]).toBe(0);
      } else {
        expect(ov[i]).toBe(values[i]);
        expect(zv[i]).toBe(values[i]);
      }
    }
    expect(inside.length).toBeGreaterThan(300);
    const mean = inside.reduce((a, v) => a + v, 0) / inside.length;
    const variance = inside.reduce((a, v) => a + (v - mean) ** 2, 0) / inside.length;
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(variance - 1)).toBeLessThan(0.1);
    // Same seed, same output.
    const again = randomErasing(x, args);
    expect(Array.from(await again.data())).toEqual(Array.from(ov));
    again.dispose();
    x.dispose();
  });

  it('rejects non-images, leaking nothing', () => {
    const x3 = tf.zeros([2, 4, 4]);
    const xi = tf.zeros([1, 4, 4, 1], 'int32');
    const before = tf.memory().numTensors;
    expect(() => randomErasing(x3, { seed: 0 })).toThrow(MAEInputError);
    expect(() => randomErasing(xi, { seed: 0 })).toThrow(/float32/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x3, xi]);
  });
}, { describe, beforeAll }, 'randomErasing');

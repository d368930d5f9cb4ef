/** Stochastic depth (timm drop_path) and the rate check. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dropPath, dropRate } from '../../src/nn/stochastic';
import { MAEConfigError } from '../../src/errors';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('dropPath', () => {
  it('zeroes whole samples with probability rate and scales the rest by 1/(1 − rate)', async () => {
    const n = 2000;
    const x = tf.ones([n, 3, 4]);
    const y = dropPath(x, 0.25, 7);
    const rows = (await y.array()) as number[][][];
    let kept = 0;
    for (const r of rows) {
      const v = r[0][0];
      expect(v === 0 || Math.abs(v - 1 / 0.75) < 1e-6).toBe(true);
      expect(r.flat().every((u) => u === v)).toBe(true); // one draw per sample
      if (v !== 0) kept++;
    }
    expect(Math.abs(kept / n - 0.75)).toBeLessThan(0.04); // binomial sd ≈ 0.01
    const again = dropPath(x, 0.25, 7);
    expect(Array.from(await again.data())).toEqual(Array.from(await y.data()));
    const none = dropPath(x, 0);
    expect(Array.from(await none.data()).every((v) => v === 1)).toBe(true);
    tf.dispose([x, y, again, none]);
  });

  it('rates must lie in [0, 1)', () => {
    expect(dropRate('r', 0)).toBe(0);
    expect(() => dropRate('dropPath', 1)).toThrow(MAEConfigError);
    expect(() => dropRate('dropPath', -0.1)).toThrow(/dropPath must be a number in \[0, 1\), got -0.1/);
    expect(() => dropRate('dropPath', Number.NaN)).toThrow(MAEConfigError);
  });
});

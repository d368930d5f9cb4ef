/** Strategies by name and config: what model configs store. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError } from '../../src';
import { RandomMasking } from '../../src/mask/RandomMasking';
import { BlockMasking } from '../../src/mask/BlockMasking';
import { GridMasking } from '../../src/mask/GridMasking';
import { createMasking, maskingConfigOf, registerMaskingStrategy } from '../../src/mask/registry';
import type { MaskingConfig, MaskingStrategy } from '../../src/mask/strategy';
import { maskSampleFromIdsKeep } from '../../src/mask/idsKeep';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('createMasking', () => {
  it('builds the built-in strategies from names and configs', () => {
    expect(createMasking()).toBeInstanceOf(RandomMasking);
    expect(createMasking('random')).toBeInstanceOf(RandomMasking);
    expect(createMasking('grid')).toBeInstanceOf(GridMasking);
    const b = createMasking({ type: 'block', minNumPatches: 4, maxAspect: 2 }) as BlockMasking;
    expect(b).toBeInstanceOf(BlockMasking);
    expect([b.minNumPatches, b.maxNumPatches, b.minAspect, b.maxAspect]).toEqual([4, null, 0.3, 2]);
  });

  it('config → strategy → config is the identity (JSON-safe)', () => {
    const configs: MaskingConfig[] = [{ type: 'random' }, { type: 'grid' }, { type: 'block', minNumPatches: 9, maxNumPatches: 30, minAspect: 0.5, maxAspect: 2, maxAttempts: 5 }];
    for (const c of configs) {
      const back = JSON.parse(JSON.stringify(maskingConfigOf(createMasking(c))));
      expect(back).toEqual(c);
    }
  });

  it('passes strategy objects through', () => {
    const g = new GridMasking();
    expect(createMasking(g)).toBe(g);
  });

  it('names the known types when given an unknown one', () => {
    expect(() => createMasking('checkerboard')).toThrow(MAEConfigError);
    expect(() => createMasking('checkerboard')).toThrow(/masking type must be one of 'random', 'block', 'grid'.*got "checkerboard"/);
    expect(() => createMasking(42 as unknown as 'random')).toThrow(/masking must be 'random', 'block', 'grid', \{ type, \.\.\.args \} or a MaskingStrategy, got 42/);
    expect(() => createMasking({ type: 'block', minNumPatches: -1 })).toThrow(/BlockMasking.minNumPatches must be a positive integer, got -1/);
  });

  it('registers a user strategy so that its config round-trips', async () => {
    /** Keeps the first K patches in patch order. */
    class FirstK implements MaskingStrategy {
      lenKeep(grid: [number, number], r: number): number {
        return Math.max(1, Math.trunc(grid[0] * grid[1] * (1 - r)));
      }
      sample(n: number, grid: [number, number], o: { maskRatio: number }) {
        const k = this.lenKeep(grid, o.maskRatio);
        const ids = tf.tile(tf.expandDims(tf.range(0, k, 1, 'int32'), 0), [n, 1]);
        const s = maskSampleFromIdsKeep(ids, grid[0] * grid[1]);
        ids.dispose();
        return s;
      }
      toConfig() {
        return { type: 'first-k' };
      }
    }
    registerMaskingStrategy('first-k', () => new FirstK());
    const s = createMasking({ type: 'first-k' });
    expect(s).toBeInstanceOf(FirstK);
    const sample = s.sample(1, [2, 2], { maskRatio: 0.5 });
    expect(await sample.mask.array()).toEqual([[0, 0, 1, 1]]);
    tf.dispose([sample.idsKeep, sample.idsRestore, sample.mask]);
    expect(() => registerMaskingStrategy('', () => new FirstK())).toThrow(/non-empty string/);
  });

  it('a strategy without toConfig cannot be serialised, and says so', () => {
    const bare: MaskingStrategy = { sample: () => { throw new Error('unused'); }, lenKeep: () => 1 };
    expect(() => maskingConfigOf(bare)).toThrow(/has no toConfig\(\), so the model cannot be serialised/);
  });
});

/**
 * The masking strategies: exact kept sets on hand-checked grids, the ratio
 * actually removed, determinism, the shared contract, leaks, on cpu and wasm.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError } from '../../src';
import { RandomMasking } from '../../src/mask/RandomMasking';
import { BlockMasking } from '../../src/mask/BlockMasking';
import { GridMasking, gridCellFor } from '../../src/mask/GridMasking';
import { lenKeepFor, maskTokens, type MaskingStrategy } from '../../src/mask/strategy';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';
import { checkSample, disposeSample } from './contract';

/** Samples, checks the contract, disposes, returns host values. */
async function take(s: MaskingStrategy, n: number, grid: [number, number], maskRatio: number, seed?: number) {
  const l = grid[0] * grid[1];
  const sample = s.sample(n, grid, { maskRatio, seed });
  try {
    return await checkSample(sample, n, l, s.lenKeep(grid, maskRatio));
  } finally {
    disposeSample(sample);
  }
}

/** The removed patches follow the kept ones in patch order (block and grid). */
function removedInPatchOrder(restore: number[], mask: number[], lenKeep: number): void {
  const removed = mask.flatMap((m, i) => (m ? [i] : []));
  expect(removed.map((i) => restore[i])).toEqual(removed.map((_, j) => lenKeep + j));
}

describeBackends(['cpu', 'wasm'], (backend) => {
  describe(`RandomMasking [${backend}]`, () => {
    it('keeps the lowest-noise patches, in increasing-noise order (hand-checked)', async () => {
      const m = new RandomMasking({ maskRatio: 0.5 });
      const noise = tf.tensor2d([[0.5, 0.1, 0.9, 0.3], [0.2, 0.8, 0.4, 0.6]]);
      const s = m.sample(2, [2, 2], { noise });
      const { keep, restore, mask } = await checkSample(s, 2, 4, 2);
      expect(keep).toEqual([[1, 3], [0, 2]]);
      expect(restore).toEqual([[2, 0, 3, 1], [0, 3, 1, 2]]);
      expect(mask).toEqual([[1, 0, 1, 0], [0, 1, 0, 1]]);
      disposeSample(s);
      noise.dispose();
    });

    it('takes the grid [h, w] or L and gives the same numbers (the layout does not matter)', async () => {
      const m = new RandomMasking();
      const a = m.sample(3, [3, 4], { maskRatio: 0.75, seed: 5 });
      const b = m.sample(3, 12, { maskRatio: 0.75, seed: 5 });
      for (const k of ['idsKeep', 'idsRestore', 'mask'] as const) await expectTensorsClose(a[k], b[k], { atol: 0, name: k });
      await checkSample(a, 3, 12, 3);
      disposeSample(a);
      disposeSample(b);
    });

    it('maskRatio 0 keeps every patch in patch order', async () => {
      const { keep, restore, mask } = await take(new RandomMasking(), 2, [2, 3], 0, 1);
      expect(keep).toEqual([[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]]);
      expect(restore).toEqual(keep);
      expect(mask.flat().every((v) => v === 0)).toBe(true);
    });

    it('the same seed gives the same masks; another seed others', async () => {
      const m = new RandomMasking();
      const a = await take(m, 2, [4, 4], 0.75, 11);
      const b = await take(m, 2, [4, 4], 0.75, 11);
      const c = await take(m, 2, [4, 4], 0.75, 12);
      expect(b.keep).toEqual(a.keep);
      expect(c.keep).not.toEqual(a.keep);
    });
  });

  describe(`BlockMasking [${backend}]`, () => {
    it('exact kept sets for seed 7 on a 4×4 grid (blocks of ≥ 4 patches, 50%)', async () => {
      // sample 0 removes  . . . .   sample 1 removes  . # # #
      //                   . . # #                     . # # #
      //                   . # # #                     . # # .
      //                   . # # #                     . . . .
      const { keep, restore, mask } = await take(new BlockMasking({ minNumPatches: 4 }), 2, [4, 4], 0.5, 7);
      expect(keep).toEqual([
        [0, 1, 2, 3, 4, 5, 8, 12],
        [0, 4, 8, 11, 12, 13, 14, 15],
      ]);
      expect(restore[0]).toEqual([0, 1, 2, 3, 4, 5, 8, 9, 6, 10, 11, 12, 7, 13, 14, 15]);
      for (let i = 0; i < 2; i++) removedInPatchOrder(restore[i], mask[i], 8);
    });

    it('removes exactly L − Math.trunc(L·(1 − r)) patches per sample', async () => {
      for (const [grid, ratio] of [
        [[14, 14], 0.5],
        [[14, 14], 0.75],
        [[7, 7], 0.75],
        [[8, 6], 0.4],
        [[5, 9], 0.9],
      ] as [[number, number], number][]) {
        const l = grid[0] * grid[1];
        const lenKeep = lenKeepFor(l, ratio);
        const { mask } = await take(new BlockMasking(), 4, grid, ratio, 3);
        for (const row of mask) expect(row.reduce((a, b) => a + b, 0)).toBe(l - lenKeep);
      }
    });

    it('is deterministic per (seed, sample index), whatever the batch size', async () => {
      const b = new BlockMasking();
      const big = await take(b, 3, [8, 8], 0.5, 42);
      const one = await take(b, 1, [8, 8], 0.5, 42);
      expect(one.keep[0]).toEqual(big.keep[0]);
      expect(big.keep[1]).not.toEqual(big.keep[0]);
      const other = await take(b, 1, [8, 8], 0.5, 43);
      expect(other.keep[0]).not.toEqual(one.keep[0]);
    });

    it('removes contiguous blocks: most removed patches have a removed neighbour', async () => {
      const { mask } = await take(new BlockMasking(), 8, [14, 14], 0.5, 0);
      let withNeighbour = 0;
      let removed = 0;
      for (const row of mask) {
        for (let i = 0; i < row.length; i++) {
          if (!row[i]) continue;
          removed++;
          const [r, c] = [Math.floor(i / 14), i % 14];
          const nb = [[r - 1, c], [r + 1, c], [r, c - 1], [r, c + 1]].filter(([y, x]) => y >= 0 && y < 14 && x >= 0 && x < 14);
          if (nb.some(([y, x]) => row[y * 14 + x])) withNeighbour++;
        }
      }
      // random masking at 50% would give ≈ 92% here by chance; blocks give all but the stray top-ups
      expect(withNeighbour / removed).toBeGreaterThan(0.98);
    });

    it('tops up at random when no block fits (a 1×10 grid: every block is ≥ 2 rows high)', async () => {
      const { keep, mask } = await take(new BlockMasking(), 2, [1, 10], 0.5, 9);
      for (const row of mask) expect(row.reduce((a, b) => a + b, 0)).toBe(5);
      expect(keep[0]).not.toEqual(keep[1]);
    });

    it('maskRatio 0 keeps every patch in patch order', async () => {
      const { keep, mask } = await take(new BlockMasking(), 1, [3, 3], 0, 1);
      expect(keep).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8]]);
      expect(mask[0].every((v) => v === 0)).toBe(true);
    });

    it('refuses noise, bad seeds and bad arguments with typed errors', async () => {
      const b = new BlockMasking();
      const noise = tf.zeros([1, 4]);
      await expectNoLeaks(() => {
        expect(() => b.sample(1, [2, 2], { maskRatio: 0.5, noise })).toThrow(/noise is not used by BlockMasking.*seed/);
        expect(() => b.sample(1, [2, 2], { maskRatio: 0.5, seed: -1 })).toThrow(MAEConfigError);
        expect(() => b.sample(1, [2, 2], { maskRatio: 0.5, seed: 1.5 })).toThrow(/seed must be a non-negative safe integer, got 1.5/);
        expect(() => b.sample(0, [2, 2], { maskRatio: 0.5 })).toThrow(/n must be a positive integer, got 0/);
        expect(() => b.sample(1, [2, 0] as [number, number], { maskRatio: 0.5 })).toThrow(/gridHW\[1\]/);
        expect(() => b.sample(1, [2, 2], { maskRatio: 1 })).toThrow(/maskRatio must be a number in \[0, 1\), got 1/);
      });
      noise.dispose();
      expect(() => new BlockMasking({ minNumPatches: 0 })).toThrow(/minNumPatches/);
      expect(() => new BlockMasking({ minNumPatches: 8, maxNumPatches: 4 })).toThrow(/maxNumPatches must be ≥ minNumPatches 8, got 4/);
      expect(() => new BlockMasking({ minAspect: 2, maxAspect: 1 })).toThrow(/maxAspect/);
    });

    it('a large seed (Date.now()) is accepted and folded deterministically', async () => {
      const a = await take(new BlockMasking(), 1, [6, 6], 0.5, 1_700_000_000_123);
      const b = await take(new BlockMasking(), 1, [6, 6], 0.5, 1_700_000_000_123);
      expect(a.keep).toEqual(b.keep);
    });
  });

  describe(`GridMasking [${backend}]`, () => {
    it('0.75 keeps the top-left patch of every 2×2 cell (hand-checked 4×4)', async () => {
      const { keep, restore, mask } = await take(new GridMasking(), 2, [4, 4], 0.75);
      expect(keep).toEqual([[0, 2, 8, 10], [0, 2, 8, 10]]);
      expect(restore[0]).toEqual([0, 4, 1, 5, 6, 7, 8, 9, 2, 10, 3, 11, 12, 13, 14, 15]);
      removedInPatchOrder(restore[0], mask[0], 4);
    });

    it('8/9 keeps one of every 3×3 cell; partial edge cells keep their top-left patch', async () => {
      expect((await take(new GridMasking(), 1, [6, 6], 0.8889)).keep).toEqual([[0, 3, 18, 21]]);
      const odd = await take(new GridMasking(), 1, [3, 5], 0.75); // cells: rows {0,1},{2}; cols {0,1},{2,3},{4}
      expect(odd.keep).toEqual([[0, 2, 4, 10, 12, 14]]);
      expect(odd.mask[0].reduce((a, b) => a + b, 0) / 15).toBeCloseTo(9 / 15, 12);
    });

    it('the ratio removed is exactly 1 − 1/k² on grids divisible by k', async () => {
      for (const [grid, ratio] of [
        [[14, 14], 0.75],
        [[12, 6], 0.8889],
        [[8, 8], 0.9375],
      ] as [[number, number], number][]) {
        const { mask } = await take(new GridMasking(), 2, grid, ratio);
        const k = gridCellFor(ratio);
        for (const row of mask) expect(row.reduce((a, b) => a + b, 0) / row.length).toBeCloseTo(1 - 1 / (k * k), 12);
      }
    });

    it('maskRatio 0 is the identity; other ratios throw', async () => {
      const { keep } = await take(new GridMasking(), 1, [2, 2], 0);
      expect(keep).toEqual([[0, 1, 2, 3]]);
      expect(() => new GridMasking().lenKeep([4, 4], 0.5)).toThrow(/GridMasking needs maskRatio = 1 − 1\/k².*got 0.5/);
      expect(() => new GridMasking().sample(1, [4, 4], { maskRatio: 0.6 })).toThrow(MAEConfigError);
      expect(gridCellFor(0)).toBe(1);
      expect(gridCellFor(0.75)).toBe(2);
      expect(gridCellFor(8 / 9)).toBe(3);
    });
  });

  describe(`every strategy [${backend}]`, () => {
    const strategies: [string, MaskingStrategy][] = [
      ['random', new RandomMasking()],
      ['block', new BlockMasking()],
      ['grid', new GridMasking()],
    ];
    for (const [name, s] of strategies) {
      it(`${name}: sampling, and masking tokens with its gradient, leak nothing`, async () => {
        await expectNoLeaks(() => {
          disposeSample(s.sample(2, [4, 4], { maskRatio: 0.75, seed: 1 }));
          const { value, grads } = tf.variableGrads(() => {
            const r = maskTokens(s, v, [4, 4], { maskRatio: 0.75, seed: 1 });
            const loss = tf.sum(tf.square(r.visible)) as tf.Scalar;
            tf.dispose([r.visible, r.idsKeep, r.idsRestore, r.mask]);
            return loss;
          }, [v]);
          tf.dispose([value, ...Object.values(grads)]);
        }, name);
      });

      it(`${name}: maskTokens gathers the kept tokens; the gradient is 2x on kept rows, 0 on removed`, async () => {
        const r = maskTokens(s, v, [4, 4], { maskRatio: 0.75, seed: 2 });
        const keep = (await r.idsKeep.array()) as number[][];
        const xs = (await v.array()) as number[][][];
        expect(await r.visible.array()).toEqual(keep.map((ids, n) => ids.map((i) => xs[n][i])));
        const { grads } = tf.variableGrads(() => {
          const q = maskTokens(s, v, [4, 4], { maskRatio: 0.75, seed: 2 });
          tf.dispose([q.idsKeep, q.idsRestore, q.mask]);
          return tf.sum(tf.square(q.visible)) as tf.Scalar;
        }, [v]);
        const mask = (await r.mask.array()) as number[][];
        const expected = xs.map((rows, n) => rows.map((row, i) => row.map((val) => (mask[n][i] ? 0 : 2 * val))));
        await expectTensorsClose(grads[v.name], expected.flat(2), { atol: 1e-6 });
        tf.dispose([r.visible, r.idsKeep, r.idsRestore, r.mask, ...Object.values(grads)]);
      });
    }

    it('maskTokens checks that L matches the grid', () => {
      expect(() => maskTokens(new GridMasking(), v, [3, 3], { maskRatio: 0.75 })).toThrow(MAEInputError);
      expect(() => maskTokens(new GridMasking(), v, [3, 3], { maskRatio: 0.75 })).toThrow(/x must have L = 3·3 = 9 tokens.*got shape \[2, 16, 3\]/);
    });
  });
}, { describe, beforeAll });

let v: tf.Variable;
beforeAll(async () => {
  await tf.setBackend('cpu');
  v = tf.variable(tf.randomNormal([2, 16, 3], 0, 1, 'float32', 3), true, 'x_tokens');
});

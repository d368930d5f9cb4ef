/** Block-wise masking (BEiT), the "block" row of the MAE paper's masking ablation. */
import { MAEConfigError, describe } from '../errors';
import { Rng, mixSeed } from '../data/rng';
import { positiveInt, positiveNumber } from '../util/validate';
import { checkSampleArgs, lenKeepFor, sampleOnHost } from './strategy';
import type { MaskingConfig, MaskingOptions, MaskingStrategy, MaskSample } from './strategy';

/** Arguments of {@link BlockMasking}. */
export interface BlockMaskingArgs {
  /** Smallest block area (patches) drawn. Defaults to `16` (BEiT, and the MAE paper's ablation). */
  minNumPatches?: number;
  /** Largest block area (patches) drawn. Defaults to `null`: the number still to be removed. */
  maxNumPatches?: number | null;
  /** Smallest block aspect ratio (height / width). Defaults to `0.3`. */
  minAspect?: number;
  /** Largest aspect ratio. Defaults to `1 / minAspect`. */
  maxAspect?: number | null;
  /** Tries per block before giving up on placing it. Defaults to `10`. */
  maxAttempts?: number;
}

/**
 * Block-wise masking (BEiT's `MaskingGenerator`): remove rectangles of
 * patches until `L − lenKeep` are removed, `lenKeep = Math.trunc(L·(1 − maskRatio))`.
 *
 * Each rectangle: area `s ~ U(minNumPatches, budget)` (budget = patches
 * still to remove, capped by `maxNumPatches`), aspect `a = exp(U(ln minAspect, ln maxAspect))`,
 * height `round(√(s·a))`, width `round(√(s/a))`, a uniform position inside the
 * grid; it is accepted when it removes at least one new patch and no more
 * than the budget (overlaps allowed). When no rectangle fits after
 * `maxAttempts` tries (small grids, small budgets), the rest is removed at
 * uniformly random patches, so every sample removes exactly `L − lenKeep` and
 * batches stay rectangular.
 *
 * Drawn on the host with a seeded PRNG: sample `i` of a batch uses
 * `mixSeed(seed, i)`, so the masks depend only on `(seed, i, grid, ratio)`,
 * never on the backend. **Seed only**: a `noise` tensor is refused (it would
 * need a read from the device). `idsKeep` lists the kept patches in patch order.
 *
 * `{ type: 'block', ...args }` in a model's `masking`.
 */
export class BlockMasking implements MaskingStrategy {
  /** Smallest block area (patches) drawn. */
  readonly minNumPatches: number;
  /** Largest block area (patches) drawn; `null`: the number still to be removed. */
  readonly maxNumPatches: number | null;
  /** Smallest block aspect ratio (height / width). */
  readonly minAspect: number;
  /** Largest block aspect ratio. */
  readonly maxAspect: number;
  /** Tries per block before giving up on placing it. */
  readonly maxAttempts: number;

  constructor(args: BlockMaskingArgs = {}) {
    this.minNumPatches = positiveInt('BlockMasking.minNumPatches', args.minNumPatches ?? 16);
    this.maxNumPatches = args.maxNumPatches == null ? null : positiveInt('BlockMasking.maxNumPatches', args.maxNumPatches);
    this.minAspect = positiveNumber('BlockMasking.minAspect', args.minAspect ?? 0.3);
    this.maxAspect = positiveNumber('BlockMasking.maxAspect', args.maxAspect ?? 1 / this.minAspect);
    this.maxAttempts = positiveInt('BlockMasking.maxAttempts', args.maxAttempts ?? 10);
    if (this.maxNumPatches !== null && this.maxNumPatches < this.minNumPatches) {
      throw new MAEConfigError(`BlockMasking.maxNumPatches must be ≥ minNumPatches ${this.minNumPatches}, got ${this.maxNumPatches}`);
    }
    if (this.maxAspect < this.minAspect) {
      throw new MAEConfigError(`BlockMasking.maxAspect must be ≥ minAspect ${this.minAspect}, got ${this.maxAspect}`);
    }
  }

  /** `Math.trunc(L·(1 − maskRatio))`, at least 1. */
  lenKeep(gridHW: [number, number], maskRatio: number): number {
    const { grid, ratio } = checkSampleArgs(1, gridHW, maskRatio);
    return lenKeepFor(grid[0] * grid[1], ratio);
  }

  /**
   * @param n batch size N
   * @param gridHW the patch grid `[h, w]`
   * @param options `maskRatio` (required), `seed` (integer ≥ 0; defaults to a random draw); no `noise`
   * @returns `idsKeep [N, lenKeep]` (patch order), `idsRestore [N, L]`, `mask [N, L]`
   */
  sample(n: number, gridHW: [number, number], options: MaskingOptions & { maskRatio: number }): MaskSample {
    return sampleOnHost('BlockMasking', n, gridHW, options, ([h, w], ratio) => {
      const numRemoved = h * w - lenKeepFor(h * w, ratio);
      const seed = batchSeed(options.seed);
      return ratio === 0 ? null : (i) => this.draw(h, w, numRemoved, new Rng(mixSeed(seed, i)));
    });
  }

  /** One `[h·w]` mask (1 = removed) with exactly `numRemoved` ones. */
  draw(h: number, w: number, numRemoved: number, rng: Rng): Uint8Array {
    const mask = new Uint8Array(h * w);
    let count = 0;
    while (count < numRemoved) {
      const budget = Math.min(numRemoved - count, this.maxNumPatches ?? Infinity);
      const added = this.placeBlock(mask, h, w, budget, rng);
      if (added === 0) break;
      count += added;
    }
    // top up: the remaining patches at random among the kept ones
    if (count < numRemoved) {
      const kept: number[] = [];
      for (let i = 0; i < mask.length; i++) if (!mask[i]) kept.push(i);
      for (let j = 0; j < numRemoved - count; j++) {
        const pick = j + rng.below(kept.length - j); // partial Fisher–Yates
        [kept[j], kept[pick]] = [kept[pick], kept[j]];
        mask[kept[j]] = 1;
      }
    }
    return mask;
  }

  /** Tries to remove one rectangle; returns the number of newly removed patches (0 = none placed). */
  private placeBlock(mask: Uint8Array, h: number, w: number, budget: number, rng: Rng): number {
    const logLo = Math.log(this.minAspect);
    const logHi = Math.log(this.maxAspect);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const area = rng.uniformIn(this.minNumPatches, budget);
      const aspect = Math.exp(rng.uniformIn(logLo, logHi));
      const bh = Math.round(Math.sqrt(area * aspect));
      const bw = Math.round(Math.sqrt(area / aspect));
      if (bh < 1 || bw < 1 || bh > h || bw > w) continue;
      const top = rng.below(h - bh + 1);
      const left = rng.below(w - bw + 1);
      let fresh = 0;
      for (let r = top; r < top + bh; r++) for (let c = left; c < left + bw; c++) fresh += 1 - mask[r * w + c];
      if (fresh === 0 || fresh > budget) continue;
      for (let r = top; r < top + bh; r++) for (let c = left; c < left + bw; c++) mask[r * w + c] = 1;
      return fresh;
    }
    return 0;
  }

  /** `{ type: 'block', minNumPatches, maxNumPatches, minAspect, maxAspect, maxAttempts }`. */
  toConfig(): MaskingConfig {
    return {
      type: 'block',
      minNumPatches: this.minNumPatches,
      maxNumPatches: this.maxNumPatches,
      minAspect: this.minAspect,
      maxAspect: this.maxAspect,
      maxAttempts: this.maxAttempts,
    };
  }
}

/**
 * The seed of a batch: a safe integer ≥ 0 (folded to 32 bits), or a random
 * draw when none is given.
 */
export function batchSeed(seed: number | undefined): number {
  if (seed === undefined) return Math.floor(Math.random() * 4294967296);
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new MAEConfigError(`seed must be a non-negative safe integer, got ${describe(seed)}`);
  }
  const hi = Math.floor(seed / 4294967296);
  return hi === 0 ? seed : mixSeed(seed >>> 0, hi);
}

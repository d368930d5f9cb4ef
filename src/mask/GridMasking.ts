/** Grid-wise masking: keep one patch of every k×k cell, the "grid" row of the MAE paper's masking ablation. */
import { MAEConfigError } from '../errors';
import { checkSampleArgs, sampleOnHost } from './strategy';
import type { MaskingConfig, MaskingOptions, MaskingStrategy, MaskSample } from './strategy';

/**
 * The cell side k for a ratio: `maskRatio = 1 − 1/k²` (0 → 1, 0.75 → 2,
 * 8/9 → 3, 0.9375 → 4), to within 1e-3. Other ratios throw an `MAEConfigError`.
 */
export function gridCellFor(maskRatio: number): number {
  const k = Math.round(Math.sqrt(1 / (1 - maskRatio)));
  if (!Number.isFinite(k) || k < 1 || Math.abs(1 - 1 / (k * k) - maskRatio) > 1e-3) {
    throw new MAEConfigError(
      `GridMasking needs maskRatio = 1 − 1/k² (0, 0.75, 0.8889, 0.9375, …) to keep one patch of every k×k cell, got ${maskRatio}`,
    );
  }
  return k;
}

/**
 * Grid-wise masking: the grid is cut into k×k cells, `k` from the ratio
 * (`maskRatio = 1 − 1/k²`: 0.75 → 2×2 cells), and each cell keeps its
 * **top-left** patch (rows and columns divisible by k) and loses the others.
 * The same mask for every sample and every seed; `seed` is ignored and
 * `noise` refused.
 *
 * When h or w is not a multiple of k, the cells on the bottom and right edges
 * are partial and still keep their top-left patch, so
 * `lenKeep = ⌈h/k⌉·⌈w/k⌉` and the ratio actually removed is
 * `1 − lenKeep / L` (e.g. 7×7 at 0.75 keeps 16 of 49: 67% removed).
 * `idsKeep` lists the kept patches in patch order.
 *
 * `'grid'` (or `{ type: 'grid' }`) in a model's `masking`.
 */
export class GridMasking implements MaskingStrategy {
  /** `⌈h/k⌉·⌈w/k⌉`, k from {@link gridCellFor}. */
  lenKeep(gridHW: [number, number], maskRatio: number): number {
    const { grid, ratio } = checkSampleArgs(1, gridHW, maskRatio);
    const k = gridCellFor(ratio);
    return Math.ceil(grid[0] / k) * Math.ceil(grid[1] / k);
  }

  /**
   * @param n batch size N
   * @param gridHW the patch grid `[h, w]`
   * @param options `maskRatio` (required, `1 − 1/k²`); `seed` is ignored; no `noise`
   * @returns `idsKeep [N, lenKeep]` (patch order), `idsRestore [N, L]`, `mask [N, L]`
   */
  sample(n: number, gridHW: [number, number], options: MaskingOptions & { maskRatio: number }): MaskSample {
    return sampleOnHost('GridMasking', n, gridHW, options, ([h, w], ratio) => {
      const k = gridCellFor(ratio);
      if (k === 1) return null;
      const mask = new Uint8Array(h * w);
      for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) mask[r * w + c] = r % k === 0 && c % k === 0 ? 0 : 1;
      return () => mask;
    });
  }

  /** `{ type: 'grid' }`. */
  toConfig(): MaskingConfig {
    return { type: 'grid' };
  }
}

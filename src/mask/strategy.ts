/**
 * The masking interface every strategy implements, the sample it returns,
 * and the helpers the strategies share.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { serialization } from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { maskRatio as checkRatio, pair, positiveInt, tensorOfRank } from '../util/validate';
import { gatherTokens } from '../nn/ops';

/** Per-call options of a masking strategy. */
export interface MaskingOptions {
  /** Fraction of patches removed, `0 ≤ r < 1`; `0` keeps every patch in patch order. Defaults to the owner's `maskRatio` (0.75). */
  maskRatio?: number;
  /** Noise `[N, L]` float32: small is kept, large is removed. Only {@link RandomMasking} reads it. Defaults to a seeded draw. */
  noise?: tf.Tensor;
  /** Seed of the draw when no `noise` is given; the same seed gives the same masks. Defaults to a random draw. */
  seed?: number;
}

/** Which patches are kept, and how to undo the shuffle. The caller owns (and disposes) the tensors. */
export type MaskSample = {
  /**
   * `[N, lenKeep]` int32: indices of the kept patches. The order is the
   * strategy's: increasing noise for {@link RandomMasking}, patch order for
   * {@link BlockMasking} and {@link GridMasking}.
   */
  idsKeep: tf.Tensor2D;
  /**
   * `[N, L]` int32: the position of each patch in the shuffled sequence
   * `idsKeep ++ removed ids` (`argsort(idsShuffle)`); puts a shuffled sequence
   * back in patch order.
   */
  idsRestore: tf.Tensor2D;
  /** `[N, L]` float32: 1 = removed, 0 = kept, in patch order. */
  mask: tf.Tensor2D;
};

/** The visible tokens and the {@link MaskSample} that chose them. */
export type MaskResult = MaskSample & {
  /** `[N, lenKeep, D]`: the kept tokens in `idsKeep` order (differentiable). */
  visible: tf.Tensor3D;
};

/**
 * A strategy as configuration: `{ type, ...constructor args }`, e.g.
 * `{ type: 'block', minNumPatches: 16 }`. JSON-serialisable.
 */
export interface MaskingConfig {
  /** The registered type: `'random'`, `'block'`, `'grid'`, or one added with `registerMaskingStrategy`. */
  type: string;
  [arg: string]: serialization.ConfigDictValue;
}

/**
 * Turns `(N, gridHW, maskRatio, noise or seed)` into `idsKeep` / `idsRestore` / `mask`.
 *
 * Contract, which the encoder, the decoder and the loss rely on:
 * - every sample of the batch keeps the same number of patches, `lenKeep(gridHW, maskRatio)`;
 * - `maskRatio = 0` keeps every patch in patch order (identity `idsKeep` and `idsRestore`, zero mask);
 * - ids are int32, the mask float32, and `idsRestore[n, idsKeep[n, k]] = k`.
 */
export interface MaskingStrategy {
  /**
   * Draws which patches to keep.
   *
   * @param n batch size N
   * @param gridHW the patch grid `[h, w]`, L = h·w
   * @returns `idsKeep [N, lenKeep]`, `idsRestore [N, L]`, `mask [N, L]`
   */
  sample(n: number, gridHW: [number, number], options: MaskingOptions & { maskRatio: number }): MaskSample;
  /**
   * How many patches each sample keeps for this grid and ratio. Throws an
   * `MAEConfigError` for a ratio the strategy cannot realise.
   */
  lenKeep(gridHW: [number, number], maskRatio: number): number;
  /**
   * The strategy as `{ type, ...args }` so that a model configured with it
   * survives `getConfig` / `fromConfig`. Optional: without it, the model's
   * `getConfig` throws. The type must be registered (`registerMaskingStrategy`).
   */
  toConfig?(): MaskingConfig;
}

/** `lenKeep = Math.trunc(L · (1 − maskRatio))`, the official float expression; at least 1. */
export function lenKeepFor(numPatches: number, maskRatio: number): number {
  const lenKeep = Math.trunc(numPatches * (1 - maskRatio));
  if (lenKeep < 1) {
    throw new MAEConfigError(
      `maskRatio ${maskRatio} keeps Math.trunc(${numPatches} * (1 - ${maskRatio})) = ${lenKeep} of ${numPatches} patches; at least 1 must be kept`,
    );
  }
  return lenKeep;
}

/** Checks the common arguments of `sample`: `n`, the grid and the ratio. */
export function checkSampleArgs(n: unknown, gridHW: unknown, maskRatio: unknown): { n: number; grid: [number, number]; ratio: number } {
  return { n: positiveInt('n', n), grid: pair('gridHW', gridHW), ratio: checkRatio('maskRatio', maskRatio) };
}

/** `maskRatio = 0`: every patch kept, in patch order. */
export function identitySample(n: number, l: number): MaskSample {
  return tf.tidy(() => {
    const ids = tf.tile(tf.expandDims(tf.range(0, l, 1, 'int32'), 0), [n, 1]) as tf.Tensor2D;
    return { idsKeep: ids, idsRestore: tf.clone(ids), mask: tf.zeros([n, l]) as tf.Tensor2D };
  });
}

/**
 * Builds a sample from host-side masks (1 = removed), all with the same
 * number of removed patches: `idsKeep` lists the kept patches in patch order,
 * `idsRestore` is the inverse of `idsKeep ++ removed ids in patch order`.
 */
export function sampleFromHostMasks(masks: Uint8Array[], l: number): MaskSample {
  const n = masks.length;
  const removed = masks[0].reduce((s, v) => s + v, 0);
  const k = l - removed;
  const idsKeep = new Int32Array(n * k);
  const idsRestore = new Int32Array(n * l);
  const mask = new Float32Array(n * l);
  masks.forEach((m, s) => {
    let kept = 0;
    let gone = 0;
    for (let i = 0; i < l; i++) {
      if (m[i]) {
        idsRestore[s * l + i] = k + gone++;
        mask[s * l + i] = 1;
      } else {
        idsKeep[s * k + kept] = i;
        idsRestore[s * l + i] = kept++;
      }
    }
    if (kept !== k) throw new Error(`internal: sample ${s} keeps ${kept} patches, expected ${k}`);
  });
  return {
    idsKeep: tf.tensor2d(idsKeep, [n, k], 'int32'),
    idsRestore: tf.tensor2d(idsRestore, [n, l], 'int32'),
    mask: tf.tensor2d(mask, [n, l], 'float32'),
  };
}

/** Host-side strategies draw from `seed`; a `noise` tensor would be silently ignored, so it is refused. */
export function refuseNoise(strategy: string, options: MaskingOptions): void {
  if (options.noise !== undefined) {
    throw new MAEConfigError(`noise is not used by ${strategy} (it samples on the host); pass seed instead, got noise of shape ${describe((options.noise as tf.Tensor)?.shape ?? options.noise)}`);
  }
}

/**
 * The `sample` of a strategy that draws its masks on the host (block, grid):
 * checks `n`, the grid and the ratio, refuses `noise`, then asks
 * `plan(grid, ratio)` for the mask of sample `i` (`[h·w]`, 1 = removed, the
 * same count for every `i`), or `null` to keep every patch in patch order.
 *
 * @returns `idsKeep [N, lenKeep]` (patch order), `idsRestore [N, L]`, `mask [N, L]`
 */
export function sampleOnHost(
  strategy: string,
  n: number,
  gridHW: [number, number],
  options: MaskingOptions & { maskRatio: number },
  plan: (grid: [number, number], ratio: number) => ((i: number) => Uint8Array) | null,
): MaskSample {
  const { grid, ratio } = checkSampleArgs(n, gridHW, options.maskRatio);
  refuseNoise(strategy, options);
  const l = grid[0] * grid[1];
  const maskOf = plan(grid, ratio);
  if (maskOf === null) return identitySample(n, l);
  return sampleFromHostMasks(Array.from({ length: n }, (_, i) => maskOf(i)), l);
}

/**
 * Masks a token sequence with any strategy: samples, then gathers the kept
 * tokens (differentiably, on every backend).
 *
 * @param x `[N, L, D]` tokens in patch order, `L = h·w`
 * @param gridHW the patch grid `[h, w]`
 * @returns `visible [N, lenKeep, D]` and the {@link MaskSample}
 */
export function maskTokens(
  strategy: MaskingStrategy,
  x: tf.Tensor,
  gridHW: [number, number],
  options: MaskingOptions & { maskRatio: number },
): MaskResult {
  const tokens = tensorOfRank('x', x, 3, '[N, L, D]') as tf.Tensor3D;
  const [h, w] = pair('gridHW', gridHW);
  const [n, l] = tokens.shape;
  if (l !== h * w) {
    throw new MAEInputError(`x must have L = ${h}·${w} = ${h * w} tokens (gridHW [${h}, ${w}]), got shape ${describe(tokens.shape)}`);
  }
  const sample = strategy.sample(n, [h, w], options);
  try {
    const visible = gatherTokens(tokens, sample.idsKeep, sample.idsRestore); // [N, lenKeep, D]
    return { visible, ...sample };
  } catch (err) {
    tf.dispose([sample.idsKeep, sample.idsRestore, sample.mask]);
    throw err;
  }
}

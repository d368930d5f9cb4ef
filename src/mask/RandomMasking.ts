/** Per-sample random masking by argsort of noise (official `random_masking`). */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { maskRatio as checkRatio, tensorOfRank } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from '../nn/MAELayer';
import { argsortRows, gatherTokens } from '../nn/ops';

/** Per-call options of the masking. */
export interface MaskingOptions {
  /** Fraction of patches removed, `0 ≤ r < 1`. Defaults to the layer's `maskRatio`. */
  maskRatio?: number;
  /** Noise `[N, L]` float32: small is kept, large is removed. Defaults to `tf.randomUniform` (with `seed`). */
  noise?: tf.Tensor;
  /** Seed for the noise when none is given. Defaults to a random draw. */
  seed?: number;
}

/** Which patches are kept, and how to undo the shuffle. */
export interface MaskSample {
  /** `[N, lenKeep]` int32: indices of the kept patches, in increasing-noise order (not patch order). */
  idsKeep: tf.Tensor2D;
  /** `[N, L]` int32: `argsort(idsShuffle)`, puts a shuffled sequence back in patch order. */
  idsRestore: tf.Tensor2D;
  /** `[N, L]` float32: 1 = removed, 0 = kept, in patch order. */
  mask: tf.Tensor2D;
}

/** The visible tokens and the {@link MaskSample} that chose them. */
export interface MaskResult extends MaskSample {
  /** `[N, lenKeep, D]`: the kept tokens (differentiable). */
  visible: tf.Tensor3D;
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

/** Arguments of {@link RandomMasking}. */
export interface RandomMaskingArgs extends BaseLayerArgs {
  /** Default fraction of patches removed, `0 ≤ r < 1`. Defaults to `0.75`. */
  maskRatio?: number;
}

/**
 * Per-sample random masking: shuffle the tokens of each sample by
 * `argsort(noise)` (ascending: small is keep, large is remove) and keep the
 * first `lenKeep = Math.trunc(L·(1 − maskRatio))`.
 *
 * `maskRatio = 0` keeps every token in patch order (no shuffle), so features
 * are deterministic.
 *
 * `apply(x, { noise, seed, maskRatio })` returns `[visible, mask, idsRestore, idsKeep]`;
 * {@link RandomMasking.mask} returns them by name.
 */
export class RandomMasking extends MAELayer {
  static readonly className = 'MAERandomMasking';
  readonly maskRatio: number;

  constructor(args: RandomMaskingArgs = {}) {
    super(args);
    this.maskRatio = checkRatio('maskRatio', args.maskRatio ?? 0.75);
  }

  /**
   * Draws which patches to keep, without touching any tokens.
   *
   * @param n batch size N
   * @param numPatches L
   */
  sample(n: number, numPatches: number, options: MaskingOptions = {}): MaskSample {
    const ratio = checkRatio('maskRatio', options.maskRatio ?? this.maskRatio);
    const l = numPatches;
    const lenKeep = lenKeepFor(l, ratio);
    if (options.noise !== undefined) {
      const noise = tensorOfRank('noise', options.noise, 2, '[N, L]');
      if (noise.shape[0] !== n || noise.shape[1] !== l) {
        throw new MAEInputError(`noise must have shape [${n}, ${l}] ([N, L]), got ${describe(noise.shape)}`);
      }
      if (noise.dtype !== 'float32') throw new MAEInputError(`noise must be float32, got ${noise.dtype}`);
    }
    return tf.tidy(() => {
      if (ratio === 0) {
        const ids = tf.tile(tf.expandDims(tf.range(0, l, 1, 'int32'), 0), [n, 1]) as tf.Tensor2D;
        return { idsKeep: ids, idsRestore: tf.clone(ids), mask: tf.zeros([n, l]) as tf.Tensor2D };
      }
      const noise = (options.noise as tf.Tensor2D | undefined) ?? tf.randomUniform([n, l], 0, 1, 'float32', options.seed);
      const idsShuffle = argsortRows(noise); // ascend: small is keep, large is remove
      const idsRestore = argsortRows(idsShuffle);
      const idsKeep = tf.slice(idsShuffle, [0, 0], [n, lenKeep]) as tf.Tensor2D;
      // 0 is keep, 1 is remove; unshuffled to patch order
      const base = tf.concat([tf.zeros([lenKeep]), tf.ones([l - lenKeep])]);
      const mask = tf.gather(base, idsRestore) as tf.Tensor2D;
      return { idsKeep, idsRestore, mask };
    });
  }

  /**
   * Masks a token sequence.
   *
   * @param x `[N, L, D]` tokens in patch order
   */
  mask(x: tf.Tensor, options: MaskingOptions = {}): MaskResult {
    const tokens = tensorOfRank('x', x, 3, '[N, L, D]') as tf.Tensor3D;
    const [n, l] = tokens.shape;
    const sample = this.sample(n, l, options);
    const visible = gatherTokens(tokens, sample.idsKeep, sample.idsRestore); // [N, lenKeep, D]
    return { visible, ...sample };
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: MaskingOptions = {}): tf.Tensor[] {
    const r = this.mask(Array.isArray(inputs) ? inputs[0] : inputs, kwargs);
    return [r.visible, r.mask, r.idsRestore, r.idsKeep];
  }

  stateEntries(): StateEntry[] {
    return [];
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), maskRatio: this.maskRatio };
  }
}
serialization.registerClass(RandomMasking);

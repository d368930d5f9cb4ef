/** Per-sample random masking by argsort of noise (official `random_masking`). */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { MAEInputError, describe } from '../errors';
import { maskRatio as checkRatio, optionalSeed, positiveInt, tensorOfRank } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from '../nn/MAELayer';
import { argsortRows } from '../nn/ops';
import {
  identitySample,
  lenKeepFor,
  maskTokens,
  type MaskingConfig,
  type MaskingOptions,
  type MaskingStrategy,
  type MaskResult,
  type MaskSample,
} from './strategy';

export { lenKeepFor, type MaskingOptions, type MaskSample, type MaskResult } from './strategy';

/** Arguments of {@link RandomMasking}. */
export interface RandomMaskingArgs extends BaseLayerArgs {
  /** Default fraction of patches removed, `0 ≤ r < 1` (an encoder passes its own). Defaults to `0.75`. */
  maskRatio?: number;
}

/**
 * Per-sample random masking, the MAE default: shuffle the tokens of each
 * sample by `argsort(noise)` (ascending: small is keep, large is remove) and
 * keep the first `lenKeep = Math.trunc(L·(1 − maskRatio))`. `idsKeep` is in
 * increasing-noise order. Runs on the device; with the same `noise` it gives
 * the official masks exactly.
 *
 * `maskRatio = 0` keeps every token in patch order (no shuffle), so features
 * are deterministic.
 *
 * A {@link MaskingStrategy} (`{ type: 'random' }`) and a layer:
 * `apply(x, { noise, seed, maskRatio })` returns `[visible, mask, idsRestore, idsKeep]`;
 * {@link RandomMasking.mask} returns them by name.
 */
export class RandomMasking extends MAELayer implements MaskingStrategy {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAERandomMasking';
  /** Default fraction of patches removed, `0 ≤ r < 1`. */
  readonly maskRatio: number;

  constructor(args: RandomMaskingArgs = {}) {
    super(args);
    this.maskRatio = checkRatio('maskRatio', args.maskRatio ?? 0.75);
  }

  /** `Math.trunc(L·(1 − maskRatio))`, at least 1. */
  lenKeep(gridHW: [number, number] | number, maskRatio: number = this.maskRatio): number {
    const l = typeof gridHW === 'number' ? positiveInt('numPatches', gridHW) : positiveInt('gridHW[0]', gridHW[0]) * positiveInt('gridHW[1]', gridHW[1]);
    return lenKeepFor(l, checkRatio('maskRatio', maskRatio));
  }

  /**
   * Draws which patches to keep, without touching any tokens.
   *
   * @param n batch size N
   * @param gridHW the patch grid `[h, w]` (or L, the number of patches: random masking ignores the layout)
   * @returns `idsKeep [N, lenKeep]` (increasing-noise order), `idsRestore [N, L]`, `mask [N, L]`
   */
  sample(n: number, gridHW: [number, number] | number, options: MaskingOptions = {}): MaskSample {
    positiveInt('n', n);
    optionalSeed('seed', options.seed);
    const ratio = checkRatio('maskRatio', options.maskRatio ?? this.maskRatio);
    const l = typeof gridHW === 'number' ? positiveInt('numPatches', gridHW) : this.lenKeep(gridHW, 0);
    const lenKeep = lenKeepFor(l, ratio);
    if (options.noise !== undefined) {
      const noise = tensorOfRank('noise', options.noise, 2, '[N, L]');
      if (noise.shape[0] !== n || noise.shape[1] !== l) {
        throw new MAEInputError(`noise must have shape [${n}, ${l}] ([N, L]), got ${describe(noise.shape)}`);
      }
      if (noise.dtype !== 'float32') throw new MAEInputError(`noise must be float32, got ${noise.dtype}`);
    }
    if (ratio === 0) return identitySample(n, l);
    return tf.tidy(() => {
      const noise = (options.noise as tf.Tensor2D | undefined) ?? tf.randomUniform([n, l], 0, 1, 'float32', options.seed);
      const idsShuffle = argsortRows(noise); // ascend: small is keep, large is remove
      const idsRestore = argsortRows(idsShuffle);
      const idsKeep = tf.slice(idsShuffle, [0, 0], [n, lenKeep]) as tf.Tensor2D;
      // 0 is keep, 1 is remove; unshuffled to patch order
      const base = tf.concat([tf.zeros([lenKeep]), tf.ones([l - lenKeep])]);
      // gatherND, not gather: tfjs-node's GatherV2 reads its indices back to the host on every call
      const mask = tf.gatherND(base, tf.expandDims(idsRestore, -1)) as tf.Tensor2D; // [N, L]
      return { idsKeep, idsRestore, mask };
    });
  }

  /**
   * Masks a token sequence.
   *
   * @param x `[N, L, D]` tokens in patch order
   * @returns `visible [N, lenKeep, D]` and the {@link MaskSample}
   */
  mask(x: tf.Tensor, options: MaskingOptions = {}): MaskResult {
    const tokens = tensorOfRank('x', x, 3, '[N, L, D]') as tf.Tensor3D;
    const l = tokens.shape[1];
    return maskTokens(this, tokens, [1, l], { ...options, maskRatio: options.maskRatio ?? this.maskRatio });
  }

  /** `{ type: 'random' }` (an encoder's own `maskRatio` applies, so it is not part of the strategy). */
  toConfig(): MaskingConfig {
    return { type: 'random' };
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

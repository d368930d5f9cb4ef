/**
 * A SimMIM-style masked image model assembled from tfjs-mae's public blocks.
 *
 * Unlike MAE, the encoder sees every position: removed patches are replaced
 * by one learned mask token (before the position embedding is added), and a
 * single linear head predicts the pixels of every patch; the loss counts
 * the removed patches only.
 *
 *   imgs [N, H, W, C]
 *   → encoder.embedPatches          x      [N, L, D]   (patch embedding + position)
 *   → masking.sample                mask   [N, L]      (1 = removed)
 *   → x·(1 − m) + (token + pos)·m   x      [N, L, D]
 *   → encoder.prependCls            [N, 1 + L, D]
 *   → encoder.encodeTokens          latent [N, 1 + L, D]
 *   → drop cls, head                pred   [N, L, p·p·C]
 *   → maskedMSE(pred, patchTargets(imgs), mask)
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  Linear,
  RandomMasking,
  ViTEncoder,
  maskedMSE,
  patchTargets,
  sincosPosEmbed2d,
  type MaskingStrategy,
} from '../../src';

/** Arguments of {@link SimMIM}. */
export interface SimMIMArgs {
  /** Image side. Defaults to 16. */
  imgSize?: number;
  /** Patch side p. Defaults to 4. */
  patchSize?: number;
  /** Channels C. Defaults to 1. */
  inChans?: number;
  /** Token width D. Defaults to 32. */
  embedDim?: number;
  /** Encoder blocks. Defaults to 2. */
  depth?: number;
  /** Attention heads. Defaults to 2. */
  numHeads?: number;
  /** Fraction of patches replaced by the mask token. Defaults to 0.5. */
  maskRatio?: number;
  /** Which patches are removed. Defaults to `new RandomMasking()`. */
  masking?: MaskingStrategy;
  /** Weight-init seed. Defaults to 0. */
  seed?: number;
}

/** What {@link SimMIM.forward} returns; the caller disposes it. */
export interface SimMIMOutput {
  /** Scalar: mean squared error over the removed patches. */
  loss: tf.Scalar;
  /** `[N, L, p·p·C]`: predicted pixels of every patch. */
  pred: tf.Tensor3D;
  /** `[N, L]`: 1 = removed. */
  mask: tf.Tensor2D;
}

export class SimMIM {
  readonly encoder: ViTEncoder;
  readonly head: Linear;
  readonly maskToken: tf.Variable;
  readonly masking: MaskingStrategy;
  readonly maskRatio: number;
  /** `[1, L, D]`: the fixed 2-D sin-cos position of each patch (the encoder's own table, without the cls row). */
  private readonly pos: tf.Tensor3D;

  constructor(args: SimMIMArgs = {}) {
    const p = args.patchSize ?? 4;
    const inChans = args.inChans ?? 1;
    const d = args.embedDim ?? 32;
    const seed = args.seed ?? 0;
    this.encoder = new ViTEncoder({
      imgSize: args.imgSize ?? 16,
      patchSize: p,
      inChans,
      embedDim: d,
      depth: args.depth ?? 2,
      numHeads: args.numHeads ?? 2,
      seed,
    });
    this.head = new Linear({ inFeatures: d, units: p * p * inChans, seed: seed + 1 });
    // tfjs-mae layers create their weights lazily: build now so `variables` lists them all
    this.encoder.ensureBuilt();
    this.head.ensureBuilt();
    this.maskToken = tf.variable(tf.randomNormal([1, 1, d], 0, 0.02, 'float32', seed + 2), true);
    this.masking = args.masking ?? new RandomMasking();
    this.maskRatio = args.maskRatio ?? 0.5;
    const [h, w] = this.encoder.gridSize;
    this.pos = tf.tidy(() => tf.expandDims(sincosPosEmbed2d(d, h, w), 0) as tf.Tensor3D);
  }

  /** Everything the optimiser updates. */
  get variables(): tf.Variable[] {
    const of = (l: { trainableWeights: { read(): tf.Tensor }[] }) => l.trainableWeights.map((w) => w.read() as tf.Variable);
    return [...of(this.encoder), ...of(this.head), this.maskToken];
  }

  /**
   * @param imgs `[N, H, W, C]`
   * @param seed seed of the mask draw
   */
  forward(imgs: tf.Tensor4D, seed: number): SimMIMOutput {
    const n = imgs.shape[0];
    const { mask, idsKeep, idsRestore } = this.masking.sample(n, this.encoder.gridSize, { maskRatio: this.maskRatio, seed });
    tf.dispose([idsKeep, idsRestore]); // SimMIM keeps every position: only the mask is needed
    return tf.tidy(() => {
      const x = this.encoder.embedPatches(imgs); // [N, L, D], position included
      const m = tf.expandDims(mask, 2); // [N, L, 1]
      const token = tf.add(this.maskToken, this.pos); // [1, L, D]: the mask token at each position
      const mixed = tf.add(tf.mul(x, tf.sub(1, m)), tf.mul(token, m)) as tf.Tensor3D;
      const withCls = this.encoder.prependCls(mixed); // [N, 1 + L, D]
      const { latent } = this.encoder.encodeTokens(withCls); // [N, 1 + L, D]
      const [, t, d] = latent.shape;
      const tokens = tf.slice(latent, [0, 1, 0], [n, t - 1, d]); // drop cls
      const pred = this.head.apply(tokens) as tf.Tensor3D; // [N, L, p·p·C]
      const target = patchTargets(imgs, this.encoder.patchSize);
      return { loss: maskedMSE(pred, target, mask), pred, mask };
    });
  }

  /** The scalar loss only (for `optimizer.minimize`). */
  loss(imgs: tf.Tensor4D, seed: number): tf.Scalar {
    const { loss, pred, mask } = this.forward(imgs, seed);
    tf.dispose([pred, mask]);
    return loss;
  }

  dispose(): void {
    this.encoder.dispose();
    this.head.dispose();
    tf.dispose([this.maskToken, this.pos]);
  }
}

/** The MAE reconstruction loss (official `forward_loss`). */
import * as tf from '@tensorflow/tfjs-core';
import { MAEInputError, describe } from '../errors';
import { tensorOfRank } from '../util/validate';
import { patchify } from '../patch/patchify';

/** Options of {@link patchTargets}. */
export interface PatchTargetOptions {
  /**
   * Normalise each patch to zero mean and unit variance:
   * `(t − mean) / √(var + 1e-6)` with the **unbiased** variance (÷ (p·p·C − 1)),
   * as the official code (`torch.var` defaults to unbiased). Defaults to `false`.
   */
  normPixLoss?: boolean;
}

/**
 * The regression targets: `patchify(imgs)`, per-patch normalised with `normPixLoss`.
 *
 * @param imgs `[N, H, W, C]`
 * @returns `[N, L, p·p·C]`
 */
export function patchTargets(imgs: tf.Tensor, patchSize: number, options: PatchTargetOptions = {}): tf.Tensor3D {
  const target = patchify(imgs, patchSize);
  if (!options.normPixLoss) return target;
  return tf.tidy(() => {
    const f = target.shape[2];
    const mean = tf.mean(target, -1, true);
    const centred = tf.sub(target, mean);
    const variance = tf.div(tf.sum(tf.square(centred), -1, true), Math.max(f - 1, 1)); // unbiased
    target.dispose();
    return tf.div(centred, tf.sqrt(tf.add(variance, 1e-6))) as tf.Tensor3D;
  });
}

/**
 * Mean squared error per patch, averaged over the removed patches only:
 * `Σ(mean((pred − target)², −1) · mask) / Σ mask`. With no removed patch
 * (`maskRatio = 0`) the loss is 0, not NaN. Without `mask` every patch
 * counts (the rows are already the removed ones, as from
 * `MAEDecoder.forwardMasked`).
 *
 * @param pred `[N, L, F]`
 * @param target `[N, L, F]`
 * @param mask `[N, L]`, 1 = removed; defaults to all ones
 * @returns a scalar
 */
export function maskedMSE(pred: tf.Tensor, target: tf.Tensor, mask?: tf.Tensor): tf.Scalar {
  tensorOfRank('pred', pred, 3, '[N, L, F]');
  tensorOfRank('target', target, 3, '[N, L, F]');
  if (mask !== undefined) tensorOfRank('mask', mask, 2, '[N, L]');
  if (!tf.util.arraysEqual(pred.shape, target.shape) || (mask && (mask.shape[0] !== pred.shape[0] || mask.shape[1] !== pred.shape[1]))) {
    throw new MAEInputError(
      `pred, target and mask must be [N, L, F], [N, L, F], [N, L]; got ${describe(pred.shape)}, ${describe(target.shape)}, ${describe(mask?.shape)}`,
    );
  }
  return tf.tidy(() => {
    const perPatch = tf.mean(tf.square(tf.sub(pred, target)), -1); // [N, L], mean loss per patch
    if (mask === undefined) return tf.mean(perPatch) as tf.Scalar;
    const m = mask.dtype === 'float32' ? mask : tf.cast(mask, 'float32');
    return tf.div(tf.sum(tf.mul(perPatch, m)), tf.maximum(tf.sum(m), 1)) as tf.Scalar;
  });
}

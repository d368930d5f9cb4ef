/**
 * De-normalisation of norm-pix predictions (models trained with
 * `normPixLoss: true`), with an explicit choice of statistics.
 *
 * Such a model predicts each patch as `(x − μ) / √(σ² + eps)`, with μ and
 * σ² the mean and unbiased variance of that patch's own p·p·C values
 * (`patchTargets`). To draw the prediction, every patch needs a μ and a σ²:
 *
 * - `'visible'` (default): from what is known at inference, the visible
 *   patches of the same image: μ̂ = the mean of their patch means, σ̂² = the
 *   mean of their patch variances, one pair per image, used for every patch;
 * - `'target'`: each patch's own μ and σ², taken from the image itself. For a
 *   removed patch this is the answer the model had to guess (its brightness
 *   and contrast): the picture looks right even for a model that predicts
 *   nothing. A diagnostic only; say so when you show it.
 *
 * See docs/visualisation.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { positiveInt, positiveNumber, tensorOfRank } from '../util/validate';
import { patchify } from '../patch/patchify';

/** Where the mean and variance of each patch come from; see {@link denormalizeNormPix}. */
export type NormPixStats = 'visible' | 'target';

/** Options of {@link denormalizeNormPix}. */
export interface DenormalizeNormPixArgs {
  /** Patch side p. Required. */
  patchSize: number;
  /**
   * `'visible'`: per image, the mean patch mean and mean patch variance of the
   * visible patches (available at inference). `'target'`: each patch's own
   * statistics (leaks the removed patches; diagnostics only). Defaults to `'visible'`.
   */
  stats?: NormPixStats;
  /** The epsilon of the targets, `√(σ² + eps)`. Defaults to `1e-6` (official). */
  eps?: number;
}

/**
 * Turns a norm-pix prediction into the units of the images the model was fed
 * (undo the per-patch normalisation), so that `reconstructionGrid`
 * can draw it: `pred · √(σ² + eps) + μ` with μ, σ² chosen by `stats`.
 *
 * With `'visible'`, an image without any visible patch (a mask of all ones)
 * gets μ = 0, σ² = 1, i.e. the data set's normalisation.
 *
 * ```ts
 * const out = mae.forward(imgs, { seed: 0 });             // mae.config.normPixLoss === true
 * const pixels = denormalizeNormPix(imgs, out.pred, out.mask, { patchSize: mae.config.patchSize });
 * const picture = await reconstructionGrid(imgs, pixels, out.mask, { patchSize: mae.config.patchSize, mean, std });
 * ```
 *
 * @param images `[N, H, W, C]`, as fed to the model (normalised)
 * @param pred `[N, L, p·p·C]`, the norm-pix prediction
 * @param mask `[N, L]`, 1 = removed
 * @returns `[N, L, p·p·C]` in the images' units; the caller disposes it
 */
export function denormalizeNormPix(images: tf.Tensor, pred: tf.Tensor, mask: tf.Tensor, args: DenormalizeNormPixArgs): tf.Tensor3D {
  tensorOfRank('images', images, 4, '[N, H, W, C]');
  const { patchSize, stats = 'visible', eps: epsArg = 1e-6 } = args ?? ({} as Partial<DenormalizeNormPixArgs>);
  const p = positiveInt('patchSize', patchSize);
  if (stats !== 'visible' && stats !== 'target') {
    throw new MAEConfigError(`stats: expected 'visible' or 'target', got ${describe(stats)}`);
  }
  const eps = positiveNumber('eps', epsArg);
  const [n, h, w, c] = images.shape as [number, number, number, number];
  if (h % p !== 0 || w % p !== 0) {
    throw new MAEConfigError(`patchSize: expected a divisor of H ${h} and W ${w}, got ${p}`);
  }
  const l = (h / p) * (w / p);
  const f = p * p * c;
  tensorOfRank('pred', pred, 3, '[N, L, p·p·C]');
  if (!tf.util.arraysEqual(pred.shape, [n, l, f])) {
    throw new MAEInputError(`pred: expected shape [${n}, ${l}, ${f}] ([N, L, p·p·C]), got ${describe(pred.shape)}`);
  }
  tensorOfRank('mask', mask, 2, '[N, L]');
  if (!tf.util.arraysEqual(mask.shape, [n, l])) {
    throw new MAEInputError(`mask: expected shape [${n}, ${l}] ([N, L]), got ${describe(mask.shape)}`);
  }
  return tf.tidy(() => {
    const patches = patchify(images, p); // [N, L, F]
    const mean = tf.mean(patches, -1, true); // [N, L, 1]
    const variance = tf.div(tf.sum(tf.square(tf.sub(patches, mean)), -1, true), Math.max(f - 1, 1)); // unbiased, as the targets
    let mu: tf.Tensor = mean;
    let sigma2: tf.Tensor = variance;
    if (stats === 'visible') {
      const visible = tf.expandDims(tf.sub(1, tf.cast(mask, 'float32')), 2); // [N, L, 1], 1 = visible
      const count = tf.sum(visible, 1, true); // [N, 1, 1]
      const denom = tf.maximum(count, 1);
      const none = tf.sub(1, tf.minimum(count, 1)); // 1 when no patch is visible
      mu = tf.div(tf.sum(tf.mul(mean, visible), 1, true), denom); // [N, 1, 1]
      sigma2 = tf.add(tf.div(tf.sum(tf.mul(variance, visible), 1, true), denom), none);
    }
    return tf.add(tf.mul(pred, tf.sqrt(tf.add(sigma2, eps))), mu) as tf.Tensor3D;
  });
}

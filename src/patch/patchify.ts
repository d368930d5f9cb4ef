/** Images ↔ patch sequences, in the official token and feature order. */
import * as tf from '@tensorflow/tfjs-core';
import { MAEInputError, describe } from '../errors';
import { positiveInt, tensorOfRank } from '../util/validate';

/**
 * Cuts NHWC images into non-overlapping p×p patches.
 *
 * Token `t = i·w + j` is the patch at rows `i·p…`, columns `j·p…`; inside it,
 * feature `(py·p + px)·C + c` (the official `patchify`, for any channel count
 * and rectangular grids).
 *
 * @param imgs `[N, H, W, C]`, H and W divisible by `patchSize`
 * @returns `[N, L, p·p·C]` with `L = (H/p)·(W/p)`
 */
export function patchify(imgs: tf.Tensor, patchSize: number): tf.Tensor3D {
  const p = positiveInt('patchSize', patchSize);
  tensorOfRank('imgs', imgs, 4, '[N, H, W, C]');
  const [n, hh, ww, c] = imgs.shape as [number, number, number, number];
  if (hh % p !== 0 || ww % p !== 0) {
    throw new MAEInputError(
      `imgs height and width must be divisible by patchSize ${p}, got shape ${describe(imgs.shape)}`,
    );
  }
  const h = hh / p;
  const w = ww / p;
  return tf.tidy(() => {
    const x = tf.reshape(imgs, [n, h, p, w, p, c]);
    return tf.reshape(tf.transpose(x, [0, 1, 3, 2, 4, 5]), [n, h * w, p * p * c]);
  });
}

/**
 * The inverse of {@link patchify}.
 *
 * @param x `[N, L, p·p·C]` with `L = gridHW[0]·gridHW[1]`
 * @param gridHW `[h, w]`, the patch grid
 * @returns `[N, h·p, w·p, C]`
 */
export function unpatchify(x: tf.Tensor, patchSize: number, gridHW: [number, number], channels: number): tf.Tensor4D {
  const p = positiveInt('patchSize', patchSize);
  const c = positiveInt('channels', channels);
  const h = positiveInt('gridHW[0]', gridHW?.[0]);
  const w = positiveInt('gridHW[1]', gridHW?.[1]);
  tensorOfRank('x', x, 3, '[N, L, p*p*C]');
  const [n, l, f] = x.shape as [number, number, number];
  if (l !== h * w || f !== p * p * c) {
    throw new MAEInputError(
      `x must have shape [N, ${h * w}, ${p * p * c}] for grid [${h}, ${w}], patchSize ${p} and ${c} channels, got ${describe(x.shape)}`,
    );
  }
  return tf.tidy(() => {
    const y = tf.reshape(x, [n, h, w, p, p, c]);
    return tf.reshape(tf.transpose(y, [0, 1, 3, 2, 4, 5]), [n, h * p, w * p, c]);
  });
}

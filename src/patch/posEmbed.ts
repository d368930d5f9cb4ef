/** Fixed 2-D sin-cos position embeddings and their resampling (official `util/pos_embed.py`). */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { divisible, positiveInt } from '../util/validate';

/** Options of {@link sincosPosEmbed2d}. */
export interface SincosOptions {
  /** Prepend an all-zero row for the cls token. Defaults to `false`. */
  clsToken?: boolean;
}

/**
 * The official table as a float32 array (computed in float64, rounded once).
 * Row `r = i·gridW + j` (after the optional cls row): the first `dim/2`
 * channels encode the column j, the last `dim/2` the row i; each half is
 * `[sin(pos·ω_k)]_k ++ [cos(pos·ω_k)]_k` with `ω_k = 10000^(−k/(dim/4))`.
 */
export function sincosTable(dim: number, gridH: number, gridW: number, clsToken = false): Float32Array {
  positiveInt('dim', dim);
  positiveInt('gridH', gridH);
  positiveInt('gridW', gridW);
  divisible('dim', dim, 4, 'the 2-D sin-cos table uses dim/4 frequencies per axis');
  const quarter = dim / 4;
  const omega = new Float64Array(quarter);
  for (let k = 0; k < quarter; k++) omega[k] = 1 / 10000 ** (k / quarter);
  const offset = clsToken ? 1 : 0;
  const out = new Float32Array((offset + gridH * gridW) * dim);
  for (let i = 0; i < gridH; i++) {
    for (let j = 0; j < gridW; j++) {
      const row = (offset + i * gridW + j) * dim;
      for (let k = 0; k < quarter; k++) {
        out[row + k] = Math.sin(j * omega[k]);
        out[row + quarter + k] = Math.cos(j * omega[k]);
        out[row + 2 * quarter + k] = Math.sin(i * omega[k]);
        out[row + 3 * quarter + k] = Math.cos(i * omega[k]);
      }
    }
  }
  return out;
}

/**
 * The official 2-D sin-cos position embedding (`get_2d_sincos_pos_embed`),
 * generalised to rectangular grids.
 *
 * @returns `[gridH·gridW, dim]`, or `[1 + gridH·gridW, dim]` with a zero cls row first
 *
 * @example
 * ```ts
 * const table = sincosPosEmbed2d(768, 14, 14, { clsToken: true }); // [197, 768]
 * ```
 */
export function sincosPosEmbed2d(dim: number, gridH: number, gridW: number, options: SincosOptions = {}): tf.Tensor2D {
  const cls = options.clsToken ?? false;
  const values = sincosTable(dim, gridH, gridW, cls);
  return tf.tensor2d(values, [(cls ? 1 : 0) + gridH * gridW, dim]);
}

/**
 * 1-D resampling matrix `[out, in]` of torch's bicubic interpolation
 * (`align_corners=False`, A = −0.75, taps clamped at the border, no antialias).
 */
export function bicubicMatrix(inSize: number, outSize: number): Float32Array {
  const A = -0.75;
  const cubic1 = (t: number): number => ((A + 2) * t - (A + 3)) * t * t + 1; // |t| ≤ 1
  const cubic2 = (t: number): number => ((A * t - 5 * A) * t + 8 * A) * t - 4 * A; // 1 < |t| < 2
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = (o + 0.5) * scale - 0.5;
    const i0 = Math.floor(src);
    const t = src - i0;
    const weights = [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)];
    for (let k = 0; k < 4; k++) {
      const idx = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      m[o * inSize + idx] += weights[k];
    }
  }
  return Float32Array.from(m);
}

/**
 * Resamples a position table to another patch grid, as the official
 * `interpolate_pos_embed` (torch bicubic, see `bicubicMatrix`); the cls
 * row (when `posEmbed` has `1 + fromH·fromW` rows) is kept as is.
 *
 * @param posEmbed `[1, T, D]` or `[T, D]` with `T = fromH·fromW` or `1 + fromH·fromW`
 * @param fromHW `[fromH, fromW]`, the grid of `posEmbed`
 * @param toHW `[toH, toW]`, the new grid
 * @returns the same rank as `posEmbed`, with `toH·toW` (+1) rows
 */
export function interpolatePosEmbed(posEmbed: tf.Tensor, fromHW: [number, number], toHW: [number, number]): tf.Tensor {
  const [fh, fw] = [positiveInt('fromHW[0]', fromHW?.[0]), positiveInt('fromHW[1]', fromHW?.[1])];
  const [th, tw] = [positiveInt('toHW[0]', toHW?.[0]), positiveInt('toHW[1]', toHW?.[1])];
  if (!(posEmbed instanceof tf.Tensor) || (posEmbed.rank !== 2 && posEmbed.rank !== 3)) {
    throw new MAEInputError(`posEmbed must be a tf.Tensor of shape [1, T, D] or [T, D], got ${describe(posEmbed instanceof tf.Tensor ? posEmbed.shape : posEmbed)}`);
  }
  const rows = posEmbed.shape[posEmbed.rank - 2];
  const d = posEmbed.shape[posEmbed.rank - 1];
  const extra = rows - fh * fw;
  if (extra !== 0 && extra !== 1) {
    throw new MAEConfigError(
      `posEmbed has ${rows} rows, expected ${fh * fw} or ${1 + fh * fw} for fromHW [${fh}, ${fw}]`,
    );
  }
  return tf.tidy(() => {
    const table = tf.reshape(posEmbed, [rows, d]);
    const grid = tf.slice(table, [extra, 0], [fh * fw, d]);
    const my = tf.tensor2d(bicubicMatrix(fh, th), [th, fh]);
    const mx = tf.tensor2d(bicubicMatrix(fw, tw), [tw, fw]);
    // Rows first: [th, fh] · [fh, fw·D] → [th, fw, D]; then columns per row.
    const byRows = tf.reshape(tf.matMul(my, tf.reshape(grid, [fh, fw * d])), [th, fw, d]);
    const cols = tf.transpose(byRows, [1, 0, 2]); // [fw, th, D]
    const both = tf.reshape(tf.matMul(mx, tf.reshape(cols, [fw, th * d])), [tw, th, d]);
    let out = tf.reshape(tf.transpose(both, [1, 0, 2]), [th * tw, d]);
    if (extra === 1) out = tf.concat([tf.slice(table, [0, 0], [1, d]), out], 0);
    return posEmbed.rank === 3 ? tf.expandDims(out, 0) : out;
  });
}

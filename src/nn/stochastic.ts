/** Training-time noise: dropout rates and stochastic depth (timm `DropPath`). */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, describe } from '../errors';

/** `value` must be a probability in `[0, 1)` (a rate of 1 would divide by zero). */
export function dropRate(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1) {
    throw new MAEConfigError(`${name} must be a number in [0, 1), got ${describe(value)}`);
  }
  return value;
}

/**
 * Stochastic depth on a residual branch: each sample's whole branch is
 * zeroed with probability `rate`, the kept ones are scaled by `1/(1 − rate)`
 * (timm `drop_path`: `x / keep · floor(keep + U[0, 1))` per sample).
 *
 * @param x `[N, ...]`, the branch output
 * @param rate drop probability in `[0, 1)`; `0` returns `x` unchanged (a clone)
 * @param seed seed of the per-sample draw. Defaults to a random draw.
 * @returns `[N, ...]`
 */
export function dropPath(x: tf.Tensor, rate: number, seed?: number): tf.Tensor {
  const noiseShape = [x.shape[0], ...new Array<number>(x.rank - 1).fill(1)];
  return tf.dropout(x, rate, noiseShape, seed);
}

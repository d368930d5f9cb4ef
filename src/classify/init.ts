/** The fine-tuning recipes' initialisers, applied to already built layers. */
import * as tf from '@tensorflow/tfjs-core';
import type { Linear } from '../nn/Linear';
import { initWeight, normal } from '../nn/init';

/**
 * Re-initialises a built Linear as timm does: weight `N(0, std²)`, bias 0
 * (inside a load's deferred init: drawn after the load, unless loaded).
 * (timm's `trunc_normal_(std)` truncates at ±2 in absolute value, i.e. ±100σ
 * for std .02, so it is a plain normal in effect.)
 *
 * @param seed seed of the draw. Defaults to a random draw.
 */
export function reinitLinear(linear: Linear, std: number, seed?: number): void {
  linear.ensureBuilt();
  const kernel = normal(std, seed);
  initWeight(linear.kernel, () => kernel.apply(linear.kernel.shape as number[], 'float32'));
  const bias = linear.bias;
  if (bias) initWeight(bias, () => tf.zeros(bias.shape as number[]));
}

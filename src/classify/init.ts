/** The fine-tuning recipes' initialisers, applied to already built layers. */
import * as tf from '@tensorflow/tfjs-core';
import type { Linear } from '../nn/Linear';
import { normalSeed } from '../nn/init';

/**
 * Re-initialises a built Linear as timm does: weight `N(0, std²)`, bias 0.
 * (timm's `trunc_normal_(std)` truncates at ±2 in absolute value, i.e. ±100σ
 * for std .02, so it is a plain normal in effect.)
 *
 * @param seed seed of the draw. Defaults to a random draw.
 */
export function reinitLinear(linear: Linear, std: number, seed?: number): void {
  linear.ensureBuilt();
  tf.tidy(() => {
    linear.kernel.write(tf.randomNormal(linear.kernel.shape as number[], 0, std, 'float32', normalSeed(seed)));
    if (linear.bias) linear.bias.write(tf.zeros(linear.bias.shape as number[]));
  });
}

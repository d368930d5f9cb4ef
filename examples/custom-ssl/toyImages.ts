/**
 * Small synthetic images for the custom-SSL examples: per image, a random
 * brightness and a random linear ramp, plus a faint sine grating. A removed
 * patch cannot be guessed without context (the brightness and the ramp vary
 * from image to image) but is easy to infer from the visible ones, which is
 * what a masked-image model has to learn.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * @param n number of images N
 * @param size image side H = W
 * @param channels C
 * @param seed the same seed gives the same images on every backend
 * @returns `[N, size, size, C]` float32, values in about [-3, 3]
 */
export function toyImages(n: number, size: number, channels: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    // seeded draws are made on the host: the same on every backend
    const [level, slopeX, slopeY, phase] = tf.unstack(tf.randomUniform([4, n, 1, 1, 1], -1, 1, 'float32', seed));
    const ys = tf.reshape(tf.linspace(-1, 1, size), [1, size, 1, 1]);
    const xs = tf.reshape(tf.linspace(-1, 1, size), [1, 1, size, 1]);
    const ramp = tf.add(level, tf.add(tf.mul(slopeX, xs), tf.mul(slopeY, ys))); // [N, H, W, 1]
    const grating = tf.mul(tf.sin(tf.add(tf.mul(xs, 6), tf.mul(phase, Math.PI))), 0.1);
    const perChannel = tf.reshape(tf.linspace(1, 0.5, channels), [1, 1, 1, channels]);
    return tf.mul(tf.add(ramp, grating), perChannel) as tf.Tensor4D;
  });
}

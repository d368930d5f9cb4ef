import * as tf from '@tensorflow/tfjs-core';
import {
  lenKeepFor,
  maskSampleFromIdsKeep,
  registerMaskingStrategy,
  type MaskingConfig,
  type MaskingOptions,
  type MaskingStrategy,
  type MaskSample,
} from 'tfjs-mae';

/**
 * Keeps the first K patches in raster order (the top of the image) and
 * removes the rest, K = trunc(L·(1 − maskRatio)): "predict the bottom from
 * the top". The same mask for every sample; no randomness.
 */
export class FirstK implements MaskingStrategy {
  lenKeep(gridHW: [number, number], maskRatio: number): number {
    return lenKeepFor(gridHW[0] * gridHW[1], maskRatio); // throws for a ratio that keeps nothing
  }

  sample(n: number, gridHW: [number, number], options: MaskingOptions & { maskRatio: number }): MaskSample {
    const l = gridHW[0] * gridHW[1];
    const k = this.lenKeep(gridHW, options.maskRatio);
    const idsKeep = tf.tidy(() => tf.tile(tf.expandDims(tf.range(0, k, 1, 'int32'), 0), [n, 1])); // [N, K]: 0 … K−1
    try {
      return maskSampleFromIdsKeep(idsKeep, l); // idsRestore [N, L] and mask [N, L], computed on the device
    } finally {
      idsKeep.dispose();
    }
  }

  toConfig(): MaskingConfig {
    return { type: 'first-k' };
  }
}

registerMaskingStrategy('first-k', () => new FirstK());

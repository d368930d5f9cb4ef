/**
 * The training step every benchmark times, and the small helpers around it.
 * Browser-safe (no Node modules): `bench/measure.ts` (Node) and the browser
 * benchmark's page (`bench/browser/`) both run it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../src/train/adamw';
import { paramGroups } from '../src/train/paramGroups';
import type { BenchConfig } from './configs';
import type { TrainModel } from './models';

/** Seconds since an arbitrary origin. */
export const now = (): number => performance.now() / 1000;

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Random images `[N, H, W, C]` in [0, 1), fixed for a measurement. */
export function images(cfg: BenchConfig, batch: number): tf.Tensor4D {
  return tf.randomUniform([batch, cfg.imgSize, cfg.imgSize, cfg.inChans], 0, 1, 'float32', 7) as tf.Tensor4D;
}

/** An AdamW with the official MAE pre-training settings (lr 1.5e-4, betas (0.9, 0.95), wd 0.05 on ≥2-D weights). */
export function maeOptimizer(model: TrainModel): AdamW {
  return new AdamW(paramGroups(model.params, { weightDecay: 0.05 }), { lr: 1.5e-4, betas: [0.9, 0.95] });
}

/**
 * One training step: loss, gradients of every trainable parameter, AdamW
 * update. Returns the loss (the caller reads or disposes it); nothing is
 * read back to the host here.
 */
export function trainStep(model: TrainModel, opt: AdamW, imgs: tf.Tensor4D): tf.Scalar {
  const { value, grads } = tf.variableGrads(() => model.loss(imgs), opt.variables);
  opt.step(grads);
  tf.dispose(Object.values(grads));
  return value;
}

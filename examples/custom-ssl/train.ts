/** A few optimisation steps of any scalar loss, recording the losses (for the example tests). */
import * as tf from '@tensorflow/tfjs-core';

export interface FitArgs {
  /** Steps. Defaults to 20. */
  steps?: number;
  /** Adam learning rate. Defaults to 3e-3. */
  lr?: number;
}

/**
 * Runs `steps` Adam updates of `vars` on `loss(step)`; returns the loss of each
 * step. Leak-free: every step's tensors are released.
 */
export async function fit(loss: (step: number) => tf.Scalar, vars: tf.Variable[], args: FitArgs = {}): Promise<number[]> {
  const opt = tf.train.adam(args.lr ?? 3e-3);
  const losses: number[] = [];
  try {
    for (let step = 0; step < (args.steps ?? 20); step++) {
      const value = opt.minimize(() => loss(step), true, vars) as tf.Scalar;
      losses.push((await value.data())[0]);
      value.dispose();
    }
  } finally {
    opt.dispose();
  }
  return losses;
}


/**
 * The loss of a model on fixed masks, next to the loss of predicting zeros
 * on the same removed patches (the best guess without context for these
 * zero-mean images): a model below it uses the visible patches.
 */
export async function heldOutLoss(
  forward: () => { loss: tf.Scalar; mask: tf.Tensor2D; pred?: tf.Tensor },
  target: tf.Tensor3D,
  maskedMSE: (pred: tf.Tensor, target: tf.Tensor, mask: tf.Tensor) => tf.Scalar,
): Promise<{ loss: number; zeroLoss: number }> {
  const out = forward();
  const zero = tf.tidy(() => maskedMSE(tf.zerosLike(target), target, out.mask));
  const [loss, zeroLoss] = [(await out.loss.data())[0], (await zero.data())[0]];
  tf.dispose([out.loss, out.mask, zero, ...(out.pred ? [out.pred] : [])]);
  return { loss, zeroLoss };
}

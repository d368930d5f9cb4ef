/**
 * Earlier versions of library pieces, patched into the prototypes of this
 * process only, for the step-level experiments (stepAB.ts, heap.ts):
 *
 *   current           the library as it is
 *   autodiffLnGelu    LayerNorm and GELU as before: autodiff through small
 *                     ops instead of the hand-written gradients
 *   batchedAttention  attention as before: batched tf.matMul (wasm's plain
 *                     loop) through a customGrad with explicit transposes
 */
import * as tf from '@tensorflow/tfjs-core';
import { Attention, LayerNorm, Mlp } from '../../src';

type Saver = (tensors: tf.Tensor[]) => void;
type GradFunc = Parameters<typeof tf.customGrad>[0];

const shipped = {
  lnCall: LayerNorm.prototype.call,
  mlpCall: Mlp.prototype.call,
  attnCall: Attention.prototype.call,
};

function lnAutodiff(this: LayerNorm, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, this.eps))), this.gamma.read()), this.beta.read());
  });
}

function mlpAutodiff(this: Mlp, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  return tf.tidy(() => {
    const hdn = this.fc1.call(x);
    return this.fc2.call(tf.mul(tf.mul(hdn, 0.5), tf.add(tf.erf(tf.mul(hdn, Math.SQRT1_2)), 1)));
  });
}

/** The previous batched product: tf.matMul, backward with explicit transposes (also used by attention.ts, ops.ts). */
export const batchMatMul = tf.customGrad(((a: tf.Tensor3D, b: tf.Tensor3D, save: Saver) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor3D, [as, bs]: tf.Tensor[]) => [
      tf.matMul(dy, tf.transpose(bs, [0, 2, 1])),
      tf.matMul(tf.transpose(as, [0, 2, 1]), dy),
    ],
  };
}) as unknown as GradFunc) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor3D;

function attnBatched(this: Attention, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  return tf.tidy(() => {
    const [n, t, d] = x.shape as [number, number, number];
    const h = this.numHeads;
    const hd = d / h;
    const qkv = this.qkv.call(x);
    const heads = (i: number): tf.Tensor =>
      tf.reshape(tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, i * d], [n, t, d]), [n, t, h, hd]), [0, 2, 1, 3]), [n * h, t, hd]);
    const scores = tf.mul(batchMatMul(heads(0), tf.transpose(heads(1), [0, 2, 1])), hd ** -0.5);
    const out = batchMatMul(tf.softmax(scores), heads(2));
    return this.proj.call(tf.reshape(tf.transpose(tf.reshape(out, [n, h, t, hd]), [0, 2, 1, 3]), [n, t, d]));
  });
}

/** Switches the prototypes to a named variant. */
export const forms: Record<string, () => void> = {
  current: () => {
    LayerNorm.prototype.call = shipped.lnCall;
    Mlp.prototype.call = shipped.mlpCall;
    Attention.prototype.call = shipped.attnCall;
  },
  autodiffLnGelu: () => {
    forms.current();
    LayerNorm.prototype.call = lnAutodiff;
    Mlp.prototype.call = mlpAutodiff;
  },
  batchedAttention: () => {
    forms.current();
    Attention.prototype.call = attnBatched;
  },
};

/** Classification loss and accuracy, and label handling shared by the probes and fine-tuning. */
import * as tf from '@tensorflow/tfjs-core';
import { MAEInputError, describe } from '../errors';

/** Class labels: a host integer array or a `[N]` tensor. */
export type Labels = ArrayLike<number> | tf.Tensor;

/**
 * Mean softmax cross-entropy (torch `F.cross_entropy`):
 * `mean_i(logsumexp(logits_i) − logits_i[y_i])`.
 *
 * @param logits `[B, K]`
 * @param labels `[B]` int32 in `[0, K)`
 * @returns a scalar
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1] as number;
    const logp = tf.logSoftmax(logits);
    // One-hot by comparison: wasm's OneHot ignores a float32 dtype, webgpu's int32 one is broken.
    const oneHot = tf.cast(tf.equal(tf.expandDims(tf.cast(labels, 'int32'), 1), tf.range(0, k, 1, 'int32')), 'float32');
    const picked = tf.sum(tf.mul(logp, oneHot), 1);
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}

/**
 * Mean cross-entropy against soft targets (timm `SoftTargetCrossEntropy`):
 * `mean_i(Σ_k −targets_ik · log_softmax(logits_i)_k)`. With smoothed one-hot
 * targets it equals timm's `LabelSmoothingCrossEntropy`.
 *
 * @param logits `[B, K]`
 * @param targets `[B, K]` float32, rows summing to 1 (e.g. from `mixupCutmix`)
 * @returns a scalar
 */
export function softTargetCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  if (!(targets instanceof tf.Tensor) || !tf.util.arraysEqual(targets.shape, logits.shape)) {
    throw new MAEInputError(`targets: expected a [B, K] tensor shaped like the logits ${describe(logits.shape)}, got ${describe(targets instanceof tf.Tensor ? targets.shape : targets)}`);
  }
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as tf.Scalar);
}

/** How many rows of `logits [B, K]` have their largest value at `labels [B]`: an int32 scalar. */
export function countCorrect(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.cast(labels, 'int32')), 'int32')) as tf.Scalar);
}

/**
 * The sums that make the evaluation metrics of one batch: `[correct top-1,
 * correct top-k, summed cross-entropy]` of `logits [B, K]` against
 * `labels [B]`, a float32 `[3]` tensor (add them up over batches, divide by
 * the count). `k` is at most K.
 */
export function metricSums(logits: tf.Tensor, labels: tf.Tensor, k: number): tf.Tensor1D {
  return tf.tidy(() => {
    const y = tf.cast(labels, 'int32');
    const inTopK = tf.sum(tf.cast(tf.equal(tf.topk(logits, k).indices, tf.expandDims(y, 1)), 'float32')); // [B, k] → count
    return tf.stack([tf.cast(countCorrect(logits, y), 'float32'), inTopK, tf.mul(crossEntropy(logits, y), logits.shape[0])]) as tf.Tensor1D;
  });
}

/**
 * Labels on the host as `Int32Array`, checked to be integers in `[0, numClasses)`
 * (a tensor is read with `await data()`).
 */
export async function hostLabels(labels: Labels, name: string, n: number): Promise<Int32Array> {
  let values: ArrayLike<number>;
  if (labels instanceof tf.Tensor) {
    if (labels.rank !== 1) throw new MAEInputError(`${name}: expected shape [N], got ${describe(labels.shape)}`);
    values = await labels.data();
  } else if (labels != null && typeof (labels as ArrayLike<number>).length === 'number') {
    values = labels;
  } else {
    throw new MAEInputError(`${name}: expected an integer array or a [N] tensor, got ${describe(labels)}`);
  }
  if (values.length !== n) throw new MAEInputError(`${name}: expected ${n} labels (one per row), got ${values.length}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0) throw new MAEInputError(`${name}[${i}]: expected an integer class >= 0, got ${describe(v)}`);
    out[i] = v;
  }
  return out;
}

/** `max(labels) + 1`. */
export function classCount(...labelSets: Int32Array[]): number {
  let max = -1;
  for (const set of labelSets) for (const v of set) if (v > max) max = v;
  return max + 1;
}

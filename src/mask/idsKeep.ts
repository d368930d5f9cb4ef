/** A {@link MaskSample} from externally chosen kept patches. */
import * as tf from '@tensorflow/tfjs-core';
import { MAEInputError, describe } from '../errors';
import { positiveInt, tensorOfRank } from '../util/validate';
import { argsortRows } from '../nn/ops';
import type { MaskSample } from './strategy';

/**
 * Completes externally chosen kept patches into a sample: `idsRestore` is
 * `argsort(idsKeep ++ the remaining ids in patch order)` and `mask` is 1 on
 * the remaining ids. Runs on the device (no reads), so it works on every
 * backend.
 *
 * The ids must be distinct and in `[0, L)`; that is not checked, as it would
 * need a read from the device (a repeated or out-of-range id gives a wrong
 * sample, not an error).
 *
 * @param idsKeep `[N, K]` int32, `1 ≤ K ≤ L`, any order (kept as given)
 * @param numPatches L
 * @returns `idsKeep [N, K]` (a copy), `idsRestore [N, L]` int32, `mask [N, L]` float32
 */
export function maskSampleFromIdsKeep(idsKeep: tf.Tensor, numPatches: number): MaskSample {
  const l = positiveInt('numPatches', numPatches);
  const ids = tensorOfRank('idsKeep', idsKeep, 2, '[N, K]') as tf.Tensor2D;
  const [n, k] = ids.shape;
  if (ids.dtype !== 'int32' || k < 1 || k > l || n < 1) {
    throw new MAEInputError(`idsKeep must be int32 [N, K] with 1 ≤ K ≤ L = ${l}, got ${ids.dtype} ${describe(ids.shape)}`);
  }
  return tf.tidy(() => {
    // one-hot [N, K, L] by comparison: tf.oneHot gives wrong float32 values on wasm
    // (int bit patterns) and int32 output trips webgpu transposes
    const onehot = tf.cast(tf.equal(tf.expandDims(ids, 2), tf.reshape(tf.range(0, l, 1, 'int32'), [1, 1, l])), 'float32');
    const kept = tf.sum(onehot, 1); // [N, L], 1 = kept
    const slot = tf.sum(tf.mul(onehot, tf.reshape(tf.range(0, k, 1, 'float32'), [1, k, 1])), 1); // position in idsKeep
    const removed = tf.sub(1, kept);
    const after = tf.add(tf.range(0, l, 1, 'float32'), k); // removed patches follow, in patch order
    const key = tf.add(tf.mul(kept, slot), tf.mul(removed, after)) as tf.Tensor2D; // [N, L]
    const idsRestore = argsortRows(argsortRows(key)); // the rank of each key
    return { idsKeep: tf.clone(ids), idsRestore, mask: removed as tf.Tensor2D };
  });
}

/** Copies of one learned token (cls, mask) for every sample and position. */
import * as tf from '@tensorflow/tfjs-core';
import { MAEInputError, describe } from '../errors';

type GradFunc = Parameters<typeof tf.customGrad>[0];

/**
 * `token [1, 1, D]` → `[N, count, D]`, every row a copy.
 *
 * The gradient is one sum over the copies. (tfjs 4.22's own gradient of
 * `broadcastTo`/`tile` slices and adds the output gradient once per copy:
 * N·(L − K) tiny kernels for the MAE's mask tokens, measured at ~70 % of a
 * Fashion-MNIST pre-training step on wasm.) The copies are made by a
 * broadcasting add to zeros, not by `tile`: wasm's Tile kernel took 14.7 ms for
 * 768 copies of 256 floats, the add 0.7 ms.
 */
export function repeatToken(token: tf.Tensor, n: number, count: number): tf.Tensor3D {
  const d = token.shape[token.rank - 1];
  const op = tf.customGrad(((t: tf.Tensor) => ({
    value: tf.add(tf.zeros([n, count, d]), tf.reshape(t, [1, 1, d])),
    gradFunc: (dy: tf.Tensor) => tf.tidy(() => tf.reshape(tf.sum(tf.reshape(dy, [n * count, d]), 0), token.shape)),
  })) as unknown as GradFunc);
  return op(token) as tf.Tensor3D;
}

/**
 * A choice of R of a sequence's T rows in every sample, in the form
 * {@link gatherTokens} takes: the rows are the first R entries of a
 * permutation of `0..T-1`, and the inverse permutation drives the backward
 * pass. Used to run the last decoder block on the rows the loss reads
 * (the removed patches) only.
 */
export interface TokenRows {
  /** `[N, R]` int32: the chosen rows of each sample, in output order. */
  ids: tf.Tensor2D;
  /** `[N, T]` int32: the inverse of the permutation that starts with `ids`. */
  inverse: tf.Tensor2D;
}

/**
 * `rows` must fit a sequence `[n, t, ·]`: int32 `ids [n, R]` with `1 ≤ R ≤ t`
 * and `inverse [n, t]`. (The values are trusted: they come from the masking.)
 */
export function checkTokenRows(where: string, rows: TokenRows, n: number, t: number): void {
  const { ids, inverse } = rows ?? ({} as TokenRows);
  const ok =
    ids instanceof tf.Tensor && inverse instanceof tf.Tensor &&
    ids.dtype === 'int32' && inverse.dtype === 'int32' &&
    ids.rank === 2 && ids.shape[0] === n && ids.shape[1] >= 1 && ids.shape[1] <= t &&
    tf.util.arraysEqual(inverse.shape, [n, t]);
  if (!ok) {
    throw new MAEInputError(
      `${where}: expected { ids: int32 [${n}, R] with 1 ≤ R ≤ ${t}, inverse: int32 [${n}, ${t}] }, ` +
        `got ids ${describe(ids?.dtype)} ${describe(ids?.shape)}, inverse ${describe(inverse?.dtype)} ${describe(inverse?.shape)}`,
    );
  }
}

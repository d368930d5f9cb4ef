/**
 * The differentiable primitives every layer is built from. Each one has a
 * hand-written gradient (`tf.customGrad`) that uses only plain, untransposed
 * 2-D or batched matMuls and flat gathers: the kernels that exist, are correct
 * and are fast on every backend (see docs/architecture.md, "Backends").
 */
import * as tf from '@tensorflow/tfjs-core';

type Saver = (tensors: tf.Tensor[]) => void;
type GradFunc = Parameters<typeof tf.customGrad>[0];

/** `x[M, K] · w[K, N] + b[N]`, backward with explicit transposes (wasm's fast path). */
const dense2d = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: Saver) => {
  save([x, w]);
  return {
    value: tf.fused.matMul({ a: x, b: w, bias: b }),
    gradFunc: (dy: tf.Tensor2D, [xs, ws]: tf.Tensor[]) => [
      tf.matMul(dy, tf.transpose(ws)), // dx [M, K]
      tf.matMul(tf.transpose(xs), dy), // dw [K, N]
      tf.sum(dy, 0), // db [N]
    ],
  };
}) as unknown as GradFunc) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/** `x[M, K] · w[K, N]`, without bias. */
const matMul2d = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, save: Saver) => {
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy: tf.Tensor2D, [xs, ws]: tf.Tensor[]) => [
      tf.matMul(dy, tf.transpose(ws)),
      tf.matMul(tf.transpose(xs), dy),
    ],
  };
}) as unknown as GradFunc) as (x: tf.Tensor, w: tf.Tensor) => tf.Tensor2D;

/**
 * A linear map on the last axis: `x[..., K] · kernel[K, N] (+ bias[N])` → `[..., N]`.
 * The input is flattened to `[M, K]` so every matMul is 2-D.
 */
export function linear(x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const [k, n] = kernel.shape as [number, number];
  const lead = x.shape.slice(0, -1);
  const x2 = tf.reshape(x, [-1, k]);
  const y2 = bias ? dense2d(x2, kernel, bias) : matMul2d(x2, kernel);
  return tf.reshape(y2, [...lead, n]);
}

/** Batched `a[B, M, K] · b[B, K, N]`, backward without transposed-operand matMuls. */
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

/**
 * Takes tokens per sample: `out[n, k] = x[n, ids[n, k]]`.
 *
 * @param x `[N, L, D]`
 * @param ids `[N, K]` int32, the first K entries of a permutation of `0..L-1` per row
 * @param inverse `[N, L]` int32, the inverse of that permutation
 *   (`inverse[n, ids[n, k]] = k`), used by the backward pass: the gradient is
 *   the output gradient padded with zeros to L rows, gathered back by `inverse`.
 * @returns `[N, K, D]`
 *
 * A flat gather over `[N·L, D]`: `gather(batchDims=1)` is wrong on wasm and
 * `UnsortedSegmentSum` (its default gradient) is missing there.
 */
export function gatherTokens(x: tf.Tensor3D, ids: tf.Tensor2D, inverse: tf.Tensor2D): tf.Tensor3D {
  const [n, l, d] = x.shape;
  const k = ids.shape[1];
  const take = (src: tf.Tensor, idx: tf.Tensor2D, rows: number): tf.Tensor3D =>
    tf.tidy(() => {
      const offsets = tf.mul(tf.expandDims(tf.range(0, n, 1, 'int32'), 1), tf.scalar(l, 'int32')); // [N, 1]
      const flat = tf.reshape(tf.add(idx, offsets), [-1]);
      return tf.reshape(tf.gather(tf.reshape(src, [n * l, d]), flat), [n, rows, d]);
    });
  // ids travel through `save` (kept clones), so the backward pass still has
  // them when the caller has already disposed its own copies.
  const op = tf.customGrad(((xs: tf.Tensor3D, save: Saver) => {
    save([inverse]);
    return {
      value: take(xs, ids, k),
      gradFunc: (dy: tf.Tensor3D, [inv]: tf.Tensor[]) =>
        tf.tidy(() => {
          const padded = k < l ? tf.concat([dy, tf.zeros([n, l - k, d])], 1) : dy;
          return take(padded, inv as tf.Tensor2D, l);
        }),
    };
  }) as unknown as GradFunc);
  return op(x) as tf.Tensor3D;
}

/**
 * Inverse of a batch of permutations, `[N, L]` int32 → `[N, L]` int32
 * (an argsort of the rows). Runs on the device; exact for L < 2^24.
 */
export function argsortRows(values: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const f = values.dtype === 'float32' ? values : tf.cast(values, 'float32');
    // topk of −v in descending order = v in ascending order.
    return tf.topk(tf.neg(f), values.shape[1]).indices as tf.Tensor2D;
  });
}

/** LayerNorm over the last axis with the biased variance, as torch's `nn.LayerNorm`. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
  });
}

/** The exact GELU, `x · ½ · (1 + erf(x / √2))` (torch `nn.GELU()`, not the tanh form). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

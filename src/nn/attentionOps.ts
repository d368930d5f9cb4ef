/**
 * Scaled dot-product attention, with a hand-written backward built from
 * batched products (a depthwise convolution on wasm, see `batchedProduct`).
 *
 * `multiHeadAttention` is the op the `Attention` layer runs: from the fused
 * `qkv` projection to the merged heads in one taped op, so the head split and
 * merge (reshapes, transposes, slices) are neither recorded nor copied for the
 * backward pass. (tfjs saves a copy of the input of every taped reshape and
 * slice for its gradient; on wasm that copy is a real one, and the three
 * slices of `[N, T, 3D]` each copied the whole tensor, and their gradients
 * were three zero-padded `[N, T, 3D]` tensors added up.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { putRowsBack, takeRows } from './ops';
import type { TokenRows } from './tokens';

type Saver = (tensors: tf.Tensor[]) => void;
type GradFunc = Parameters<typeof tf.customGrad>[0];

/**
 * Batched product `op(a)[B, M, K] · op(b)[B, K, N]` → `[B, M, N]`, where
 * `op` transposes the last two axes when its flag is set.
 *
 * wasm runs batched matMuls on a plain loop (~2 GFLOP/s) because its XNNPACK
 * path takes only 2-D, untransposed products. There the product runs as one
 * depthwise convolution, which XNNPACK does run: batch index b becomes the
 * channel, `a` the image `[1, M, K, B]`, `b` the filter `[1, K, B, N]` (channel
 * multiplier N), and the valid 1×K convolution gives `[1, M, 1, B·N]`; the
 * flags fold into the layout transposes. 1.7–3.6× faster at attention
 * shapes (docs/benchmarks.md). Other backends use `tf.matMul`.
 */
function batchedProduct(a: tf.Tensor3D, b: tf.Tensor3D, transposeA = false, transposeB = false): tf.Tensor3D {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b, transposeA, transposeB);
  return tf.tidy(() => {
    const [batch, m, k] = transposeA ? [a.shape[0], a.shape[2], a.shape[1]] : a.shape;
    const n = transposeB ? b.shape[1] : b.shape[2];
    const image = tf.reshape(tf.transpose(a, transposeA ? [2, 1, 0] : [1, 2, 0]), [1, m, k, batch]);
    const filter = tf.reshape(tf.transpose(b, transposeB ? [2, 0, 1] : [1, 0, 2]), [1, k, batch, n]);
    const out = tf.depthwiseConv2d(image as tf.Tensor4D, filter as tf.Tensor4D, 1, 'valid'); // [1, M, 1, B·N]
    return tf.transpose(tf.reshape(out, [m, batch, n]), [1, 0, 2]) as tf.Tensor3D;
  });
}

/** The attention probabilities `softmax(q·kᵀ · scale)`, q `[B, R, hd]`, k `[B, T, hd]` → `[B, R, T]`. */
export function attentionProbs(q: tf.Tensor3D, k: tf.Tensor3D, scale: number): tf.Tensor3D {
  return tf.tidy(() => tf.softmax(tf.mul(batchedProduct(q, k, false, true), scale)) as tf.Tensor3D);
}

/**
 * The backward pass of `P·v` with `P = softmax(q·kᵀ · scale)` (`dO` the
 * output gradient):
 *
 *     dP = dO·vᵀ,  dv = Pᵀ·dO,  dS = P ⊙ (dP − Σ_row dP ⊙ P) · scale,  dq = dS·k,  dk = dSᵀ·q
 *
 * @returns `[dq [B, R, hd], dk [B, T, hd], dv [B, T, hd]]`
 */
function attentionGrads(dy: tf.Tensor3D, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, p: tf.Tensor3D, scale: number): tf.Tensor3D[] {
  const dp = batchedProduct(dy, v, false, true); // [B, R, T]
  const ds = tf.mul(tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))), scale) as tf.Tensor3D;
  return [batchedProduct(ds, k), batchedProduct(ds, q, true, false), batchedProduct(p, dy, true, false)];
}

/**
 * Scaled dot-product attention for a batch of independent heads:
 * `softmax(q·kᵀ · scale) · v`, q `[B, R, hd]`, k and v `[B, T, hd]` → `[B, R, hd]`.
 *
 * One taped op whose backward is written out (`attentionGrads`), so the
 * `[B, R, T]` intermediates of the backward are freed as soon as it returns,
 * and only the probabilities are kept from the forward.
 */
export function attention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, scale: number): tf.Tensor3D {
  const op = tf.customGrad(((qs: tf.Tensor3D, ks: tf.Tensor3D, vs: tf.Tensor3D, save: Saver) => {
    const probs = attentionProbs(qs, ks, scale); // [B, R, T]
    save([qs, ks, vs, probs]);
    return {
      value: batchedProduct(probs, vs),
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [qq, kk, vv, p] = saved as tf.Tensor3D[];
          return attentionGrads(dy, qq, kk, vv, p, scale);
        }),
    };
  }) as unknown as GradFunc);
  return op(q, k, v) as tf.Tensor3D;
}

/** The heads of a fused qkv projection, batch index `n·H + h` (see {@link splitHeads}). */
export interface HeadSplit {
  /** `[N·H, R, hd]`: the queries of the chosen rows (all T rows without `rows`). */
  q: tf.Tensor3D;
  /** `[N·H, T, hd]`: the keys of every row. */
  k: tf.Tensor3D;
  /** `[N·H, T, hd]`: the values of every row. */
  v: tf.Tensor3D;
}

/**
 * The heads of a fused projection: `qkv [N, T, 3D]` (columns q, k, v; head h
 * owns `h·hd … (h+1)·hd − 1` inside each) → q `[N·H, R, hd]`, k and v
 * `[N·H, T, hd]`, batch index `n·H + h`. With `rows`, q keeps those rows only.
 * (Rank ≤ 4 throughout: wasm transposes rank-5 tensors in a slow generic loop,
 * 53 ms against 3 ms for the same data at rank 4.)
 */
export function splitHeads(qkv: tf.Tensor3D, numHeads: number, rows?: TokenRows): HeadSplit {
  return tf.tidy(() => {
    const [n, t, d3] = qkv.shape;
    const d = d3 / 3;
    const hd = d / numHeads;
    // part i of every row: a gatherND of whole D-wide blocks of [N·T, 3, D], not tf.slice (wasm's Slice
    // copies the whole input out of the heap first, then row by row; small64's decoder split 4.4 → 2.5 ms)
    const blocks = tf.reshape(qkv, [n * t, 3, d]);
    const rowIds = tf.range(0, n * t, 1, 'int32');
    const part = (i: number): tf.Tensor3D => {
      const indices = tf.stack([rowIds, tf.fill([n * t], i, 'int32')], 1); // [N·T, 2]
      const x = tf.reshape(tf.gatherND(blocks, indices), [n, t, numHeads, hd]);
      return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [n * numHeads, t, hd]);
    };
    const q = part(0);
    return { q: rows ? takeRows(q, headRows(rows.ids, numHeads)) : q, k: part(1), v: part(2) };
  });
}

/** Per-sample rows `[N, R]` → the same rows for each of the sample's heads, `[N·H, R]`. */
function headRows(ids: tf.Tensor2D, numHeads: number): tf.Tensor2D {
  const [n, r] = ids.shape;
  // a broadcasting add, not tf.tile (a slow kernel on wasm)
  return tf.reshape(tf.add(tf.zeros([n, numHeads, r], 'int32'), tf.expandDims(ids, 1)), [n * numHeads, r]);
}

/**
 * Multi-head self-attention from the fused projection, heads merged:
 * `qkv [N, T, 3D]` → `[N, R, D]` (R = T, or the rows `rows` chooses; every
 * row is a key and a value). The attention of each head is `attention`'s;
 * the head split and merge happen inside this one taped op, so only q, k, v
 * (head layout) and the probabilities are kept for the backward pass, which
 * returns `d qkv [N, T, 3D]` directly.
 */
export function multiHeadAttention(qkv: tf.Tensor3D, numHeads: number, rows?: TokenRows): tf.Tensor3D {
  const [n, t, d3] = qkv.shape;
  const d = d3 / 3;
  const h = numHeads;
  const hd = d / h;
  const scale = hd ** -0.5;
  const op = tf.customGrad(((x: tf.Tensor3D, save: Saver) => {
    const { q, k, v } = splitHeads(x, h, rows);
    const r = q.shape[1];
    const probs = attentionProbs(q, k, scale); // [N·H, R, T]
    // the rows' inverse travels through `save`: the caller may free `rows` before the backward pass
    save([q, k, v, probs, ...(rows ? [headRows(rows.inverse, h)] : [])]);
    const out = batchedProduct(probs, v); // [N·H, R, hd]
    return {
      value: tf.reshape(tf.transpose(tf.reshape(out, [n, h, r, hd]), [0, 2, 1, 3]), [n, r, d]),
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [qq, kk, vv, p] = saved as tf.Tensor3D[];
          const inverse = saved[4] as tf.Tensor2D | undefined; // [N·H, T], with rows
          const dOut = tf.reshape(tf.transpose(tf.reshape(dy, [n, r, h, hd]), [0, 2, 1, 3]), [n * h, r, hd]) as tf.Tensor3D;
          const [dq, dk, dv] = attentionGrads(dOut, qq, kk, vv, p, scale);
          const dqAll = inverse ? putRowsBack(dq, inverse) : dq; // the chosen rows back in place, zeros elsewhere
          // [N·H, T, hd] → [N·T, D] each, side by side (a 2-D concat: wasm's rank-3 one is 3.6× slower)
          const rowsOf = (g: tf.Tensor): tf.Tensor => tf.reshape(tf.transpose(tf.reshape(g, [n, h, t, hd]), [0, 2, 1, 3]), [n * t, d]);
          return tf.reshape(tf.concat([rowsOf(dqAll), rowsOf(dk), rowsOf(dv)], 1), [n, t, d3]);
        }),
    };
  }) as unknown as GradFunc);
  return op(qkv) as tf.Tensor3D;
}

/**
 * The differentiable primitives every layer is built from. Each one has a
 * hand-written gradient (`tf.customGrad`) built from plain, untransposed 2-D
 * matMuls (Linear), batched products (attention; a depthwise convolution on
 * wasm) and flat gathers: the kernels that exist, are correct and are fast on
 * every backend (see docs/architecture.md, "Backends", and docs/benchmarks.md).
 *
 * Every gradient function runs in its own `tf.tidy`: tfjs frees what a
 * custom gradient leaves behind only when the whole backward pass ends, so
 * without it each step would hold, e.g., a transposed copy of every weight
 * (docs/benchmarks.md, "Memory").
 */
import * as tf from '@tensorflow/tfjs-core';

type Saver = (tensors: tf.Tensor[]) => void;
type GradFunc = Parameters<typeof tf.customGrad>[0];

/**
 * wasm's XNNPACK packs the right-hand operand of every 2-D product anew (the
 * weights change every step), at about five times the cost per element of an
 * explicit transpose. When the activations are small next to the weight (the
 * MAE encoder sees 25 % of the tokens), a product runs cheaper transposed, so
 * that an activation is packed instead of the weight:
 *
 *     forward     x·w   = (wᵀ·xᵀ)ᵀ      packs M·K instead of K·N
 *     input grad  dy·wᵀ = (w·dyᵀ)ᵀ      packs M·N instead of K·N
 *
 * Each form is chosen per shape by that cost model (packing 5, transposing
 * 1 per element); other backends always take the direct form. Measured at
 * small64's encoder shapes (272 rows): 1.3–2 ms less per forward of fc1/qkv,
 * 1.7–3.6 ms less per input gradient; at 1040 rows the direct forms win
 * (bench/experiments/linearGrad.ts).
 */
const PACK_COST = 5;

function transposedForward(m: number, k: number, n: number): boolean {
  return tf.getBackend() === 'wasm' && PACK_COST * m * k + (k * n + m * k + m * n) < PACK_COST * k * n;
}

function transposedInputGrad(m: number, k: number, n: number): boolean {
  return tf.getBackend() === 'wasm' && PACK_COST * m * n + (m * n + m * k) < (PACK_COST + 1) * k * n;
}

/** `x[M, K] · w[K, N] (+ b[N])`, the form chosen as above. */
function forwardProduct(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  const [m, k] = x.shape;
  const n = w.shape[1];
  if (!transposedForward(m, k, n)) return b ? (tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D) : tf.matMul(x, w);
  const y = tf.transpose(tf.matMul(tf.transpose(w), tf.transpose(x))) as tf.Tensor2D;
  return b ? (tf.add(y, b) as tf.Tensor2D) : y;
}

/** The input gradient of a linear map, `dy[M, N] · wᵀ` → `[M, K]`, the form chosen as above. */
function inputGrad(dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const [m, n] = dy.shape;
  const k = w.shape[0];
  if (transposedInputGrad(m, k, n)) return tf.transpose(tf.matMul(w, tf.transpose(dy))) as tf.Tensor2D;
  return tf.matMul(dy, tf.transpose(w));
}

/** `x[M, K] · w[K, N] + b[N]`, backward with explicit transposes (wasm's fast path). */
const dense2d = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: Saver) => {
  save([x, w]);
  return {
    value: tf.tidy(() => forwardProduct(x, w, b)),
    gradFunc: (dy: tf.Tensor2D, [xs, ws]: tf.Tensor[]) =>
      tf.tidy(() => [
        inputGrad(dy, ws as tf.Tensor2D), // dx [M, K]
        tf.matMul(tf.transpose(xs), dy), // dw [K, N]
        tf.sum(dy, 0), // db [N]
      ]),
  };
}) as unknown as GradFunc) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/** `x[M, K] · w[K, N]`, without bias. */
const matMul2d = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, save: Saver) => {
  save([x, w]);
  return {
    value: tf.tidy(() => forwardProduct(x, w)),
    gradFunc: (dy: tf.Tensor2D, [xs, ws]: tf.Tensor[]) =>
      tf.tidy(() => [inputGrad(dy, ws as tf.Tensor2D), tf.matMul(tf.transpose(xs), dy)]),
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

/**
 * Scaled dot-product attention for a batch of independent heads:
 * `softmax(q·kᵀ · scale) · v`, q, k, v `[B, T, hd]` → `[B, T, hd]`.
 *
 * One taped op whose backward is written out (`P` the probabilities, `O` the output):
 *
 *     dP = dO·vᵀ,  dv = Pᵀ·dO,  dS = P ⊙ (dP − Σ_row dP ⊙ P) · scale,  dq = dS·k,  dk = dSᵀ·q
 *
 * so the `[B, T, T]` intermediates of the backward are freed as soon as it
 * returns, and only P is kept from the forward. Every product is a
 * `batchedProduct` with transposes passed as flags.
 */
export function attention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, scale: number): tf.Tensor3D {
  const op = tf.customGrad(((qs: tf.Tensor3D, ks: tf.Tensor3D, vs: tf.Tensor3D, save: Saver) => {
    const probs = attentionProbs(qs, ks, scale); // [B, T, T]
    save([qs, ks, vs, probs]);
    return {
      value: batchedProduct(probs, vs),
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [qq, kk, vv, p] = saved as tf.Tensor3D[];
          const dp = batchedProduct(dy, vv, false, true); // [B, T, T]
          const ds = tf.mul(tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))), scale) as tf.Tensor3D;
          return [batchedProduct(ds, kk), batchedProduct(ds, qq, true, false), batchedProduct(p, dy, true, false)];
        }),
    };
  }) as unknown as GradFunc);
  return op(q, k, v) as tf.Tensor3D;
}

/** The attention probabilities `softmax(q·kᵀ · scale)`, q, k `[B, T, hd]` → `[B, T, T]`. */
export function attentionProbs(q: tf.Tensor3D, k: tf.Tensor3D, scale: number): tf.Tensor3D {
  return tf.tidy(() => tf.softmax(tf.mul(batchedProduct(q, k, false, true), scale)) as tf.Tensor3D);
}

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
 * A flat row gather over `[N·L, D]`: `gather(batchDims=1)` is wrong on wasm and
 * `UnsortedSegmentSum` (its default gradient) is missing there. The rows are
 * taken with `gatherND` (indices `[N·K, 1]`), which copies whole rows: on wasm
 * `tf.gather` copies element by element, 14 ms against 0.3 ms for 1024 rows
 * of 384 (bench/experiments/fixedCosts.ts).
 */
export function gatherTokens(x: tf.Tensor3D, ids: tf.Tensor2D, inverse: tf.Tensor2D): tf.Tensor3D {
  const [n, l, d] = x.shape;
  const k = ids.shape[1];
  // ids travel through `save` (kept clones), so the backward pass still has
  // them when the caller has already disposed its own copies.
  const op = tf.customGrad(((xs: tf.Tensor3D, save: Saver) => {
    save([inverse]);
    return {
      value: takeRows(xs, ids),
      gradFunc: (dy: tf.Tensor3D, [inv]: tf.Tensor[]) =>
        tf.tidy(() => {
          const padded = k < l ? tf.concat([dy, tf.zeros([n, l - k, d])], 1) : dy;
          return takeRows(padded as tf.Tensor3D, inv as tf.Tensor2D);
        }),
    };
  }) as unknown as GradFunc);
  return op(x) as tf.Tensor3D;
}

/**
 * `out[n, r] = x[n, ids[n, r]]`, with no gradient of its own: `x [N, T, D]`,
 * `ids [N, R]` int32 (any rows, repeats allowed) → `[N, R, D]`. One
 * `gatherND` of whole rows over `[N·T, D]` (see {@link gatherTokens} for why).
 */
export function takeRows(x: tf.Tensor3D, ids: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [n, t, d] = x.shape;
    const r = ids.shape[1];
    const offsets = tf.mul(tf.expandDims(tf.range(0, n, 1, 'int32'), 1), tf.scalar(t, 'int32')); // [N, 1]
    const flat = tf.reshape(tf.add(ids, offsets), [n * r, 1]);
    return tf.reshape(tf.gatherND(tf.reshape(x, [n * t, d]), flat), [n, r, d]) as tf.Tensor3D;
  });
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

/**
 * `(x − mean) · rstd · gamma + beta` with `rstd = 1/√(var + eps)`, and a
 * hand-written backward (half the kernels of autodiff through `tf.moments`):
 *
 *     x̂ = (x − mean)·rstd,  g = dy·gamma
 *     dx = rstd · (g − mean(g) − x̂ · mean(g·x̂))      (means over the last axis)
 *     dgamma = Σ_rows dy·x̂,  dbeta = Σ_rows dy
 */
function layerNormOp(eps: number) {
  return tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: Saver) => {
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, gamma]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      gradFunc: (dy: tf.Tensor, [xh, r, g]: tf.Tensor[]) =>
        tf.tidy(() => {
          const d = g.shape[0];
          const dxhat = tf.mul(dy, g);
          const meanG = tf.mean(dxhat, -1, true);
          const meanGX = tf.mean(tf.mul(dxhat, xh), -1, true);
          const dx = tf.mul(tf.sub(tf.sub(dxhat, meanG), tf.mul(xh, meanGX)), r);
          const rows = tf.reshape(dy, [-1, d]);
          return [dx, tf.sum(tf.mul(rows, tf.reshape(xh, [-1, d])), 0), tf.sum(rows, 0)];
        }),
    };
  }) as unknown as GradFunc) as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
}

/**
 * LayerNorm over the last axis with the biased variance, as torch's `nn.LayerNorm`.
 * `x [..., D]`, `gamma [D]`, `beta [D]` → `[..., D]`.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => layerNormOp(eps)(x, gamma, beta));
}

/**
 * `exp(a)` for `a ≤ 0`. On wasm as `s / (1 − s)` with `s = sigmoid(a)`:
 * wasm's Exp kernel is a scalar loop (3.9 ms for 418k values) and its Sigmoid
 * runs in XNNPACK (0.6 ms); `1 − s ≥ ½` here, so the quotient keeps the
 * sigmoid's relative accuracy (measured ≤ 3.6e-7 on [−4, 0]). Elsewhere `tf.exp`.
 */
function expNonPositive(a: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.exp(a);
  const s = tf.sigmoid(a);
  return tf.div(s, tf.sub(1, s));
}

/**
 * `x · Φ(x)` with `Φ(x) = ½(1 + erf(x/√2))`; backward `dy · (Φ(x) + x·φ(x))`
 * with the normal density `φ(x) = exp(−x²/2)/√(2π)` (what torch computes),
 * reusing Φ from the forward pass.
 */
const geluOp = tf.customGrad(((x: tf.Tensor, save: Saver) => {
  const cdf = tf.add(tf.mul(tf.erf(tf.mul(x, Math.SQRT1_2)), 0.5), 0.5);
  save([x, cdf]);
  return {
    value: tf.mul(x, cdf),
    gradFunc: (dy: tf.Tensor, [xs, c]: tf.Tensor[]) =>
      tf.tidy(() => {
        const pdf = tf.mul(expNonPositive(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI));
        return tf.mul(dy, tf.add(c, tf.mul(xs, pdf)));
      }),
  };
}) as unknown as GradFunc) as (x: tf.Tensor) => tf.Tensor;

/** The exact GELU, `x · ½ · (1 + erf(x / √2))` (torch `nn.GELU()`, not the tanh form). `[...]` → `[...]`. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => geluOp(x));
}

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
 * wasm's XNNPACK packs the right-hand operand `b` of every 2-D product into
 * its own layout, and keeps that packed copy, outside `tf.memory()`, for as
 * long as `b` lives (its operator cache is keyed on `b`'s tensor id and
 * emptied when `b` is disposed: tfjs-backend-wasm's `batch_mat_mul_impl.cc`).
 * A weight used as `b` therefore costs twice its size on wasm once it has run;
 * an activation or a per-call transpose used as `b` is packed and freed per
 * call. Packing costs about five times an explicit transpose per element.
 *
 * In training the weights change every step, so each product packs anew
 * whatever is `b`; when the activations are small next to the weight (the MAE
 * encoder sees 25 % of the tokens) the product runs cheaper transposed, so
 * that an activation is packed instead of the weight:
 *
 *     forward     x·w   = (wᵀ·xᵀ)ᵀ      packs M·K instead of K·N
 *     input grad  dy·wᵀ = (w·dyᵀ)ᵀ      packs M·N instead of K·N
 *
 * Each form is chosen per shape by that cost model (packing 5, transposing
 * 1 per element). Measured at small64's encoder shapes (272 rows): 1.3–2 ms
 * less per forward of fc1/qkv, 1.7–3.6 ms less per input gradient; at 1040
 * rows the direct forms win (bench/experiments/linearGrad.ts).
 *
 * In inference (no gradient tape) the weight is packed once and kept, so the
 * direct form is the fast one at every shape (the transposed form costs
 * 1.2–2.3× at 50–197 rows of ViT-L, `bench/experiments/inferenceLinear.ts`)
 * — as long as the packed copies fit: they are kept only while the tracked
 * bytes are at most {@link WASM_PACKED_WEIGHTS_MAX_BYTES}; above that (ViT-H's
 * 2.35 GiB of weights) every product runs transposed and nothing stays packed.
 * Other backends always take the direct form.
 */
const PACK_COST = 5;

/**
 * On wasm, inference keeps XNNPACK's packed copy of each linear weight (fast,
 * but a second copy of the weights outside `tf.memory()`) only while
 * `tf.memory().numBytes` is at most this: 1.5 GiB, so weights plus their
 * packed copies stay within 3 GiB of the 4 GiB heap. Larger models run every
 * inference product transposed, with nothing kept.
 */
export const WASM_PACKED_WEIGHTS_MAX_BYTES = 1.5 * 2 ** 30;

/** The limit in force (tests lower it to run the transposed inference form on small weights). */
export const packedWeights = { maxBytes: WASM_PACKED_WEIGHTS_MAX_BYTES };

/**
 * Runs `fn` with every inference product in the transposed form, so that wasm
 * keeps no packed weight copies: for one forward pass (a reconstruction
 * figure), where packing a weight never pays off and its copy would double
 * the weights' memory (ViT-L's `reconstruct`: 2.64 GiB peak RSS instead of
 * about 1.5 GiB). Not for concurrent forwards that want the packed form: the
 * limit is process-wide while `fn` runs.
 */
export async function withoutPackedWeights<T>(fn: () => Promise<T>): Promise<T> {
  const saved = packedWeights.maxBytes;
  packedWeights.maxBytes = -1;
  try {
    return await fn();
  } finally {
    packedWeights.maxBytes = saved;
  }
}

type ForwardForm = 'direct' | 'transposed';

/** Which form `x[M, K] · w[K, N]` runs in (see above); `taped`: inside a gradient tape. */
function forwardForm(m: number, k: number, n: number, taped: boolean): ForwardForm {
  if (tf.getBackend() !== 'wasm') return 'direct';
  if (!taped) return tf.memory().numBytes <= packedWeights.maxBytes ? 'direct' : 'transposed';
  return PACK_COST * m * k + (k * n + m * k + m * n) < PACK_COST * k * n ? 'transposed' : 'direct';
}

function transposedInputGrad(m: number, k: number, n: number): boolean {
  return tf.getBackend() === 'wasm' && PACK_COST * m * n + (m * n + m * k) < (PACK_COST + 1) * k * n;
}

/** `x[M, K] · w[K, N] (+ b[N])` in the given form. */
function forwardProduct(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | undefined, form: ForwardForm): tf.Tensor2D {
  if (form === 'direct') return b ? (tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D) : tf.matMul(x, w);
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

/**
 * A linear map on the last axis: `x[..., K] · kernel[K, N] (+ bias[N])` → `[..., N]`.
 *
 * One taped op with a hand-written backward of plain 2-D products on
 * explicitly transposed operands (wasm's fast path):
 *
 *     dx = dy · kernelᵀ,  dkernel = xᵀ · dy,  dbias = Σ_rows dy      (x, dy flattened to [M, K], [M, N])
 *
 * The flattening happens inside the op, so no reshape is taped: tfjs keeps a
 * copy of the input of every taped reshape for its gradient, a real copy on
 * wasm. For the same reason a `tf.Variable` kernel is read from the closure
 * in the backward pass rather than saved (a variable outlives every tidy; at
 * small64 saving the kernels copied 12.4 M floats a step). The backward pass
 * therefore sees the variable's value at that time: assign to it only after
 * the gradients are computed, as every optimiser does.
 */
export function linear(x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const [k, n] = kernel.shape as [number, number];
  const shape = x.shape;
  const lead = shape.slice(0, -1);
  const m = x.size / k;
  const fromClosure = kernel instanceof tf.Variable;
  // decided out here: inside the custom op's forward the engine never reports a tape
  const form = forwardForm(m, k, n, tf.engine().isTapeOn());
  // inputs (x, kernel[, bias]), then tfjs' save function
  const op = tf.customGrad(((...args: unknown[]) => {
    const [xs, w] = args as [tf.Tensor, tf.Tensor2D];
    const b = bias ? (args[2] as tf.Tensor1D) : undefined;
    const save = args[args.length - 1] as Saver;
    const x2 = tf.reshape(xs, [m, k]) as tf.Tensor2D;
    save(fromClosure ? [x2] : [x2, w]);
    return {
      value: tf.tidy(() => tf.reshape(forwardProduct(x2, w, b, form), [...lead, n])),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xs2, ws] = [saved[0] as tf.Tensor2D, (fromClosure ? kernel : saved[1]) as tf.Tensor2D];
          const dy2 = tf.reshape(dy, [m, n]) as tf.Tensor2D;
          const dx = tf.reshape(inputGrad(dy2, ws), shape);
          const dw = tf.matMul(tf.transpose(xs2), dy2);
          return bias ? [dx, dw, tf.sum(dy2, 0)] : [dx, dw];
        }),
    };
  }) as unknown as GradFunc);
  return bias ? op(x, kernel, bias) : op(x, kernel);
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
  // the inverse travels through `save` (a kept clone), so the backward pass
  // still has it when the caller has already disposed its own copy.
  const op = tf.customGrad(((xs: tf.Tensor3D, save: Saver) => {
    save([inverse]);
    return {
      value: takeRows(xs, ids),
      gradFunc: (dy: tf.Tensor3D, [inv]: tf.Tensor[]) => tf.tidy(() => putRowsBack(dy, inv as tf.Tensor2D)),
    };
  }) as unknown as GradFunc);
  return op(x) as tf.Tensor3D;
}

/**
 * The gradient of a row choice ({@link gatherTokens}, `TokenRows`): `dy [N, R, D]`
 * for the rows that start a permutation of `0..T-1` → `[N, T, D]`, each row
 * back in its place and zeros elsewhere. `inverse [N, T]` is the inverse of
 * that permutation: pad dy with zeros to T rows, take rows by `inverse`.
 */
export function putRowsBack(dy: tf.Tensor3D, inverse: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [n, r, d] = dy.shape;
    const t = inverse.shape[1];
    const padded = r < t ? (tf.concat([dy, tf.zeros([n, t - r, d])], 1) as tf.Tensor3D) : dy;
    return takeRows(padded, inverse);
  });
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

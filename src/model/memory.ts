/**
 * Memory estimate of our models and the wasm pre-flight check: peak backend
 * bytes of a model plus batch, from the real tensor shapes of our
 * implementation (float32, 4 bytes a number).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEMemoryError, describe } from '../errors';
import { WASM_PACKED_WEIGHTS_MAX_BYTES } from '../nn/ops';

/** What runs: the encoder on all patches (`'features'`), the whole MAE without gradients (`'forward'`), or a training step (`'train'`, AdamW). */
export type MemoryMode = 'forward' | 'features' | 'train';

/** The model shape the estimate needs; the fields of {@link MAEConfig} (decoder fields absent = an encoder alone). */
export interface MemoryModelConfig {
  /** Image side, or `[H, W]`. Defaults to `224`. */
  imgSize?: number | [number, number];
  /** Patch side p. Defaults to `16`. */
  patchSize?: number;
  /** Image channels C. Defaults to `3`. */
  inChans?: number;
  /** Encoder width D. */
  embedDim: number;
  /** Encoder blocks. */
  depth: number;
  /** Encoder heads. */
  numHeads: number;
  /** MLP hidden width ratio. Defaults to `4`. */
  mlpRatio?: number;
  /** Decoder width; with `decoderDepth`, the model has a decoder. */
  decoderEmbedDim?: number;
  /** Decoder blocks. Defaults to `0` (no decoder). */
  decoderDepth?: number;
  /** Decoder heads. Defaults to `16`. */
  decoderNumHeads?: number;
  /** Mask ratio of `'forward'` and `'train'`. Defaults to `0.75`. */
  maskRatio?: number;
}

/** Options of {@link estimateMemory}. */
export interface MemoryEstimateOptions {
  /** Images per batch N. */
  batch: number;
  /** Defaults to `'forward'`. */
  mode?: MemoryMode;
  /** Activation checkpointing (`recompute: true` on the model), `'train'` only. Defaults to `false`. */
  recompute?: boolean;
}

/** Estimated peak backend bytes, by part. */
export interface MemoryEstimate {
  /** Numbers in the weights (trainable and fixed, e.g. the sin-cos position embeddings). */
  params: number;
  /** The weights. */
  weightBytes: number;
  /** Gradients plus AdamW's m and v (`'train'` only; else 0). */
  optimizerBytes: number;
  /** Peak activations: tensors the backward pass keeps plus the largest transient ones of one block. */
  activationBytes: number;
  /**
   * Heap bytes on wasm that `tf.memory()` does not see, and the transients of
   * the transposed linear form: XNNPACK's packed copies of the linear weights
   * (all of them in training; in inference only while the tracked bytes are at
   * most {@link WASM_PACKED_WEIGHTS_MAX_BYTES}), else one transposed weight and
   * the transposed, packed activations of the widest product; plus
   * {@link WASM_HEAP_SLACK_BYTES}. Not in `totalBytes`; {@link checkWasmMemory} adds it.
   */
  wasmUntrackedBytes: number;
  /** Weights, optimiser state and activations: the estimated peak of tracked backend bytes. */
  totalBytes: number;
}

/**
 * Allocator slack on top of the live bytes of a wasm run: the holes that
 * transient buffers (and loading, tensor by tensor) leave, and the heap's
 * growth step (20 %, at most the request + 96 MiB). 512 MiB covers the
 * measured heaps: ViT-H/14 features at batch 8 through the CLI reserved
 * 3.15 GiB for 2.35 GiB of weights and about 0.4 GiB of activations and
 * transients (docs/backends.md).
 */
export const WASM_HEAP_SLACK_BYTES = 512 * 2 ** 20;

const F32 = 4;

/** Numbers in one transformer block of width d and MLP ratio m (two LayerNorms, qkv, proj, fc1, fc2). */
function blockParams(d: number, m: number): number {
  const hidden = Math.floor(d * m);
  return 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d);
}

interface Resolved {
  h: number; w: number; p: number; c: number; d: number; depth: number; heads: number; m: number;
  dd: number; ddepth: number; dheads: number; r: number; patches: number;
}

function resolve(config: MemoryModelConfig): Resolved {
  const [h, w] = Array.isArray(config.imgSize) ? config.imgSize : [config.imgSize ?? 224, config.imgSize ?? 224];
  const p = config.patchSize ?? 16;
  for (const [name, v] of Object.entries({ h, w, p, embedDim: config.embedDim, depth: config.depth, numHeads: config.numHeads })) {
    if (!Number.isSafeInteger(v) || (v as number) < (name === 'depth' ? 0 : 1)) {
      throw new MAEConfigError(`config.${name === 'h' || name === 'w' ? 'imgSize' : name === 'p' ? 'patchSize' : name}: expected a positive integer, got ${describe(v)}`);
    }
  }
  return {
    h, w, p, c: config.inChans ?? 3, d: config.embedDim, depth: config.depth, heads: config.numHeads, m: config.mlpRatio ?? 4,
    dd: config.decoderEmbedDim ?? 512, ddepth: config.decoderDepth ?? 0, dheads: config.decoderNumHeads ?? 16,
    r: config.maskRatio ?? 0.75, patches: Math.floor(h / p) * Math.floor(w / p),
  };
}

/** Numbers in the weights: patch embedding, cls token, position embeddings, blocks, norms; then the decoder's. */
function paramCount(c: Resolved): number {
  const l = c.patches;
  const encoder = c.p * c.p * c.c * c.d + c.d + c.d + (1 + l) * c.d + c.depth * blockParams(c.d, c.m) + 2 * c.d;
  if (c.ddepth === 0) return encoder;
  const pred = c.p * c.p * c.c;
  const decoder = c.d * c.dd + c.dd + c.dd + (1 + l) * c.dd + c.ddepth * blockParams(c.dd, c.m) + 2 * c.dd + c.dd * pred + pred;
  return encoder + decoder;
}

/**
 * Largest transient numbers of one block in inference, `[N, T, D]` tokens and
 * `heads` heads: the residual stream and LayerNorm output, qkv `[N, T, 3D]`
 * and its split heads, and three `[N·H, T, T]` score-sized tensors (scores,
 * scaled scores, probabilities; on wasm the batched product also transposes
 * one); or the MLP hidden `[N, T, m·D]` three times (fc1, GELU's temporaries).
 */
function blockTransient(n: number, t: number, d: number, heads: number, m: number): number {
  const attention = 2 * n * t * d + 6 * n * t * d + 3 * n * heads * t * t;
  const mlp = 2 * n * t * d + 3 * n * t * Math.floor(m * d);
  return Math.max(attention, mlp);
}

/**
 * What the backward pass keeps of one block: LayerNorm outputs (2), qkv, q/k/v,
 * the attention output, the residual (2) — ten `[N, T, D]` —, the probabilities
 * `[N·H, T, T]`, and fc1's and GELU's outputs `[N, T, m·D]`.
 */
function blockSaved(n: number, t: number, d: number, heads: number, m: number): number {
  return 10 * n * t * d + n * heads * t * t + 2 * n * t * Math.floor(m * d);
}

/**
 * Estimated peak backend bytes of a model plus batch, float32.
 *
 * Weights are exact (the numbers of our layers). Activations follow the real
 * shapes: `'features'` runs the encoder on all 1 + L tokens; `'forward'` and
 * `'train'` the encoder on 1 + ⌊L·(1 − r)⌋ tokens and the decoder on 1 + L.
 * Inference keeps one block's transients; training keeps each block's saved
 * tensors (only its input with `recompute`, plus one block's saved tensors
 * while it is recomputed) and adds gradients, AdamW's m and v (3× the weights).
 * Calibrated against the measured wasm heap of small configs (within 2×, see
 * docs/backends.md); the wasm heap also holds allocator slack on top.
 *
 * @example estimateMemory(mae.config, { batch: 8, mode: 'train', recompute: true }).totalBytes
 */
export function estimateMemory(config: MemoryModelConfig, options: MemoryEstimateOptions): MemoryEstimate {
  const c = resolve(config);
  const n = options.batch;
  if (!Number.isSafeInteger(n) || n < 1) throw new MAEConfigError(`batch: expected a positive integer, got ${describe(n)}`);
  const mode = options.mode ?? 'forward';
  if (mode !== 'forward' && mode !== 'features' && mode !== 'train') {
    throw new MAEConfigError(`mode: expected 'forward', 'features' or 'train', got ${describe(mode)}`);
  }
  const params = paramCount(c);
  const images = n * c.h * c.w * c.c;
  const tEnc = mode === 'features' ? 1 + c.patches : 1 + Math.floor(c.patches * (1 - c.r));
  const tDec = 1 + c.patches;
  const withDecoder = mode !== 'features' && c.ddepth > 0;
  const stacks: [number, number, number, number][] = [[tEnc, c.d, c.heads, c.depth]];
  if (withDecoder) stacks.push([tDec, c.dd, c.dheads, c.ddepth]);
  let activations: number;
  if (mode !== 'train') {
    activations = 2 * images + Math.max(...stacks.map(([t, d, h]) => 2 * n * t * d + blockTransient(n, t, d, h, c.m)));
  } else {
    const saved = stacks.reduce((s, [t, d, h, depth]) => s + depth * (options.recompute ? n * t * d : blockSaved(n, t, d, h, c.m)), 0);
    const replay = options.recompute ? Math.max(...stacks.map(([t, d, h]) => blockSaved(n, t, d, h, c.m))) : 0;
    const backward = Math.max(...stacks.map(([t, d, h]) => blockTransient(n, t, d, h, c.m) + n * h * t * t));
    activations = 3 * images + saved + replay + backward;
  }
  const weightBytes = params * F32;
  const optimizerBytes = mode === 'train' ? 3 * weightBytes : 0;
  const activationBytes = activations * F32;
  const wasmUntrackedBytes = wasmUntracked(n, c.m, mode, weightBytes, stacks);
  return { params, weightBytes, optimizerBytes, activationBytes, wasmUntrackedBytes, totalBytes: weightBytes + optimizerBytes + activationBytes };
}

/**
 * What a wasm run holds outside `tf.memory()` (see {@link MemoryEstimate.wasmUntrackedBytes}):
 * packed weights when they are kept, else the widest transposed product's
 * extra tensors: `wᵀ [m·D, D]`, and the input transposed and packed plus the
 * product before its transpose (`[N·T, m·D]` each, bounding fc1 and fc2).
 */
function wasmUntracked(n: number, m: number, mode: MemoryMode, weightBytes: number, stacks: [number, number, number, number][]): number {
  if (mode === 'train' || weightBytes <= WASM_PACKED_WEIGHTS_MAX_BYTES) return weightBytes + WASM_HEAP_SLACK_BYTES;
  const widest = Math.max(...stacks.map(([t, d]) => Math.floor(m * d) * d + 3 * n * t * Math.floor(m * d)));
  return widest * F32 + WASM_HEAP_SLACK_BYTES;
}

/** The wasm heap's maximum: 4 GiB minus one 64 KiB page (emscripten's `getHeapMax`). */
export const WASM_HEAP_LIMIT = 4294901760;

/** Options of {@link checkWasmMemory}. */
export interface WasmMemoryCheckOptions extends MemoryEstimateOptions {
  /** Bytes the heap may hold. Defaults to {@link WASM_HEAP_LIMIT}. */
  limitBytes?: number;
  /** Whether the model's weights already live in the backend, i.e. count in `tf.memory().numBytes` (then only activations, gradients and AdamW state are added). Defaults to `true`. */
  weightsLoaded?: boolean;
}

/** "ViT-H/14 encoder, 632 M parameters" and the like. */
export function describeModel(config: MemoryModelConfig): string {
  const c = resolve(config);
  const sizes: Record<number, string> = { 192: 'Ti', 384: 'S', 768: 'B', 1024: 'L', 1280: 'H', 1664: 'G' };
  const name = `ViT-${sizes[c.d] ?? `${c.d}d×${c.depth}`}/${c.p}`;
  const part = c.ddepth > 0 ? 'MAE' : 'encoder';
  const params = paramCount(c);
  const count = params >= 1e6 ? `${(params / 1e6).toFixed(params >= 1e8 ? 0 : 1)} M` : `${(params / 1e3).toFixed(1)} k`;
  return `${name} ${part} at ${c.h}×${c.w} px, ${count} parameters`;
}

const gib = (b: number): string => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);

/**
 * On the wasm backend only: throws a {@link MAEMemoryError} before running when
 * the model plus batch cannot fit in the heap, naming the model, the estimate,
 * the limit and what is in use, and the largest batch that fits. Does nothing
 * on other backends. Costs one `tf.memory()` call: run it once per new batch
 * shape, not per step.
 */
export function checkWasmMemory(config: MemoryModelConfig, options: WasmMemoryCheckOptions): void {
  if (tf.getBackend() !== 'wasm') return;
  const limit = options.limitBytes ?? WASM_HEAP_LIMIT;
  const loaded = options.weightsLoaded ?? true;
  const inUse = tf.memory().numBytes;
  const needed = (batch: number): number => {
    const e = estimateMemory(config, { ...options, batch });
    return e.wasmUntrackedBytes + (loaded ? e.activationBytes + e.optimizerBytes : e.totalBytes);
  };
  const extra = needed(options.batch);
  if (inUse + extra <= limit) return;
  let fits = 0;
  for (let b = options.batch - 1; b >= 1; b--) {
    if (inUse + needed(b) <= limit) {
      fits = b;
      break;
    }
  }
  const est = estimateMemory(config, options);
  const advice = [
    fits > 0 ? `a batch of ${fits} or fewer` : 'a smaller model',
    ...(options.mode === 'train' && !options.recompute ? ['recompute: true (activation checkpointing)'] : []),
    'another backend (webgpu, webgl or tfjs-node)',
  ].join(', or ');
  throw new MAEMemoryError(
    `batch: ${describeModel(config)}, ${options.mode ?? 'forward'} at batch ${options.batch} needs an estimated ${gib(extra)} more ` +
      `(${gib(est.totalBytes + est.wasmUntrackedBytes)} in all, untracked wasm heap included) but the wasm heap holds at most ${gib(limit)} and ${gib(inUse)} is in use; use ${advice}`,
  );
}

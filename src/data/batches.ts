/**
 * Seeded, shuffled mini-batches of uint8 images as normalised NHWC float32
 * tensors.
 *
 * Data order: the order of epoch `e` is `permutation(N, mixSeed(seed, e))`
 * (or `0 … N−1` without shuffling), a pure function of `(N, seed, e)`
 * computed on the host with integer arithmetic, so it is identical on every
 * backend and platform, and a run resumed at `(epoch, startBatch)` sees
 * exactly the batches an uninterrupted run would have seen.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError } from '../errors';
import type { IdxArray } from './idx';
import { checkSeed, mixSeed, permutation } from './rng';

export { permutation } from './rng';

/** Per-image normalisation `(x / 255 − mean) / std`, one scalar each. */
export interface NormalizeArgs {
  /** Mean of the pixels scaled to [0, 1]. Defaults to 0. */
  mean?: number;
  /** Standard deviation of the pixels scaled to [0, 1], > 0. Defaults to 1. */
  std?: number;
}

/** Options of `batches`. */
export interface BatchesArgs extends NormalizeArgs {
  /** Images per batch, a positive integer. Required. */
  batchSize: number;
  /** Visit the images in a seeded random order. Defaults to `true`. */
  shuffle?: boolean;
  /** Seed of the data order, an integer in `[0, 2^32)`. Defaults to 0. */
  seed?: number;
  /**
   * Drop the last batch when it has fewer than `batchSize` images, so every
   * batch has the same shape. Defaults to `true`.
   */
  dropLast?: boolean;
  /** The epoch (0-based) whose order is produced. Defaults to 0. */
  epoch?: number;
  /** The first batch of the epoch to produce (to resume mid-epoch). Defaults to 0. */
  startBatch?: number;
  /**
   * `[H, W, C]` of each image. Required when `images` is a plain
   * `Uint8Array`; taken from the shape of an `IdxArray` otherwise
   * (`[N, H, W]` means `C = 1`).
   */
  imageShape?: [number, number, number];
}

/** One mini-batch. The caller owns (and disposes) the tensors. */
export interface Batch {
  /** `[B, H, W, C]` float32, normalised as `(x / 255 − mean) / std`. */
  images: tf.Tensor4D;
  /** `[B]` int32 class labels, when labels were given. */
  labels?: tf.Tensor1D;
  /** `[B]` indices of these images in the data set. */
  indices: Int32Array;
}

/** Labels: one integer per image. An `IdxArray` must be 1-D of an integer dtype. */
export type LabelsInput = Uint8Array | Int8Array | Int16Array | Int32Array | IdxArray;

/**
 * The 256 normalised values `(v / 255 − mean) / std` for `v = 0 … 255`, each
 * operation rounded to float32 as PyTorch does for
 * `(uint8_tensor / 255 - mean) / std` on float32 tensors.
 */
export function normalizationTable(args: NormalizeArgs = {}): Float32Array {
  const mean = args.mean ?? 0;
  const std = args.std ?? 1;
  if (typeof mean !== 'number' || !Number.isFinite(mean)) {
    throw new MAEConfigError(`mean: expected a finite number, got ${String(mean)}`);
  }
  if (typeof std !== 'number' || !Number.isFinite(std) || std <= 0) {
    throw new MAEConfigError(`std: expected a finite number > 0, got ${String(std)}`);
  }
  const m = Math.fround(mean);
  const s = Math.fround(std);
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
  return table;
}

function checkImageShape(shape: readonly number[], name: string): [number, number, number] {
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new MAEConfigError(`${name}: expected [H, W, C] of positive integers, got ${JSON.stringify(shape)}`);
  }
  return [shape[0], shape[1], shape[2]];
}

/**
 * Creates a normalised image tensor from uint8 pixels.
 *
 * @param uint8 `N·H·W·C` pixels in NHWC order.
 * @param shape `[N, H, W, C]`, or `[N, H, W]` for one channel.
 * @param args `mean` (default 0) and `std` (default 1) of the [0, 1] pixels.
 * @returns `[N, H, W, C]` float32 `(x / 255 − mean) / std`; the caller disposes it.
 */
export function imagesToTensor(uint8: Uint8Array, shape: number[], args: NormalizeArgs = {}): tf.Tensor4D {
  if (!(uint8 instanceof Uint8Array)) {
    throw new MAEInputError(`uint8: expected a Uint8Array of pixels, got ${Object.prototype.toString.call(uint8)}`);
  }
  const ok =
    Array.isArray(shape) &&
    (shape.length === 3 || shape.length === 4) &&
    shape.every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!ok) {
    throw new MAEConfigError(`shape: expected [N, H, W, C] or [N, H, W] of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const nhwc: [number, number, number, number] = [shape[0], shape[1], shape[2], shape.length === 4 ? shape[3] : 1];
  const size = nhwc[0] * nhwc[1] * nhwc[2] * nhwc[3];
  if (uint8.length !== size) {
    throw new MAEInputError(`uint8: expected ${size} pixels for shape [${nhwc.join(', ')}], got ${uint8.length}`);
  }
  const table = normalizationTable(args);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = table[uint8[i]];
  return tf.tensor4d(out, nhwc, 'float32');
}

/** Number of batches in one epoch of `n` images. `dropLast` defaults to `true`. */
export function batchesPerEpoch(n: number, batchSize: number, dropLast = true): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/**
 * The order in which epoch `epoch` visits `n` images: `permutation(n,
 * mixSeed(seed, epoch))`, or `0 … n−1` when `shuffle` is false.
 */
export function epochOrder(n: number, args: { shuffle?: boolean; seed?: number; epoch?: number } = {}): Int32Array {
  const seed = checkSeed(args.seed ?? 0);
  const epoch = args.epoch ?? 0;
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new MAEConfigError(`epoch: expected an integer in [0, 2^32), got ${String(epoch)}`);
  }
  if (args.shuffle ?? true) return permutation(n, mixSeed(seed, epoch));
  if (!Number.isSafeInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new MAEConfigError(`n: expected an integer in [0, 2^31), got ${String(n)}`);
  }
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order;
}

interface ResolvedImages {
  data: Uint8Array;
  n: number;
  hwc: [number, number, number];
}

/** N, the number of images in `images` (validated as `batches` does). */
export function imageCount(images: Uint8Array | IdxArray, imageShape?: [number, number, number]): number {
  return resolveImages(images, imageShape).n;
}

function resolveImages(images: Uint8Array | IdxArray, imageShape: [number, number, number] | undefined): ResolvedImages {
  if (images instanceof Uint8Array) {
    if (imageShape === undefined) {
      throw new MAEConfigError('imageShape: expected [H, W, C] when images is a plain Uint8Array, got undefined');
    }
    const hwc = checkImageShape(imageShape, 'imageShape');
    const per = hwc[0] * hwc[1] * hwc[2];
    if (images.length % per !== 0) {
      throw new MAEInputError(
        `images: expected a multiple of H·W·C = ${per} pixels for imageShape [${hwc.join(', ')}], got ${images.length}`,
      );
    }
    return { data: images, n: images.length / per, hwc };
  }
  if (images == null || typeof images !== 'object' || !(images.data instanceof Uint8Array) || images.dtype !== 'uint8') {
    throw new MAEInputError(`images: expected a Uint8Array or a uint8 IdxArray, got ${describeInput(images)}`);
  }
  const s = images.shape;
  if (s.length !== 3 && s.length !== 4) {
    throw new MAEInputError(`images: expected an IdxArray of shape [N, H, W] or [N, H, W, C], got [${s.join(', ')}]`);
  }
  const hwc: [number, number, number] = [s[1], s[2], s.length === 4 ? s[3] : 1];
  if (imageShape !== undefined && imageShape.join(',') !== hwc.join(',')) {
    throw new MAEConfigError(`imageShape: expected [${hwc.join(', ')}] as in images.shape, got ${JSON.stringify(imageShape)}`);
  }
  if (!hwc.every((d) => d > 0)) {
    throw new MAEInputError(`images: expected positive H, W, C, got shape [${s.join(', ')}]`);
  }
  return { data: images.data, n: s[0], hwc };
}

function describeInput(x: unknown): string {
  if (x == null || typeof x !== 'object') return String(x);
  const o = x as { dtype?: unknown; shape?: unknown };
  if ('dtype' in o) return `an IdxArray of dtype ${String(o.dtype)}`;
  return Object.prototype.toString.call(x);
}

function resolveLabels(labels: LabelsInput, n: number): ArrayLike<number> {
  let data: ArrayLike<number>;
  if (
    labels instanceof Uint8Array ||
    labels instanceof Int8Array ||
    labels instanceof Int16Array ||
    labels instanceof Int32Array
  ) {
    data = labels;
  } else if (
    labels != null &&
    typeof labels === 'object' &&
    ['uint8', 'int8', 'int16', 'int32'].includes(labels.dtype) &&
    Array.isArray(labels.shape) &&
    labels.shape.length === 1
  ) {
    data = labels.data;
  } else {
    throw new MAEInputError(
      `labels: expected an integer typed array or a 1-D integer IdxArray, got ${describeInput(labels)}`,
    );
  }
  if (data.length !== n) {
    throw new MAEInputError(`labels: expected ${n} labels (one per image), got ${data.length}`);
  }
  return data;
}

/**
 * Iterates over one epoch of mini-batches.
 *
 * The order of epoch `e` depends only on `(N, seed, e)` (see the module
 * comment), so resuming with the same `seed`, `epoch` and `startBatch`
 * reproduces the data order exactly. Tensors are created lazily, one batch per
 * `next()`: breaking out of the loop leaks nothing; the caller disposes each
 * batch's tensors. All arguments are checked before the first batch.
 *
 * @param images `N·H·W·C` uint8 pixels (NHWC) with `args.imageShape`, or a
 *   uint8 `IdxArray` of shape `[N, H, W]` or `[N, H, W, C]`.
 * @param labels Optional, one integer label per image.
 * @param args See `BatchesArgs`; `batchSize` is required.
 * @returns An iterator of `{ images: [B, H, W, C] float32, labels?: [B] int32, indices }`.
 */
export function batches(
  images: Uint8Array | IdxArray,
  labels: LabelsInput | undefined,
  args: BatchesArgs,
): IterableIterator<Batch> {
  if (args == null || typeof args !== 'object') {
    throw new MAEConfigError(`args: expected an options object with batchSize, got ${String(args)}`);
  }
  const { data, n, hwc } = resolveImages(images, args.imageShape);
  const labelData = labels === undefined ? undefined : resolveLabels(labels, n);
  const batchSize = args.batchSize;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new MAEConfigError(`batchSize: expected a positive integer, got ${String(batchSize)}`);
  }
  const dropLast = args.dropLast ?? true;
  if (dropLast && batchSize > n) {
    throw new MAEConfigError(
      `batchSize: expected at most the ${n} images when dropLast is true (else an epoch has no batch), got ${batchSize}`,
    );
  }
  const total = batchesPerEpoch(n, batchSize, dropLast);
  const startBatch = args.startBatch ?? 0;
  if (!Number.isSafeInteger(startBatch) || startBatch < 0 || startBatch > total) {
    throw new MAEConfigError(`startBatch: expected an integer in [0, ${total}], got ${String(startBatch)}`);
  }
  const table = normalizationTable(args);
  const order = epochOrder(n, args);
  return generate(data, labelData, hwc, order, table, batchSize, startBatch, total, n);
}

function* generate(
  data: Uint8Array,
  labels: ArrayLike<number> | undefined,
  hwc: [number, number, number],
  order: Int32Array,
  table: Float32Array,
  batchSize: number,
  startBatch: number,
  total: number,
  n: number,
): IterableIterator<Batch> {
  const per = hwc[0] * hwc[1] * hwc[2];
  for (let b = startBatch; b < total; b++) {
    const indices = order.slice(b * batchSize, Math.min((b + 1) * batchSize, n));
    const size = indices.length;
    const pixels = new Float32Array(size * per);
    for (let k = 0; k < size; k++) {
      const src = indices[k] * per;
      const dst = k * per;
      for (let p = 0; p < per; p++) pixels[dst + p] = table[data[src + p]];
    }
    const batch: Batch = { images: tf.tensor4d(pixels, [size, hwc[0], hwc[1], hwc[2]], 'float32'), indices };
    if (labels !== undefined) {
      const l = new Int32Array(size);
      for (let k = 0; k < size; k++) l[k] = labels[indices[k]];
      batch.labels = tf.tensor1d(l, 'int32');
    }
    yield batch;
  }
}

/**
 * Data sources of the training loops: anything that yields the batches of an
 * epoch, starting at a given batch (for resume).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, TrainingError, describe } from '../errors';
import { batches, batchesPerEpoch, imageCount, type Batch, type BatchesArgs, type LabelsInput } from '../data/batches';
import type { IdxArray } from '../data/idx';

/** One batch: `images [B, H, W, C]` float32 (normalised), and whatever else the source adds. */
export interface TrainBatch {
  /** `[B, H, W, C]` float32, normalised. */
  images: tf.Tensor;
  /** `[B]` int32 class labels, when the source has them. */
  labels?: tf.Tensor;
  /** `[B]` indices of these images in the data set, when the source knows them (e.g. file indices of a folder). */
  indices?: Int32Array;
}

/**
 * A batch as `LayersModel.fitDataset` takes it: `xs` are the images
 * `[B, H, W, C]`, `ys` the `[B]` int32 labels (not one-hot).
 */
export interface XsYsBatch {
  /** `[B, H, W, C]` float32, normalised. */
  xs: tf.Tensor;
  /** `[B]` int32 class labels. */
  ys?: tf.Tensor;
}

/** What a data source may yield: a {@link TrainBatch}, a bare images tensor, or `{ xs, ys }`. */
export type AnyBatch = TrainBatch | tf.Tensor | XsYsBatch;

/**
 * A `tf.data.Dataset` of batches (from `@tensorflow/tfjs-data`, e.g.
 * `dataset.batch(32)`), recognised by its shape alone: `iterator()` resolves
 * to an object whose `next()` returns a promise. tfjs-mae does not import
 * tfjs-data.
 */
export interface DatasetLike<T = AnyBatch> {
  /** A fresh iterator over the dataset's elements. */
  iterator(): Promise<DatasetIterator<T>>;
  /** Number of elements (batches), when known. */
  size?: number | null;
}

/** The iterator of a {@link DatasetLike} (tfjs-data's `LazyIterator`). */
export interface DatasetIterator<T = AnyBatch> {
  /** The next element, or `done`. */
  next(): Promise<IteratorResult<T>>;
}

/** The batches of one epoch: a sync or async iterable, or a Dataset. */
export type BatchStream = Iterable<AnyBatch> | AsyncIterable<AnyBatch> | DatasetLike;

/**
 * A data source as an object: `batches(epoch, startBatch)` yields the batches
 * of epoch `epoch` from batch `startBatch` on (0-based), synchronously or
 * asynchronously (an async iterable lets the source decode files while the
 * step runs). For exact resume and reproducible runs it must be a pure
 * function of its arguments (e.g. a permutation seeded by the epoch, as
 * `batches()` of `src/data` does, and augmentations seeded by
 * `(seed, epoch, index)`).
 */
export interface TrainDataSource {
  /** The batches of epoch `epoch` (0-based) from batch `startBatch` on; the loop disposes each batch it receives. */
  batches(epoch: number, startBatch: number): Iterable<AnyBatch> | AsyncIterable<AnyBatch>;
  /** Batches per epoch. Needed by the loops unless given as an option. */
  batchesPerEpoch?: number;
}

/**
 * What the training loops accept:
 * - a {@link TrainDataSource} (`batches(epoch, startBatch)`): a resume asks
 *   it for `(epoch, startBatch)` directly;
 * - a function `(epoch) => ` an iterable, an async iterable or a Dataset of
 *   batches;
 * - an async iterable, or a `tf.data.Dataset` ({@link DatasetLike}), iterated
 *   afresh every epoch (`batchesPerEpoch` defaults to a Dataset's finite `size`).
 *
 * All but the first are resumed by iterating to `startBatch` and disposing
 * the batches skipped; for an exact resume, what they yield for an epoch must
 * not depend on how often they were iterated before (build the epoch from
 * `epoch`, e.g. `(epoch) => tf.data.array(items).shuffle(n, String(epoch)).batch(b)`;
 * a Dataset `shuffle` that reshuffles each iteration does not resume exactly).
 * A batch may be a {@link TrainBatch}, a bare images tensor, or `{ xs, ys }`.
 * The loop owns each batch it receives and disposes its tensors.
 */
export type TrainData =
  | TrainDataSource
  | ((epoch: number) => BatchStream)
  | AsyncIterable<AnyBatch>
  | DatasetLike;

/** What {@link imageDataSource} returns: a synchronous {@link TrainDataSource} of `src/data` batches. */
export interface ImageDataSource extends TrainDataSource {
  /** The batches of epoch `epoch` from batch `startBatch` on, made on demand. */
  batches(epoch: number, startBatch: number): Iterable<Batch>;
  /** `floor(N / batchSize)` with `dropLast`, else `ceil`. */
  batchesPerEpoch: number;
}

/**
 * A {@link TrainDataSource} over uint8 images (and labels) held on the host,
 * built on `batches()` of `src/data`: epoch `e` is the seeded permutation of
 * `(seed, e)`, normalised `(x / 255 − mean) / std`, NHWC float32.
 *
 * @param images `N·H·W·C` uint8 pixels with `args.imageShape`, or an IdxArray `[N, H, W(, C)]`
 * @param labels optional labels, one per image
 * @param args `batchSize` (required), `seed` (default 0), `shuffle` (default true),
 *   `dropLast` (default true), `mean` / `std` (defaults 0 / 1), `imageShape`
 */
export function imageDataSource(
  images: Uint8Array | IdxArray,
  labels: LabelsInput | undefined,
  args: Omit<BatchesArgs, 'epoch' | 'startBatch'>,
): ImageDataSource {
  // Validates every argument now, not at the first epoch.
  batches(images, labels, { ...args, epoch: 0 });
  const n = imageCount(images, args.imageShape);
  return {
    batchesPerEpoch: batchesPerEpoch(n, args.batchSize, args.dropLast ?? true),
    batches: (epoch, startBatch) => batches(images, labels, { ...args, epoch, startBatch }),
  };
}


/** Resolves `batchesPerEpoch` from the option, else the source (a Dataset's finite `size`); throws when neither has it. */
export function resolveBatchesPerEpoch(data: TrainData, option: number | undefined, where: string): number {
  const value = option ?? sourceBatchesPerEpoch(data);
  if (value === undefined) {
    throw new MAEConfigError(`${where} batchesPerEpoch: expected a positive integer (an option, or data.batchesPerEpoch), got undefined`);
  }
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new MAEConfigError(`${where} batchesPerEpoch: expected a positive integer, got ${describe(value)}`);
  }
  return value;
}

function sourceBatchesPerEpoch(data: TrainData): number | undefined {
  if (typeof data === 'function' || data == null) return undefined;
  if (isTrainDataSource(data)) return data.batchesPerEpoch;
  if (isDatasetLike(data)) {
    const size = data.size;
    return typeof size === 'number' && Number.isFinite(size) && size >= 0 ? size : undefined;
  }
  return undefined;
}

/** Whether `x` looks like a `tf.data.Dataset`: an object with an `iterator()` method (and no `batches`). */
export function isDatasetLike(x: unknown): x is DatasetLike {
  return x != null && typeof x === 'object' && typeof (x as DatasetLike).iterator === 'function';
}

function isTrainDataSource(x: unknown): x is TrainDataSource {
  return x != null && typeof x === 'object' && typeof (x as TrainDataSource).batches === 'function';
}

function isAsyncIterable(x: unknown): x is AsyncIterable<AnyBatch> {
  return x != null && typeof (x as AsyncIterable<AnyBatch>)[Symbol.asyncIterator] === 'function';
}

function isIterable(x: unknown): x is Iterable<AnyBatch> {
  return x != null && typeof (x as Iterable<AnyBatch>)[Symbol.iterator] === 'function';
}

/** Checks that `data` is a function, has a `batches` method, is an async iterable or a Dataset. */
export function checkData(data: unknown, where: string): TrainData {
  if (typeof data === 'function' || isTrainDataSource(data) || isAsyncIterable(data) || isDatasetLike(data)) return data as TrainData;
  throw new MAEConfigError(
    `${where} data: expected (epoch) => batches, { batches(epoch, startBatch) }, an async iterable or a tf.data.Dataset of batches, got ${describe(data)}`,
  );
}

/** An iterator over the batches of `epoch` from `startBatch`, skipping (and disposing) for function sources. Synchronous sources only. */
export function epochIterator(data: TrainData, epoch: number, startBatch: number): Iterator<AnyBatch> {
  const stream = isTrainDataSource(data) ? data.batches(epoch, startBatch) : typeof data === 'function' ? data(epoch) : data;
  if (!isIterable(stream)) {
    throw new MAEConfigError(`data: expected a synchronous iterable for epoch ${epoch}, got ${describe(stream)} (use epochBatches for async sources)`);
  }
  const it = stream[Symbol.iterator]();
  if (isTrainDataSource(data)) return it;
  for (let i = 0; i < startBatch; i++) {
    const r = it.next();
    if (r.done) throw new TrainingError(`data: epoch ${epoch} ended after ${i} batches while skipping to batch ${startBatch} (resume)`);
    disposeBatch(r.value);
  }
  return it;
}

/** A sync or async iterator of batches; `return` ends it early (releasing what the source holds). */
export interface BatchIterator {
  next(): IteratorResult<AnyBatch> | Promise<IteratorResult<AnyBatch>>;
  return?(): unknown;
}

/**
 * An iterator over the batches of `epoch` from `startBatch`, for every kind
 * of {@link TrainData}: a `TrainDataSource` is asked for `(epoch, startBatch)`;
 * the others are iterated to `startBatch`, disposing the batches skipped.
 *
 * @throws TrainingError when the epoch ends before `startBatch`
 */
export async function epochBatches(data: TrainData, epoch: number, startBatch: number): Promise<BatchIterator> {
  const stream = isTrainDataSource(data) ? data.batches(epoch, startBatch) : typeof data === 'function' ? data(epoch) : data;
  const it = await streamIterator(stream, `data epoch ${epoch}`);
  if (isTrainDataSource(data)) return it;
  for (let i = 0; i < startBatch; i++) {
    const r = await it.next();
    if (r.done) {
      await it.return?.();
      throw new TrainingError(`data: epoch ${epoch} ended after ${i} batches while skipping to batch ${startBatch} (resume)`);
    }
    disposeBatch(r.value);
  }
  return it;
}

/** The iterator of a sync or async iterable or a Dataset. */
export async function streamIterator(stream: unknown, where: string): Promise<BatchIterator> {
  if (isAsyncIterable(stream)) return stream[Symbol.asyncIterator]();
  if (isIterable(stream)) return stream[Symbol.iterator]();
  if (isDatasetLike(stream)) {
    const it = await stream.iterator();
    if (it == null || typeof it.next !== 'function') {
      throw new MAEConfigError(`${where}: expected dataset.iterator() to give an iterator with next(), got ${describe(it)}`);
    }
    return it;
  }
  throw new MAEConfigError(`${where}: expected an iterable, an async iterable or a tf.data.Dataset of batches, got ${describe(stream)}`);
}

/** The images tensor of a batch (`images`, `xs`, or the batch itself). */
export function batchImages(batch: AnyBatch, where: string): tf.Tensor {
  const images = batch instanceof tf.Tensor ? batch : ((batch as TrainBatch)?.images ?? (batch as XsYsBatch)?.xs);
  if (!(images instanceof tf.Tensor)) {
    throw new MAEConfigError(`${where}: expected a batch { images: tf.Tensor }, { xs, ys } or a tensor, got ${describe(batch)}`);
  }
  return images;
}

/** The labels tensor of a batch (`labels` or `ys`), when it has one. */
export function batchLabels(batch: AnyBatch): tf.Tensor | undefined {
  if (batch instanceof tf.Tensor || batch == null) return undefined;
  const labels = (batch as TrainBatch).labels ?? (batch as XsYsBatch).ys;
  return labels instanceof tf.Tensor ? labels : undefined;
}

/** Disposes every tensor of a batch (its own fields only). */
export function disposeBatch(batch: AnyBatch | undefined): void {
  if (batch == null) return;
  if (batch instanceof tf.Tensor) {
    batch.dispose();
    return;
  }
  for (const v of Object.values(batch)) if (v instanceof tf.Tensor) v.dispose();
}

/**
 * Data sources of the training loops: anything that yields the batches of an
 * epoch, starting at a given batch (for resume).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, TrainingError, describe } from '../errors';
import { batches, batchesPerEpoch, imageCount, type BatchesArgs, type LabelsInput } from '../data/batches';
import type { IdxArray } from '../data/idx';

/** One batch: `images [B, H, W, C]` float32 (normalised), and whatever else the source adds. */
export interface TrainBatch {
  /** `[B, H, W, C]` float32, normalised. */
  images: tf.Tensor;
  /** `[B]` int32 class labels, when the source has them. */
  labels?: tf.Tensor;
}

/**
 * A data source as an object: `batches(epoch, startBatch)` yields the batches
 * of epoch `epoch` from batch `startBatch` on (0-based). For exact resume
 * and reproducible runs it must be a pure function of its arguments (e.g.
 * a permutation seeded by the epoch, as `batches()` of `src/data` does).
 */
export interface TrainDataSource {
  /** The batches of epoch `epoch` (0-based) from batch `startBatch` on; the loop disposes each batch it receives. */
  batches(epoch: number, startBatch: number): Iterable<TrainBatch | tf.Tensor>;
  /** Batches per epoch. Needed by the loops unless given as an option. */
  batchesPerEpoch?: number;
}

/**
 * What the training loops accept: a {@link TrainDataSource}, or a function
 * `(epoch) => Iterable` of batches (a resume then skips the first batches by
 * iterating, disposing them). A batch may be a bare images tensor. The loop
 * owns each batch it receives and disposes its tensors.
 */
export type TrainData = TrainDataSource | ((epoch: number) => Iterable<TrainBatch | tf.Tensor>);

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
): TrainDataSource {
  // Validates every argument now, not at the first epoch.
  batches(images, labels, { ...args, epoch: 0 });
  const n = imageCount(images, args.imageShape);
  return {
    batchesPerEpoch: batchesPerEpoch(n, args.batchSize, args.dropLast ?? true),
    batches: (epoch, startBatch) => batches(images, labels, { ...args, epoch, startBatch }),
  };
}


/** Resolves `batchesPerEpoch` from the option, else the source; throws when neither has it. */
export function resolveBatchesPerEpoch(data: TrainData, option: number | undefined, where: string): number {
  const value = option ?? (typeof data === 'function' ? undefined : data?.batchesPerEpoch);
  if (value === undefined) {
    throw new MAEConfigError(`${where} batchesPerEpoch: expected a positive integer (an option, or data.batchesPerEpoch), got undefined`);
  }
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new MAEConfigError(`${where} batchesPerEpoch: expected a positive integer, got ${describe(value)}`);
  }
  return value;
}

/** Checks that `data` is a function or has a `batches` method. */
export function checkData(data: unknown, where: string): TrainData {
  if (typeof data === 'function') return data as TrainData;
  if (data != null && typeof data === 'object' && typeof (data as TrainDataSource).batches === 'function') return data as TrainDataSource;
  throw new MAEConfigError(`${where} data: expected (epoch) => Iterable of batches or { batches(epoch, startBatch) }, got ${describe(data)}`);
}

/** An iterator over the batches of `epoch` from `startBatch`, skipping (and disposing) for function sources. */
export function epochIterator(data: TrainData, epoch: number, startBatch: number): Iterator<TrainBatch | tf.Tensor> {
  if (typeof data !== 'function') return data.batches(epoch, startBatch)[Symbol.iterator]();
  const it = data(epoch)[Symbol.iterator]();
  for (let i = 0; i < startBatch; i++) {
    const r = it.next();
    if (r.done) throw new TrainingError(`data: epoch ${epoch} ended after ${i} batches while skipping to batch ${startBatch} (resume)`);
    disposeBatch(r.value);
  }
  return it;
}

/** The images tensor of a batch. */
export function batchImages(batch: TrainBatch | tf.Tensor, where: string): tf.Tensor {
  const images = batch instanceof tf.Tensor ? batch : batch?.images;
  if (!(images instanceof tf.Tensor)) {
    throw new MAEConfigError(`${where}: expected a batch { images: tf.Tensor } or a tensor, got ${describe(batch)}`);
  }
  return images;
}

/** Disposes every tensor of a batch (its own fields only). */
export function disposeBatch(batch: TrainBatch | tf.Tensor | undefined): void {
  if (batch == null) return;
  if (batch instanceof tf.Tensor) {
    batch.dispose();
    return;
  }
  for (const v of Object.values(batch)) if (v instanceof tf.Tensor) v.dispose();
}

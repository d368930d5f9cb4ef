/**
 * Frozen-encoder features for linear probing: the encoder on every patch (no
 * masking), after its final norm, pooled to one `[D]` vector per image.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import {
  batchImages,
  batchLabels,
  disposeBatch,
  streamIterator,
  type AnyBatch,
  type DatasetLike,
  type TrainDataSource,
} from '../train/data';

/** What feature extraction needs of an encoder; `ViTEncoder` (e.g. `mae.encoder`) has it. */
export interface FeatureEncoder {
  /** `[N, H, W, C]` → `[N, 1 + L, D]`: cls token first, every patch, no masking. */
  forwardFeatures(imgs: tf.Tensor): tf.Tensor3D;
}

/**
 * How tokens become one vector: `'mean'` = mean of the L patch tokens
 * (MAE's `global_pool`), `'cls'` = the class token.
 */
export type FeaturePool = 'mean' | 'cls';

/**
 * Images for feature extraction: one `[N, H, W, C]` tensor (kept), or batches
 * (each disposed after use) from a sync or async iterable, a
 * `tf.data.Dataset`, or a `TrainDataSource` (its epoch 0, from batch 0). A
 * batch is an images tensor, `{ images, labels?, indices? }` or `{ xs, ys }`.
 */
export type FeatureImages = tf.Tensor | Iterable<AnyBatch> | AsyncIterable<AnyBatch> | DatasetLike | TrainDataSource;

/**
 * What {@link extractPooledFeatures} returns: one `[N, D]` tensor per
 * requested pooling, and the labels / indices of the rows when the batches
 * carried them. The caller disposes the tensors.
 */
export type PooledFeatures = Partial<Record<FeaturePool, tf.Tensor2D>> & {
  /** `[N]` int32 labels of the rows, when every batch had labels. */
  labels?: tf.Tensor1D;
  /** Data-set indices of the rows (e.g. file indices of a folder), when every batch had `indices`. */
  indices?: Int32Array;
};

/** Options of {@link extractFeatures}. */
export interface ExtractFeaturesOptions {
  /** Pooling of the tokens. Defaults to `'mean'`. */
  pool?: FeaturePool;
  /** Images per forward pass when `images` is one tensor. Defaults to 128. */
  batchSize?: number;
  /** Called after every batch with the images done so far. Defaults to none. */
  onProgress?: (done: number) => void;
}

/** Options of {@link extractPooledFeatures}. */
export interface ExtractPooledFeaturesOptions extends Omit<ExtractFeaturesOptions, 'pool'> {
  /** The poolings to return, from one pass of the encoder. Defaults to `['mean', 'cls']`. */
  pools?: FeaturePool[];
}

/**
 * Features of a frozen encoder, one pass for several poolings.
 *
 * @param encoder e.g. `mae.encoder` (its `forwardFeatures`)
 * @param images `[N, H, W, C]` float32, normalised as in training (not
 *   disposed), or an iterable of such batches (each disposed after use)
 * @returns one `[N, D]` tensor per requested pooling; the caller disposes them
 */
export async function extractPooledFeatures(
  encoder: FeatureEncoder,
  images: FeatureImages,
  options: ExtractPooledFeaturesOptions = {},
): Promise<PooledFeatures> {
  if (encoder == null || typeof encoder.forwardFeatures !== 'function') {
    throw new MAEConfigError(`encoder: expected an encoder with forwardFeatures(imgs) (e.g. mae.encoder), got ${describe(encoder)}`);
  }
  const pools = options.pools ?? ['mean', 'cls'];
  if (!Array.isArray(pools) || pools.length === 0 || !pools.every((p) => p === 'mean' || p === 'cls')) {
    throw new MAEConfigError(`pools: expected a non-empty array of 'mean' | 'cls', got ${describe(pools)}`);
  }
  const batchSize = options.batchSize ?? 128;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new MAEConfigError(`batchSize: expected a positive integer, got ${describe(batchSize)}`);
  }
  const parts: Record<FeaturePool, tf.Tensor2D[]> = { mean: [], cls: [] };
  const labelParts: tf.Tensor1D[] = [];
  const indexParts: Int32Array[] = [];
  let allLabelled = true;
  let allIndexed = true;
  try {
    let done = 0;
    for await (const { batch, owned, labels, indices } of batchesOf(images, batchSize)) {
      try {
        if (labels === undefined) allLabelled = false;
        else labelParts.push(checkedLabels(labels, batch));
        if (indices === undefined) allIndexed = false;
        else indexParts.push(Int32Array.from(indices));
        if (batch.rank !== 4) throw new MAEInputError(`images: expected batches of shape [N, H, W, C], got ${describe(batch.shape)}`);
        tf.tidy(() => {
          const tokens = encoder.forwardFeatures(batch); // [N, 1 + L, D]
          const [n, t, d] = tokens.shape;
          for (const pool of pools) {
            const pooled =
              pool === 'cls'
                ? tf.reshape(tf.slice(tokens, [0, 0, 0], [n, 1, d]), [n, d])
                : tf.mean(tf.slice(tokens, [0, 1, 0], [n, t - 1, d]), 1);
            parts[pool].push(tf.keep(pooled as tf.Tensor2D));
          }
        });
        done += batch.shape[0];
      } finally {
        if (owned) disposeBatch(owned);
      }
      options.onProgress?.(done);
    }
    const out: PooledFeatures = {};
    for (const pool of pools) {
      if (parts[pool].length === 0) throw new MAEInputError('images: expected at least one image, got none');
      out[pool] = parts[pool].length === 1 ? tf.clone(parts[pool][0]) : (tf.concat(parts[pool], 0) as tf.Tensor2D);
    }
    if (allLabelled) out.labels = labelParts.length === 1 ? tf.clone(labelParts[0]) : (tf.concat(labelParts, 0) as tf.Tensor1D);
    if (allIndexed) out.indices = concatInt32(indexParts);
    return out;
  } finally {
    tf.dispose([...parts.mean, ...parts.cls, ...labelParts]);
  }
}

/** A batch's labels as `[B]` int32 (a clone the caller disposes), checked against the batch. */
function checkedLabels(labels: tf.Tensor, batch: tf.Tensor): tf.Tensor1D {
  if (labels.rank !== 1 || labels.shape[0] !== batch.shape[0]) {
    throw new MAEInputError(`images: expected batch labels of shape [${batch.shape[0]}] with the images, got ${describe(labels.shape)}`);
  }
  return (labels.dtype === 'int32' ? tf.clone(labels) : tf.cast(labels, 'int32')) as tf.Tensor1D;
}

function concatInt32(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Features of a frozen encoder: `[N, H, W, C]` → `[N, D]`, the encoder on all
 * patches (no masking) after its final norm, then the mean of the L patch
 * tokens (`pool: 'mean'`, the default) or the cls token (`pool: 'cls'`).
 *
 * @param encoder e.g. `mae.encoder`
 * @param images one tensor (not disposed, cut in batches of `batchSize`, default 128) or an iterable of batches (each disposed)
 * @returns `[N, D]` float32; the caller disposes it
 */
export async function extractFeatures(
  encoder: FeatureEncoder,
  images: FeatureImages,
  options: ExtractFeaturesOptions = {},
): Promise<tf.Tensor2D> {
  const pool = options.pool ?? 'mean';
  if (pool !== 'mean' && pool !== 'cls') throw new MAEConfigError(`pool: expected 'mean' or 'cls', got ${describe(pool)}`);
  const out = await extractPooledFeatures(encoder, images, { ...options, pools: [pool] });
  out.labels?.dispose();
  return out[pool]!;
}

/** One batch of {@link batchesOf}: its images, its labels and indices when it has them, and what to dispose after use. */
export interface FeatureBatch {
  /** `[B, H, W, C]` */
  batch: tf.Tensor;
  /** `[B]` labels of the batch, when it has them. */
  labels?: tf.Tensor;
  /** Data-set indices of the batch, when it has them. */
  indices?: ArrayLike<number>;
  /** What the consumer disposes after use (a slice or the whole batch), or `undefined` when the caller keeps it. */
  owned?: AnyBatch;
}

/**
 * `images` as batches of at most `batchSize` (a tensor is sliced; the
 * batches of an iterable, an async iterable, a Dataset or a
 * `TrainDataSource` come as they are), `[B, H, W, C]` each, checked as they
 * come. The consumer disposes `owned` after use; an early exit disposes
 * nothing it has not received.
 */
export async function* batchesOf(images: FeatureImages, batchSize: number): AsyncGenerator<FeatureBatch> {
  if (images instanceof tf.Tensor) {
    if (images.rank !== 4) throw new MAEInputError(`images: expected shape [N, H, W, C], got ${describe(images.shape)}`);
    const n = images.shape[0];
    if (n === 0) throw new MAEInputError('images: expected at least one image, got none');
    for (let i = 0; i < n; i += batchSize) {
      const size = Math.min(batchSize, n - i);
      const begin = [i, 0, 0, 0];
      if (size === n) {
        yield { batch: images };
      } else {
        const slice = tf.slice(images, begin, [size, -1, -1, -1]);
        yield { batch: slice, owned: slice };
      }
    }
    return;
  }
  const source = images as TrainDataSource;
  const stream = source != null && typeof source.batches === 'function' ? source.batches(0, 0) : images;
  const it = await streamIterator(stream, 'images').catch(() => {
    throw new MAEInputError(`images: expected a [N, H, W, C] tensor, an (async) iterable, a tf.data.Dataset or a data source of batches, got ${describe(images)}`);
  });
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      const item = r.value;
      let batch: tf.Tensor;
      try {
        batch = batchImages(item, 'images');
      } catch {
        disposeBatch(item);
        throw new MAEInputError(`images: expected tensors or batches { images } from the iterable, got ${describe(item)}`);
      }
      const indices = item instanceof tf.Tensor ? undefined : (item as { indices?: ArrayLike<number> }).indices;
      yield { batch, labels: batchLabels(item), indices, owned: item };
    }
  } finally {
    await it.return?.();
  }
}

/**
 * Frozen-encoder features for linear probing: the encoder on every patch (no
 * masking), after its final norm, pooled to one `[D]` vector per image.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';

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

/** Images for feature extraction: one `[N, H, W, C]` tensor (kept), or an iterable of batches (each disposed after use). */
export type FeatureImages = tf.Tensor | Iterable<tf.Tensor>;

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
): Promise<Partial<Record<FeaturePool, tf.Tensor2D>>> {
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
  try {
    let done = 0;
    for (const { batch, owned } of batchesOf(images, batchSize)) {
      try {
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
        if (owned) batch.dispose();
      }
      options.onProgress?.(done);
    }
    const out: Partial<Record<FeaturePool, tf.Tensor2D>> = {};
    for (const pool of pools) {
      if (parts[pool].length === 0) throw new MAEInputError('images: expected at least one image, got none');
      out[pool] = parts[pool].length === 1 ? tf.clone(parts[pool][0]) : (tf.concat(parts[pool], 0) as tf.Tensor2D);
    }
    return out;
  } finally {
    tf.dispose([...parts.mean, ...parts.cls]);
  }
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
  return out[pool]!;
}

/**
 * `images` as batches of at most `batchSize`, `[B, H, W, C]` each, checked as
 * they come; `owned` batches are slices that the caller disposes after use.
 */
export function* batchesOf(images: FeatureImages, batchSize: number): Generator<{ batch: tf.Tensor; owned: boolean }> {
  if (images instanceof tf.Tensor) {
    if (images.rank !== 4) throw new MAEInputError(`images: expected shape [N, H, W, C], got ${describe(images.shape)}`);
    const n = images.shape[0];
    if (n === 0) throw new MAEInputError('images: expected at least one image, got none');
    for (let i = 0; i < n; i += batchSize) {
      const size = Math.min(batchSize, n - i);
      const begin = [i, 0, 0, 0];
      yield { batch: size === n ? images : tf.slice(images, begin, [size, -1, -1, -1]), owned: size !== n };
    }
    return;
  }
  if (images == null || typeof (images as Iterable<tf.Tensor>)[Symbol.iterator] !== 'function') {
    throw new MAEInputError(`images: expected a [N, H, W, C] tensor or an iterable of them, got ${describe(images)}`);
  }
  for (const batch of images as Iterable<tf.Tensor>) {
    if (!(batch instanceof tf.Tensor)) throw new MAEInputError(`images: expected tensors from the iterable, got ${describe(batch)}`);
    yield { batch, owned: true };
  }
}

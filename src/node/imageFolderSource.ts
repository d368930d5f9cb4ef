/**
 * An image folder as a data source of the training and evaluation loops:
 * seeded epochs of decoded, transformed, normalised NHWC float32 batches,
 * decoded by sharp on libuv's threads ahead of the training step.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  DataError,
  MAEConfigError,
  checkSeed,
  decodedImageSource,
  mixSeed,
  permutation,
  type BadImageFile,
  type ImageSource,
  type ImageSourceBatch,
  type ImageSourceOptions,
  type ImageSourceSummary,
  type SampleSpec,
} from 'tfjs-mae';
import type { ImageFolderListing } from './imageFolder';
import { loadSharp } from './sharp';
import { decodeSample } from './transforms';

/** Options of {@link imageFolderSource} (the library's `ImageSourceOptions`). */
export type ImageFolderSourceOptions = ImageSourceOptions;
/** Counts of an image folder source so far (for the end-of-run summary). */
export type ImageFolderSummary = ImageSourceSummary;
/** A batch of an image folder: `images [B, S, S, C]` float32 normalised, `labels [B]` int32 when labelled, file `indices` into `listing.paths`. */
export type ImageFolderBatch = ImageSourceBatch;

/** What {@link imageFolderSource} returns: a `TrainDataSource` for `pretrain` / `finetune`, and an async iterable (epoch 0) for `extractFeatures`. */
export interface ImageFolderSource extends ImageSource {
  /** The files and classes. */
  listing: ImageFolderListing;
}

/**
 * A data source over the images of a folder listing (see `listImageFolder`),
 * with the official MAE transforms, decoded by sharp on libuv's threads
 * ahead of the training step (the library's `decodedImageSource`).
 *
 * Epoch `e` visits the files in `permutation(N, mixSeed(mixSeed(seed, ·), e))`
 * order (or in listing order without shuffle); the sample at position `k` of
 * the epoch gets its crop and flip from `sampleSeed(seed, e, k)`. So a
 * run reproduces, and a resume at `(epoch, startBatch)` decodes only from
 * there on. Batches are decoded `prefetch` ahead while the consumer uses the
 * current one; memory holds those batches only, never the folder.
 *
 * Bad files (corrupt, truncated, over `maxPixels`) are reported once each
 * through `onBadFile` and counted in `summary()`; see `badFiles` for what
 * takes their place. With `strict`, the first one stops the epoch with a
 * `DataError` naming it.
 *
 * @throws DataError when sharp is not installed (at the first batch) or, in `'replace'` mode, no file of the folder decodes
 */
export function imageFolderSource(listing: ImageFolderListing, options: ImageFolderSourceOptions): ImageFolderSource {
  if (listing == null || !Array.isArray(listing.paths) || typeof listing.root !== 'string') {
    throw new MAEConfigError(`listing: expected the result of listImageFolder, got ${typeof listing}`);
  }
  const names = listing.paths.map((p) => path.join(listing.root, p));
  const files = { where: listing.root, names, labels: listing.labels, skipped: listing.skipped };
  const decode = async (index: number, spec: SampleSpec) => decodeSample(await loadSharp(), names[index], spec);
  return { ...decodedImageSource(files, decode, options), listing };
}

/** Options of {@link imageFolderStats}. */
export interface ImageFolderStatsOptions {
  /** Channels of the statistics, 1 or 3. Defaults to 3. */
  channels?: 1 | 3;
  /** Images are taken through the evaluation transform at this size. Defaults to 224. */
  size?: number;
  /** The evaluation transform's `cropPct` (see `ImageSourceOptions.cropPct`). Defaults to 0.875. */
  cropPct?: number;
  /** Use at most this many images, a seeded random subset. Defaults to 1000. */
  maxImages?: number;
  /** Seed of the subset. Defaults to 0. */
  seed?: number;
  /** Called once for each bad file (skipped). Defaults to a one-line `console.warn`. */
  onBadFile?: (file: BadImageFile) => void;
}

/** Per-channel statistics of pixels scaled to [0, 1]. */
export interface ChannelStats {
  /** Mean of each channel. */
  mean: number[];
  /** Standard deviation (population) of each channel. */
  std: number[];
}

/**
 * Per-channel mean and standard deviation of the pixels (scaled to [0, 1])
 * of a folder's images after the evaluation transform (resize + centre
 * crop to `size`), over at most `maxImages` of them: the `mean` / `std` to
 * give `imageFolderSource` instead of ImageNet's. Sums in float64.
 */
export async function imageFolderStats(listing: ImageFolderListing, options: ImageFolderStatsOptions = {}): Promise<ChannelStats> {
  const channels = options.channels ?? 3;
  const n = listing.paths.length;
  const maxImages = options.maxImages ?? 1000;
  if (!Number.isSafeInteger(maxImages) || maxImages < 1) throw new MAEConfigError(`maxImages: expected a positive integer, got ${JSON.stringify(maxImages)}`);
  const take = permutation(n, mixSeed(checkSeed(options.seed ?? 0, 'seed'), 0x73746174)).slice(0, Math.min(n, maxImages)).sort();
  const subset: ImageFolderListing = { ...listing, paths: Array.from(take, (i) => listing.paths[i]), labels: undefined, skipped: [] };
  const source = imageFolderSource(subset, {
    batchSize: 16,
    size: options.size ?? 224,
    transform: 'eval',
    cropPct: options.cropPct,
    channels,
    mean: new Array(channels).fill(0),
    std: new Array(channels).fill(1),
    onBadFile: options.onBadFile,
  });
  const sum = new Float64Array(channels);
  const sumSq = new Float64Array(channels);
  let count = 0;
  for await (const batch of source) {
    const x = await batch.images.data();
    tf.dispose([batch.images, batch.labels]);
    for (let i = 0; i < x.length; i++) {
      const c = i % channels;
      sum[c] += x[i];
      sumSq[c] += x[i] * x[i];
    }
    count += x.length / channels;
  }
  if (count === 0) throw new DataError(`${listing.root}: no image could be decoded for the statistics`);
  const mean = Array.from(sum, (s) => s / count);
  return { mean, std: Array.from(sumSq, (s, c) => Math.sqrt(Math.max(s / count - mean[c] ** 2, 0))) };
}

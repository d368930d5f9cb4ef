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
  batchesPerEpoch as countBatches,
  checkSeed,
  mixSeed,
  normalizationTable,
  permutation,
  sampleCropBoxes,
  type TrainBatch,
  type TrainDataSource,
} from 'tfjs-mae';
import { reportBadFile, type BadImageFile, type BadImageKind, type ImageFolderListing } from './imageFolder';
import { loadSharp, type Sharp } from './sharp';
import { decodeSample, type ImageTransform, type SampleSpec } from './transforms';

/** ImageNet's per-channel mean of pixels in [0, 1] (RGB), the official default. */
export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
/** ImageNet's per-channel standard deviation of pixels in [0, 1] (RGB). */
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

/** Options of {@link imageFolderSource}. */
export interface ImageFolderSourceOptions {
  /** Images per batch. Required. */
  batchSize: number;
  /** Output size `S` (images are `S × S`), e.g. the model's `imgSize`. Required. */
  size: number;
  /**
   * `'train'`: RandomResizedCrop(size, `scale`, `ratio`, bicubic) and a
   * horizontal flip with probability `flipProbability`; `'eval'`: resize of
   * the shorter side to `floor(size / cropPct)` (bicubic), centre crop;
   * `'resize'`: the whole image to `size × size` (bicubic, aspect ratio not
   * kept; the official visualisation notebook). Defaults to `'train'`.
   * An `'eval'` source can train too (no augmentation): give it `shuffle` and `dropLast`.
   */
  transform?: ImageTransform;
  /**
   * Fraction of the resized image the `'eval'` centre crop keeps (timm's
   * `crop_pct`): the shorter side is resized to `floor(size / cropPct)`. With
   * 1, images that already are `size × size` pass unchanged. In (0, 1]. Defaults to 0.875.
   */
  cropPct?: number;
  /** Output channels: 3 (RGB; grey images are expanded, alpha dropped) or 1 (grey). Defaults to 3. */
  channels?: 1 | 3;
  /** Per-channel mean of pixels in [0, 1]. Defaults to `IMAGENET_MEAN` (3 channels) or `[0.5]` (1 channel). */
  mean?: readonly number[];
  /** Per-channel std of pixels in [0, 1]. Defaults to `IMAGENET_STD` (3 channels) or `[0.5]` (1 channel). */
  std?: readonly number[];
  /** Crop area range (train). Defaults to `[0.2, 1]`. */
  scale?: [number, number];
  /** Crop aspect-ratio range (train). Defaults to `[3/4, 4/3]`. */
  ratio?: [number, number];
  /** Flip probability (train). Defaults to 0.5. */
  flipProbability?: number;
  /** Seed of the epoch orders and of every sample's crop and flip, an integer in `[0, 2^32)`. Defaults to 0. */
  seed?: number;
  /** Visit the images in a seeded order per epoch. Defaults to `true` for `'train'`, `false` for `'eval'`. */
  shuffle?: boolean;
  /** Drop the last partial batch. Defaults to `true` for `'train'`, `false` for `'eval'`. */
  dropLast?: boolean;
  /**
   * What a bad file's place becomes. `'replace'`: the next good file of the
   * epoch order (wrapping around) fills its slot, with the slot's crop and
   * flip, so every batch keeps `batchSize` images and an epoch its
   * `batchesPerEpoch`: a resumed run sees the same batches. `'skip'`: the
   * batch is shorter (every row is a distinct file; for features and
   * evaluation). Defaults to `'replace'` for `'train'`, `'skip'` for `'eval'`.
   */
  badFiles?: 'replace' | 'skip';
  /** Batches decoded ahead of the one being used. Defaults to 2. */
  prefetch?: number;
  /** Largest `width × height` of a source image, checked from its header before decoding. Defaults to 89 478 485 (PIL's limit). */
  maxPixels?: number;
  /** Stop at the first bad file with a `DataError` naming it. Defaults to `false`. */
  strict?: boolean;
  /** Called once for each bad file met, as found (batches decode concurrently, so not always in file order). Defaults to a one-line `console.warn`. */
  onBadFile?: (file: BadImageFile) => void;
}

/** Counts of an image folder source so far (for the end-of-run summary). */
export interface ImageFolderSummary {
  /** Image files listed. */
  listed: number;
  /** Images decoded successfully (every epoch counts). */
  read: number;
  /** Distinct bad files met, including those found while listing. */
  skipped: number;
  /** The bad files, each once, with the reason. */
  badFiles: BadImageFile[];
  /** Bad files per kind. */
  reasons: Partial<Record<BadImageKind, number>>;
}

/** A batch of an image folder: `images [B, S, S, C]` float32 normalised, `labels [B]` int32 when labelled, file `indices` into `listing.paths`. */
export interface ImageFolderBatch extends TrainBatch {
  /** `[B, S, S, C]` float32, `(x / 255 − mean[c]) / std[c]`. */
  images: tf.Tensor4D;
  /** `[B]` int32 class indices, when the listing is labelled. */
  labels?: tf.Tensor1D;
  /** Index in `listing.paths` of each image. */
  indices: Int32Array;
}

/** What {@link imageFolderSource} returns: a `TrainDataSource` for `pretrain` / `finetune`, and an async iterable (epoch 0) for `extractFeatures`. */
export interface ImageFolderSource extends TrainDataSource, AsyncIterable<ImageFolderBatch> {
  /** The batches of epoch `epoch` from batch `startBatch` on: a pure function of `(files, options, epoch, startBatch)`. */
  batches(epoch: number, startBatch: number): AsyncIterable<ImageFolderBatch>;
  /** Batches per epoch (with `'skip'`, an upper bound: batches whose files are all bad are left out). */
  batchesPerEpoch: number;
  /** The files and classes. */
  listing: ImageFolderListing;
  /** Counts so far: images read, bad files and why. */
  summary(): ImageFolderSummary;
}

const ORDER_STREAM = 0x6f726472;
const SAMPLE_STREAM = 0x73616d70;

/**
 * The seed of the crop and flip of the sample at position `position` of
 * epoch `epoch` of a source seeded `seed` (give it to `sampleCropBoxes` /
 * `sampleFlips` to know what a sample got).
 */
export function sampleSeed(seed: number, epoch: number, position: number): number {
  return mixSeed(mixSeed(mixSeed(seed, SAMPLE_STREAM), epoch), position);
}

/**
 * A data source over the images of a folder listing (see `listImageFolder`),
 * with the official MAE transforms, decoded by sharp.
 *
 * Epoch `e` visits the files in `permutation(N, mixSeed(mixSeed(seed, ·), e))`
 * order (or in listing order without shuffle); the sample at position `k` of
 * the epoch gets its crop and flip from `mixSeed(mixSeed(seed, e), k)`. So a
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
  const o = resolve(listing, options);
  const n = listing.paths.length;
  const perImage = o.size * o.size * o.channels;
  const tables = o.mean.map((m, c) => normalizationTable({ mean: m, std: o.std[c] }));
  const bad = new Map<number, BadImageFile>();
  const summaryBad: BadImageFile[] = [...listing.skipped];
  let read = 0;

  const noteBad = (index: number, why: Omit<BadImageFile, 'path'>): void => {
    if (bad.has(index)) return;
    const file: BadImageFile = { path: path.join(listing.root, listing.paths[index]), ...why };
    bad.set(index, file);
    summaryBad.push(file);
    reportBadFile(file, o);
  };

  /** Decodes file `index` with the seed of slot `slotSeed`; `undefined` when it is bad. */
  const decode = async (sharp: Sharp, index: number, slotSeed: number): Promise<Uint8Array | undefined> => {
    if (bad.has(index)) return undefined;
    const spec: SampleSpec = { ...o, seed: slotSeed };
    const r = await decodeSample(sharp, path.join(listing.root, listing.paths[index]), spec);
    if ('pixels' in r) {
      read++;
      return r.pixels;
    }
    noteBad(index, r);
    return undefined;
  };

  /** The file and pixels of slot `k` of an epoch's `order`: the file there, or with 'replace' the next good one. */
  const slot = async (sharp: Sharp, order: Int32Array, k: number, slotSeed: number): Promise<{ index: number; pixels: Uint8Array } | undefined> => {
    const tries = o.badFiles === 'replace' ? n : 1;
    for (let t = 0; t < tries; t++) {
      const index = order[(k + t) % n];
      const pixels = await decode(sharp, index, slotSeed);
      if (pixels !== undefined) return { index, pixels };
    }
    if (o.badFiles === 'replace') throw new DataError(`${listing.root}: none of the ${n} image files could be decoded`);
    return undefined;
  };

  const total = n === 0 ? 0 : countBatches(n, o.batchSize, o.dropLast);

  async function* batches(epoch: number, startBatch: number): AsyncGenerator<ImageFolderBatch> {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new MAEConfigError(`epoch: expected an integer >= 0, got ${JSON.stringify(epoch)}`);
    if (!Number.isSafeInteger(startBatch) || startBatch < 0 || startBatch > total) {
      throw new MAEConfigError(`startBatch: expected an integer in [0, ${total}], got ${JSON.stringify(startBatch)}`);
    }
    const sharp = await loadSharp();
    const order = o.shuffle ? permutation(n, mixSeed(mixSeed(o.seed, ORDER_STREAM), epoch)) : Int32Array.from({ length: n }, (_, i) => i);
    const batchAt = (b: number) => {
      const from = b * o.batchSize;
      const to = Math.min(from + o.batchSize, n);
      const slots = [];
      for (let k = from; k < to; k++) slots.push(slot(sharp, order, k, sampleSeed(o.seed, epoch, k)));
      return Promise.all(slots);
    };
    // A window of batches in flight: decoding runs on libuv's threads while the consumer trains.
    const window: Promise<Awaited<ReturnType<typeof batchAt>>>[] = [];
    let next = startBatch;
    const fill = () => {
      while (window.length <= o.prefetch && next < total) {
        const p = batchAt(next++);
        p.catch(() => undefined); // errors surface when this batch is awaited
        window.push(p);
      }
    };
    for (let b = startBatch; b < total; b++) {
      fill();
      const samples = (await window.shift()!).filter((s) => s !== undefined) as { index: number; pixels: Uint8Array }[];
      fill();
      if (samples.length === 0) continue;
      yield toBatch(samples);
    }
  }

  const toBatch = (samples: { index: number; pixels: Uint8Array }[]): ImageFolderBatch => {
    const b = samples.length;
    const x = new Float32Array(b * perImage);
    const c = o.channels;
    for (let s = 0; s < b; s++) {
      const px = samples[s].pixels;
      const base = s * perImage;
      for (let p = 0; p < perImage; p++) x[base + p] = tables[p % c][px[p]];
    }
    const indices = Int32Array.from(samples, (s) => s.index);
    const batch: ImageFolderBatch = { images: tf.tensor4d(x, [b, o.size, o.size, c], 'float32'), indices };
    if (listing.labels) batch.labels = tf.tensor1d(Int32Array.from(indices, (i) => listing.labels![i]), 'int32');
    return batch;
  };

  return {
    batchesPerEpoch: total,
    listing,
    batches,
    [Symbol.asyncIterator]: () => batches(0, 0),
    summary: () => {
      const reasons: Partial<Record<BadImageKind, number>> = {};
      for (const f of summaryBad) reasons[f.kind] = (reasons[f.kind] ?? 0) + 1;
      return { listed: n, read, skipped: summaryBad.length, badFiles: [...summaryBad], reasons };
    },
  };
}

type Resolved = Omit<SampleSpec, 'seed'> &
  Required<Pick<ImageFolderSourceOptions, 'batchSize' | 'shuffle' | 'dropLast' | 'badFiles' | 'prefetch'>> &
  Pick<ImageFolderSourceOptions, 'strict' | 'onBadFile'> & { seed: number; mean: readonly number[]; std: readonly number[] };

function resolve(listing: ImageFolderListing, options: ImageFolderSourceOptions): Resolved {
  if (listing == null || !Array.isArray(listing.paths) || typeof listing.root !== 'string') {
    throw new MAEConfigError(`listing: expected the result of listImageFolder, got ${typeof listing}`);
  }
  const o = options ?? ({} as ImageFolderSourceOptions);
  const int = (name: string, v: unknown, min: number) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new MAEConfigError(`${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const transform = o.transform ?? 'train';
  if (transform !== 'train' && transform !== 'eval' && transform !== 'resize') throw new MAEConfigError(`transform: expected 'train', 'eval' or 'resize', got ${JSON.stringify(transform)}`);
  const channels = o.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new MAEConfigError(`channels: expected 1 or 3, got ${JSON.stringify(channels)}`);
  const train = transform === 'train';
  const mean = o.mean ?? (channels === 3 ? IMAGENET_MEAN : [0.5]);
  const std = o.std ?? (channels === 3 ? IMAGENET_STD : [0.5]);
  for (const [name, v] of [['mean', mean], ['std', std]] as const) {
    if (!Array.isArray(v) || v.length !== channels) throw new MAEConfigError(`${name}: expected ${channels} numbers (one per channel), got ${JSON.stringify(v)}`);
  }
  const cropPct = o.cropPct ?? 0.875;
  if (typeof cropPct !== 'number' || !(cropPct > 0 && cropPct <= 1)) throw new MAEConfigError(`cropPct: expected a number in (0, 1], got ${JSON.stringify(cropPct)}`);
  const scale = o.scale ?? [0.2, 1];
  const ratio = o.ratio ?? [3 / 4, 4 / 3];
  sampleCropBoxes(0, 1, 1, { scale, ratio, seed: 0 }); // checks the ranges now, not as a bad file per sample
  const flipProbability = o.flipProbability ?? 0.5;
  if (typeof flipProbability !== 'number' || !(flipProbability >= 0 && flipProbability <= 1)) {
    throw new MAEConfigError(`flipProbability: expected a probability in [0, 1], got ${JSON.stringify(flipProbability)}`);
  }
  const badFiles = o.badFiles ?? (train ? 'replace' : 'skip');
  if (badFiles !== 'replace' && badFiles !== 'skip') throw new MAEConfigError(`badFiles: expected 'replace' or 'skip', got ${JSON.stringify(badFiles)}`);
  const batchSize = int('batchSize', o.batchSize, 1);
  const dropLast = o.dropLast ?? train;
  if (dropLast && listing.paths.length > 0 && batchSize > listing.paths.length) {
    throw new MAEConfigError(`batchSize: expected at most the ${listing.paths.length} images of ${listing.root} with dropLast, got ${batchSize}`);
  }
  if (listing.paths.length === 0) throw new DataError(`${listing.root}: no image files (JPEG, PNG or WebP) found`);
  return {
    transform,
    size: int('size', o.size, 1),
    cropPct,
    channels,
    mean,
    std,
    scale,
    ratio,
    flipProbability,
    maxPixels: int('maxPixels', o.maxPixels ?? 89_478_485, 1),
    seed: checkSeed(o.seed ?? 0, 'seed'),
    batchSize,
    shuffle: o.shuffle ?? train,
    dropLast,
    badFiles,
    prefetch: int('prefetch', o.prefetch ?? 2, 0),
    strict: o.strict,
    onBadFile: o.onBadFile,
  };
}

/** Options of {@link imageFolderStats}. */
export interface ImageFolderStatsOptions {
  /** Channels of the statistics, 1 or 3. Defaults to 3. */
  channels?: 1 | 3;
  /** Images are taken through the evaluation transform at this size. Defaults to 224. */
  size?: number;
  /** The evaluation transform's `cropPct` (see {@link ImageFolderSourceOptions.cropPct}). Defaults to 0.875. */
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

/**
 * Image folders for the commands: the one place the CLI reads images, over
 * tfjs-mae/node's image folders (listing by content, ImageFolder labels,
 * sharp decoding, the official train / eval transforms, bad files named and
 * skipped).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { IMAGENET_MEAN, IMAGENET_STD, imageFolderSource, listImageFolder, type BadImageFile, type ImageFolderListing, type ImageFolderSource } from '../node';
import { CliError } from './args';

/** A folder (or a list) of images as the commands use it. */
export interface FolderImages {
  /** The folder given (`''` for a list of files). */
  root: string;
  listing: ImageFolderListing;
  /** Class names (sorted subfolder names), index = label; undefined when unlabelled. */
  classes?: string[];
  /** The per-channel normalisation of pixels in [0, 1]: `(x − mean) / std`. */
  mean: number[];
  std: number[];
  /** The evaluation transform's crop fraction: resize the shorter side to size / cropPct, then centre crop. */
  cropPct: number;
  /**
   * Training batches in a seeded order per epoch, the last partial batch dropped; exact resume.
   * `augment` (default): RandomResizedCrop + flip, seeded per (seed, epoch, index); else the evaluation transform.
   */
  trainSource(batchSize: number, seed: number, augment?: boolean): ImageFolderSource;
  /** Evaluation batches in file order: resize to size/cropPct and centre crop; bad files skipped (rows carry `indices`). */
  evalSource(batchSize: number): ImageFolderSource;
  /** Batches in file order, each whole image resized to the input size (no crop; the official visualisation notebook's). */
  resizeSource(batchSize: number): ImageFolderSource;
  /** Every bad file met so far (listing and decoding), each once. */
  badFiles(): BadImageFile[];
}

/** Options of {@link openImageFolder}. */
export interface OpenImageFolderOptions {
  /** Side of the square images fed to the model. */
  inputSize: number;
  /** Channels fed to the model: 1 (grey) or 3 (RGB). */
  inChans: number;
  /** Per-channel normalisation; defaults to ImageNet's (3 channels) or 0.5 / 0.5 (1 channel). */
  mean?: number[];
  std?: number[];
  /** The evaluation transform's crop fraction (timm's crop_pct). Defaults to 0.875 (the official scripts'). */
  cropPct?: number;
  /** Stop at the first bad file instead of skipping it. Defaults to false. */
  strict?: boolean;
  /** Told about each bad file once (the CLI prints a line). */
  onBadFile?: (file: BadImageFile) => void;
}

function checkChannels(c: number): 1 | 3 {
  if (c !== 1 && c !== 3) throw new CliError(`image folders give 1 or 3 channels; the model wants ${c}`);
  return c;
}

/** The images of `listing` as the commands use them (see {@link openImageFolder}). */
export function folderImages(root: string, listing: ImageFolderListing, o: OpenImageFolderOptions): FolderImages {
  const channels = checkChannels(o.inChans);
  const mean = o.mean ?? (channels === 3 ? [...IMAGENET_MEAN] : [0.5]);
  const std = o.std ?? (channels === 3 ? [...IMAGENET_STD] : [0.5]);
  const seen = new Map<string, BadImageFile>(listing.skipped.map((b) => [b.path, b]));
  const onBadFile = (file: BadImageFile): void => {
    if (seen.has(file.path)) return;
    seen.set(file.path, file);
    o.onBadFile?.(file);
  };
  const cropPct = o.cropPct ?? 0.875;
  const common = { size: o.inputSize, channels, mean, std, cropPct, strict: o.strict, onBadFile } as const;
  return {
    root,
    listing,
    classes: listing.labels ? listing.classes : undefined,
    mean,
    std,
    cropPct,
    trainSource: (batchSize, seed, augment = true) => {
      if (batchSize > listing.paths.length) throw new CliError(`--batch-size ${batchSize} is more than the ${listing.paths.length} images of ${root}`);
      const order = { shuffle: true, dropLast: true, badFiles: 'replace' } as const;
      return imageFolderSource(listing, { ...common, ...order, batchSize, seed, transform: augment ? 'train' : 'eval' });
    },
    evalSource: (batchSize) => imageFolderSource(listing, { ...common, batchSize, transform: 'eval' }),
    resizeSource: (batchSize) => imageFolderSource(listing, { ...common, batchSize, transform: 'resize' }),
    badFiles: () => [...seen.values()],
  };
}

/**
 * Lists the images of `dir` (recursively; first-level subfolders = classes),
 * refusing a path that is not a folder or holds no image. Commands call it
 * before loading their weights, so a mistyped folder is said at once.
 */
export async function listImages(dir: string, options: Pick<OpenImageFolderOptions, 'strict' | 'onBadFile'> = {}): Promise<ImageFolderListing> {
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw new CliError(`${JSON.stringify(dir)} is not a folder of images`);
  const listing = await listImageFolder(dir, { strict: options.strict, onBadFile: (b) => options.onBadFile?.(b) });
  if (listing.paths.length === 0) throw new CliError(`no images (JPEG, PNG or WebP) in ${JSON.stringify(dir)}`);
  return listing;
}

/** Lists the images of `dir` (see {@link listImages}) as the commands use them. */
export async function openImageFolder(dir: string, options: OpenImageFolderOptions): Promise<FolderImages> {
  return folderImages(dir, await listImages(dir, options), options);
}

/** Refuses a path of `paths` that is not a file (commands call it before loading their weights). */
export async function checkImageFiles(paths: string[]): Promise<void> {
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) throw new CliError(`cannot read ${JSON.stringify(path)}: ${info ? 'not a file' : 'no such file'}`);
  }
}

/** The given image files, in order, unlabelled. */
export async function openImageFiles(paths: string[], options: OpenImageFolderOptions): Promise<FolderImages> {
  await checkImageFiles(paths);
  const listing: ImageFolderListing = { root: '', paths: paths.map((p) => resolve(p)), classes: [], classToIndex: {}, skipped: [] };
  return folderImages('', listing, options);
}

/** The first batch of a source's epoch 0 (the rest is not decoded). The caller disposes its tensors. */
export async function firstBatch(source: ImageFolderSource): Promise<Awaited<ReturnType<ImageFolderSource['batches']> extends AsyncIterable<infer B> ? B : never> | undefined> {
  for await (const batch of source.batches(0, 0)) return batch;
  return undefined;
}

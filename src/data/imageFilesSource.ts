/**
 * Image files in a browser as training data: `File`s from a folder picked
 * with `<input type="file" webkitdirectory>` or dropped on the page, `Blob`s,
 * or URLs, listed as torchvision's `ImageFolder` lists a folder (class = the
 * first-level subfolder, classes sorted) and decoded with `createImageBitmap`
 * and a canvas. The batches are those of `imageFolderSource` in
 * `tfjs-mae/node`: the same order, seeds, transforms' geometry, bad-file
 * handling and prefetch (`decodedImageSource`).
 *
 * DOM APIs are touched only when an image is decoded, so this module loads
 * anywhere; in Node, give `options.decode` (tests) or use `imageFolderSource`.
 */
import { DataError, MAEConfigError, describe } from '../errors';
import type { CropBox } from './augment';
import { IMAGE_HEAD_BYTES, IMAGE_SIZE_HEAD_BYTES, classifyImageFile, corruptFile, imageHeaderSize, reportBadFile, type BadImageFile } from './imageFiles';
import { decodedImageSource, type ImageSource, type ImageSourceOptions } from './imageSource';
import { overPixelLimit, samplePlan, type DecodeResult, type SamplePlan, type SampleSpec } from './sampleTransform';

/**
 * One image file: a `File` (its `webkitRelativePath`, else its name, is its
 * path), a `Blob`, a URL, or a blob or URL with the path to list it under
 * (e.g. a dropped file's `FileSystemEntry.fullPath`).
 */
export type ImageFileInput =
  | Blob
  | string
  | {
      /** The path to list the file under, `/`-separated (a leading `/` is dropped). */
      path: string;
      /** The file's blob, or its URL. */
      file: Blob | string;
    };

/** Options of {@link listImageFiles}. */
export interface ListImageFilesOptions {
  /**
   * `'folders'`: the class of a file is its first-level subfolder under the
   * common folder of all the paths (files directly in it are ignored, as
   * torchvision does); `'none'`: every image, unlabelled; `'auto'`:
   * `'folders'` when some path has a subfolder under the common folder,
   * else `'none'`. Defaults to `'auto'`.
   */
  labels?: 'auto' | 'folders' | 'none';
  /** Class names to use (e.g. the training set's), instead of the subfolders found. Defaults to the subfolders. */
  classes?: string[];
  /** The common folder, `/`-separated (e.g. `'photos'` for a picked folder `photos/` with one subfolder). Defaults to the longest common folder of the paths. */
  root?: string;
  /** Stop at the first bad file with a `DataError` naming it. Defaults to `false`. */
  strict?: boolean;
  /** Called with each bad file found. Defaults to a one-line `console.warn`. */
  onBadFile?: (file: BadImageFile) => void;
}

/** What {@link listImageFiles} returns: the image files and their classes, as `listImageFolder` in Node. */
export interface ImageFilesListing {
  /** The common folder of the paths (`''` when none). */
  root: string;
  /** Paths of the image files, `/`-separated, in sorted order (class by class when labelled). */
  paths: string[];
  /** The blob or URL of each path. */
  files: (Blob | string)[];
  /** Class index of each path; `undefined` when unlabelled. */
  labels?: Int32Array;
  /** Class names (first-level subfolders), sorted; `[]` when unlabelled. */
  classes: string[];
  /** Class name → index, as torchvision's `class_to_idx`. */
  classToIndex: Record<string, number>;
  /** Files named as images that are not (empty, other content), found while listing. */
  skipped: BadImageFile[];
}

/** Decodes an image blob and applies the transform of `spec` (see {@link decodeImageBlob}). */
export type BlobDecoder = (blob: Blob, spec: SampleSpec) => Promise<DecodeResult>;

/** Options of {@link imageFilesSource}: those of `imageFolderSource`, and the decoder. */
export interface ImageFilesSourceOptions extends ImageSourceOptions {
  /** The decoder. Defaults to {@link decodeImageBlob} (`createImageBitmap` + a canvas). */
  decode?: BlobDecoder;
  /** How URLs are fetched. Defaults to the global `fetch`. */
  fetch?: (url: string) => Promise<Response>;
}

/** What {@link imageFilesSource} returns: a `TrainDataSource` for `pretrain` / `finetune`, and an async iterable (epoch 0) for `extractFeatures`. */
export interface ImageFilesSource extends ImageSource {
  /** The files and classes. */
  listing: ImageFilesListing;
}

/** The path an input is listed under. */
function pathOf(input: ImageFileInput, i: number): string {
  if (typeof input === 'string') {
    try {
      return decodeURIComponent(new URL(input, 'http://x/').pathname).replace(/^\/+/, '');
    } catch {
      return input;
    }
  }
  if (input instanceof Blob) {
    const f = input as Blob & { webkitRelativePath?: string; name?: string };
    return f.webkitRelativePath || f.name || `blob ${i}`;
  }
  return String(input.path).replace(/\\/g, '/').replace(/^\/+/, '');
}

/**
 * Path order of `listImageFolder`: folder by folder, a folder's files (by
 * UTF-16 code units, as Python's `sorted`) before its subfolders.
 */
function comparePaths(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    const aFile = i === a.length - 1;
    const bFile = i === b.length - 1;
    if (aFile !== bFile) return aFile ? -1 : 1;
    return a[i] < b[i] ? -1 : 1;
  }
  return a.length - b.length;
}

/** The longest common folder (segments) of `paths`. */
function commonFolder(paths: string[][]): string[] {
  if (paths.length === 0) return [];
  const first = paths[0].slice(0, -1);
  let n = first.length;
  for (const p of paths) {
    let k = 0;
    while (k < n && k < p.length - 1 && p[k] === first[k]) k++;
    n = k;
  }
  return first.slice(0, n);
}

/**
 * Lists image files as `listImageFolder` lists a folder: sorted by path
 * (folder by folder, files first), the class of a file its first-level
 * subfolder under the common folder, classes sorted. A `Blob` is an image
 * when its first bytes are JPEG, PNG or WebP, whatever its name; one named
 * as an image (`.jpg`, `.png`, …) that is empty or holds something else is a
 * bad file (reported, and in `skipped`); other files (`.txt`, `.DS_Store`)
 * are ignored silently, and so are files in hidden folders (`.git/…`). URLs
 * are not read here: each is taken as an image, checked when decoded.
 *
 * Memory: the list of paths; each blob is read for 12 bytes, 32 at a time.
 *
 * @param inputs `File`s (e.g. `input.files` of `<input type="file" webkitdirectory>`), `Blob`s, URLs, or `{ path, file }`
 * @throws DataError when a class folder is not among `options.classes` (or, with `strict`, at the first bad file)
 */
export async function listImageFiles(inputs: Iterable<ImageFileInput> | ArrayLike<ImageFileInput>, options: ListImageFilesOptions = {}): Promise<ImageFilesListing> {
  if (inputs == null || (typeof (inputs as Iterable<unknown>)[Symbol.iterator] !== 'function' && typeof (inputs as ArrayLike<unknown>).length !== 'number')) {
    throw new MAEConfigError(`files: expected File objects, Blobs or URLs (an array or a FileList), got ${describe(inputs)}`);
  }
  const mode = options.labels ?? 'auto';
  if (!['auto', 'folders', 'none'].includes(mode)) throw new MAEConfigError(`labels: expected 'auto', 'folders' or 'none', got ${JSON.stringify(mode)}`);
  const all = Array.from(inputs as ArrayLike<ImageFileInput>);
  const entries = all.map((input, i) => {
    if (!(typeof input === 'string' || input instanceof Blob || (input != null && typeof input === 'object' && 'path' in input && (typeof input.file === 'string' || input.file instanceof Blob)))) {
      throw new MAEConfigError(`files[${i}]: expected a File, a Blob, a URL or { path, file }, got ${describe(input)}`);
    }
    const path = pathOf(input, i);
    const file = typeof input === 'string' || input instanceof Blob ? input : input.file;
    return { path, segments: path.split('/').filter((s) => s !== ''), file };
  });
  // Hidden folders are not entered (as in Node).
  const visible = entries.filter((e) => e.segments.length > 0 && !e.segments.slice(0, -1).some((s) => s.startsWith('.')));
  const rootSegments = options.root !== undefined ? options.root.split('/').filter((s) => s !== '') : commonFolder(visible.map((e) => e.segments));
  const under = visible.filter((e) => rootSegments.every((s, k) => e.segments[k] === s) && e.segments.length > rootSegments.length);
  under.sort((a, b) => comparePaths(a.segments, b.segments));
  const depth = rootSegments.length;
  const subfolders = [...new Set(under.filter((e) => e.segments.length > depth + 1).map((e) => e.segments[depth]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const labelled = mode === 'folders' || (mode === 'auto' && subfolders.length > 0);

  const skipped: BadImageFile[] = [];
  const kept: typeof under = [];
  for (let i = 0; i < under.length; i += 32) {
    const chunk = under.slice(i, i + 32);
    const kinds = await Promise.all(chunk.map((e) => classify(e.file, e.path)));
    chunk.forEach((e, k) => {
      const kind = kinds[k];
      if (kind === 'image') kept.push(e);
      else if (kind !== 'ignore') {
        const bad = { path: e.path, ...kind };
        reportBadFile(bad, options);
        skipped.push(bad);
      }
    });
  }
  const root = rootSegments.join('/');
  if (!labelled) return { root, paths: kept.map((e) => e.path), files: kept.map((e) => e.file), classes: [], classToIndex: {}, skipped };

  const classes = options.classes ?? subfolders;
  const classToIndex: Record<string, number> = {};
  classes.forEach((c, i) => (classToIndex[c] = i));
  for (const name of subfolders) {
    if (classToIndex[name] === undefined) {
      throw new DataError(`${root === '' ? name : `${root}/${name}`}: a class folder not among the ${classes.length} classes [${classes.join(', ')}] (of the training set)`);
    }
  }
  const inClass = kept.filter((e) => e.segments.length > depth + 1);
  return {
    root,
    paths: inClass.map((e) => e.path),
    files: inClass.map((e) => e.file),
    labels: Int32Array.from(inClass, (e) => classToIndex[e.segments[depth]]),
    classes: [...classes],
    classToIndex,
    skipped,
  };
}

/** What a listed input is: a blob by its content and name, a URL always an image (checked when decoded). */
async function classify(file: Blob | string, path: string): Promise<ReturnType<typeof classifyImageFile>> {
  if (typeof file === 'string') return 'image';
  try {
    return classifyImageFile(path, file.size, new Uint8Array(await file.slice(0, IMAGE_HEAD_BYTES).arrayBuffer()));
  } catch (err) {
    return { kind: 'corrupt', reason: `unreadable: ${(err as Error)?.message ?? String(err)}` };
  }
}

/**
 * A data source over listed image files (see {@link listImageFiles}), with
 * the official MAE transforms, decoded by `createImageBitmap` and a canvas
 * (or `options.decode`); the batches, seeds and bad-file handling of
 * `imageFolderSource` (see `decodedImageSource`). URLs are fetched when
 * their batch is decoded; a failed fetch, an empty body or a body that is
 * not a JPEG, PNG or WebP image is a bad file.
 *
 * ```ts
 * const listing = await listImageFiles(input.files!); // <input type="file" webkitdirectory>
 * const data = imageFilesSource(listing, { batchSize: 16, size: 32, seed: 0 });
 * await pretrain(mae, data, { epochs: 1, signal });
 * console.log(data.summary()); // images read, bad files and why
 * ```
 *
 * @throws MAEConfigError for a bad option; DataError when there are no image files
 */
export function imageFilesSource(listing: ImageFilesListing, options: ImageFilesSourceOptions): ImageFilesSource {
  if (listing == null || !Array.isArray(listing.paths) || !Array.isArray(listing.files) || listing.files.length !== listing.paths.length) {
    throw new MAEConfigError(`listing: expected the result of listImageFiles, got ${describe(listing)}`);
  }
  const decoder = options?.decode ?? decodeImageBlob;
  const fetchUrl = options?.fetch ?? ((url: string) => globalThis.fetch(url));
  const where = listing.root === '' ? `the ${listing.paths.length} files given` : listing.root;
  const files = { where, names: listing.paths, labels: listing.labels, skipped: listing.skipped };
  const decode = async (index: number, spec: SampleSpec): Promise<DecodeResult> => {
    const file = listing.files[index];
    if (typeof file !== 'string') return decoder(file, spec);
    const blob = await fetchBlob(fetchUrl, file);
    if (!(blob instanceof Blob)) return blob;
    const kind = classifyImageFile(listing.paths[index], blob.size, new Uint8Array(await blob.slice(0, IMAGE_HEAD_BYTES).arrayBuffer()));
    if (kind === 'image') return decoder(blob, spec);
    return kind === 'ignore' ? { kind: 'not-an-image', reason: 'not an image (its content is not JPEG, PNG or WebP)' } : kind;
  };
  return { ...decodedImageSource(files, decode, options), listing };
}

/** The body of `url`, or why it cannot be read. */
async function fetchBlob(fetchUrl: (url: string) => Promise<Response>, url: string): Promise<Blob | Omit<BadImageFile, 'path'>> {
  try {
    const res = await fetchUrl(url);
    if (!res.ok) return { kind: 'corrupt', reason: `unreadable: HTTP ${res.status} ${res.statusText}`.trim() };
    return await res.blob();
  } catch (err) {
    return { kind: 'corrupt', reason: `unreadable: ${(err as Error)?.message ?? String(err)}` };
  }
}

/** Where the canvas draws from: the source rectangle of an image (pixels, may be fractional) and whether it is mirrored. */
export interface CanvasSourceRect {
  /** Left of the source rectangle, in the decoded image's pixels. */
  sx: number;
  /** Top of the source rectangle. */
  sy: number;
  /** Width of the source rectangle. */
  sw: number;
  /** Height of the source rectangle. */
  sh: number;
  /** Mirror left–right. */
  flip: boolean;
}

/**
 * The source rectangle that a single `drawImage(image, sx, sy, sw, sh, 0, 0,
 * size, size)` resamples to carry out `plan` on a `height × width` image: the
 * crop box itself (train), or the centre crop of the resized image mapped
 * back to the source (eval: a resize then a crop is one resampling of that
 * rectangle).
 */
export function canvasSourceRect(plan: SamplePlan, height: number, width: number): CanvasSourceRect {
  const b: CropBox = plan.box;
  if (plan.transform === 'train') return { sx: b.left, sy: b.top, sw: b.width, sh: b.height, flip: plan.flip };
  const [rh, rw] = plan.resize;
  const ky = height / rh;
  const kx = width / rw;
  return { sx: b.left * kx, sy: b.top * ky, sw: b.width * kx, sh: b.height * ky, flip: false };
}

/**
 * HWC pixels with `channels` channels from canvas RGBA: RGB with alpha
 * dropped (3), or grey (1) as Rec. 601 luma `round(0.299 R + 0.587 G + 0.114 B)`
 * (PIL's `convert('L')`).
 */
export function rgbaToChannels(rgba: ArrayLike<number>, channels: 1 | 3): Uint8Array {
  const n = Math.floor(rgba.length / 4);
  const out = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    const r = rgba[4 * p];
    const g = rgba[4 * p + 1];
    const b = rgba[4 * p + 2];
    if (channels === 3) out.set([r, g, b], 3 * p);
    else out[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  return out;
}

type Canvas2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;
const contexts = new Map<number, Canvas2D>();

/** A 2d context of a `size × size` canvas (an `OffscreenCanvas` where there is one), reused. */
function canvas2d(size: number): Canvas2D {
  let ctx = contexts.get(size);
  if (ctx) return ctx;
  const g = globalThis as { OffscreenCanvas?: typeof OffscreenCanvas; document?: Document };
  const canvas = g.OffscreenCanvas ? new g.OffscreenCanvas(size, size) : g.document?.createElement('canvas');
  if (!canvas) throw new DataError('decodeImageBlob needs OffscreenCanvas or a DOM canvas (a browser or a web worker)');
  canvas.width = size;
  canvas.height = size;
  ctx = (canvas.getContext('2d', { willReadFrequently: true }) ?? undefined) as Canvas2D | undefined;
  if (!ctx) throw new DataError('decodeImageBlob: the canvas has no 2d context');
  contexts.set(size, ctx);
  return ctx;
}

/**
 * Decodes an image blob with `createImageBitmap` and carries out the
 * transform of `spec` with one `drawImage` on a `size × size` canvas
 * (`imageSmoothingQuality: 'high'`): `size × size × channels` uint8 pixels,
 * or why the blob is bad (the browser cannot decode it, or it has more than
 * `maxPixels` pixels: checked from the header before decoding, see
 * `imageHeaderSize`, else on the decoded size). The crop and flip are those of Node's sharp decoder;
 * the resampling is the browser's, not bicubic, so pixels differ slightly.
 * Transparent pixels come out black (a canvas stores premultiplied alpha).
 *
 * @throws DataError outside a browser or web worker (no `createImageBitmap`)
 */
export async function decodeImageBlob(blob: Blob, spec: SampleSpec): Promise<DecodeResult> {
  // The size the header claims, checked before decoding (a decompression bomb is refused unread).
  const claimed = imageHeaderSize(new Uint8Array(await blob.slice(0, IMAGE_SIZE_HEAD_BYTES).arrayBuffer()));
  const bomb = claimed && overPixelLimit(claimed.width, claimed.height, spec.maxPixels);
  if (bomb) return bomb;
  const g = globalThis as { createImageBitmap?: typeof createImageBitmap };
  if (typeof g.createImageBitmap !== 'function') {
    throw new DataError('imageFilesSource decodes with createImageBitmap (a browser or a web worker); in Node, use imageFolderSource from tfjs-mae/node, or give options.decode');
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await g.createImageBitmap(blob);
  } catch (err) {
    return corruptFile(err);
  }
  try {
    const { width, height } = bitmap;
    if (!(width > 0 && height > 0)) return { kind: 'corrupt', reason: 'corrupt: the decoded image is empty' };
    const tooBig = overPixelLimit(width, height, spec.maxPixels);
    if (tooBig) return tooBig;
    const r = canvasSourceRect(samplePlan(height, width, spec), height, width);
    const size = spec.size;
    const ctx = canvas2d(size);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, size, size);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    if (r.flip) ctx.setTransform(-1, 0, 0, 1, size, 0);
    ctx.drawImage(bitmap, r.sx, r.sy, r.sw, r.sh, 0, 0, size, size);
    return { pixels: rgbaToChannels(ctx.getImageData(0, 0, size, size).data, spec.channels) };
  } finally {
    bitmap.close();
  }
}

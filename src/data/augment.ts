/**
 * The MAE pre-training augmentations as tfjs ops: random resized crop and
 * random horizontal flip. The random parameters are drawn on the host from a
 * seeded PRNG (never from tensor values), so a given seed gives the same crops
 * and flips on every backend, and no tensor is read back.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError } from '../errors';
import { Rng, checkSeed, mixSeed } from './rng';

/** A crop in pixels: rows `top … top+height−1`, columns `left … left+width−1`. */
export interface CropBox {
  /** First row of the crop, in pixels. */
  top: number;
  /** First column of the crop, in pixels. */
  left: number;
  /** Rows of the crop, in pixels. */
  height: number;
  /** Columns of the crop, in pixels. */
  width: number;
}

/** The random part of `RandomResizedCropArgs`. */
export interface CropSamplingArgs {
  /** Range of the crop area as a fraction of the image area. Defaults to `[0.2, 1]` (the MAE recipe). */
  scale?: [number, number];
  /** Range of the crop aspect ratio width/height, sampled log-uniformly. Defaults to `[3/4, 4/3]`. */
  ratio?: [number, number];
  /**
   * Seed, an integer in `[0, 2^32)`. Required: use a different one for every
   * step (e.g. derived from the step number), or every step gets the same crops.
   */
  seed: number;
}

/** Options of `randomResizedCrop`. */
export interface RandomResizedCropArgs extends CropSamplingArgs {
  /** Output size: `S` for `S × S`, or `[outH, outW]`. Required. */
  size: number | [number, number];
}

/** Options of `randomHorizontalFlip`. */
export interface RandomHorizontalFlipArgs {
  /** Probability of flipping each image, in [0, 1]. Defaults to 0.5. */
  p?: number;
  /** Seed, an integer in `[0, 2^32)`. Required (see `CropSamplingArgs.seed`). */
  seed: number;
}

// Different streams for crop and flip, so that passing the same seed to both does not correlate them.
const CROP_STREAM = 0x63726f70;
const FLIP_STREAM = 0x666c6970;

/** Python's `round` (half to even) for non-negative numbers, as torchvision uses it. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function checkRange(r: unknown, name: string, dflt: [number, number]): [number, number] {
  const v = r === undefined ? dflt : r;
  if (
    !Array.isArray(v) ||
    v.length !== 2 ||
    !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0) ||
    v[0] > v[1]
  ) {
    throw new MAEConfigError(`${name}: expected [lo, hi] with 0 < lo <= hi, finite, got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1]];
}

function checkRank4(imgs: unknown, name: string): tf.Tensor4D {
  if (!(imgs instanceof tf.Tensor) || imgs.rank !== 4) {
    const got = imgs instanceof tf.Tensor ? `shape [${imgs.shape.join(', ')}]` : String(imgs);
    throw new MAEInputError(`${name}: expected a tensor of shape [N, H, W, C], got ${got}`);
  }
  return imgs as tf.Tensor4D;
}

/**
 * Draws the crop of each image as torchvision's `RandomResizedCrop`: up to 10
 * tries of an area fraction uniform in `scale` and an aspect ratio
 * log-uniform in `ratio`, with width and height rounded half-to-even; the
 * first that fits gets a uniform position. When none fits, the centre crop of
 * the largest size whose ratio is clamped to `ratio`.
 *
 * A pure function of `(n, height, width, scale, ratio, seed)`.
 *
 * @returns `n` boxes, in image order.
 */
export function sampleCropBoxes(n: number, height: number, width: number, args: CropSamplingArgs): CropBox[] {
  for (const [name, v] of [['n', n], ['height', height], ['width', width]] as const) {
    if (!Number.isSafeInteger(v) || v < (name === 'n' ? 0 : 1)) {
      throw new MAEConfigError(`${name}: expected a ${name === 'n' ? 'non-negative' : 'positive'} integer, got ${String(v)}`);
    }
  }
  const scale = checkRange(args.scale, 'scale', [0.2, 1]);
  const ratio = checkRange(args.ratio, 'ratio', [3 / 4, 4 / 3]);
  const rng = new Rng(mixSeed(checkSeed(args.seed), CROP_STREAM));
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  const boxes: CropBox[] = [];
  for (let k = 0; k < n; k++) {
    let box: CropBox | undefined;
    for (let attempt = 0; attempt < 10 && box === undefined; attempt++) {
      const targetArea = area * rng.uniformIn(scale[0], scale[1]);
      const aspect = Math.exp(rng.uniformIn(logRatio[0], logRatio[1]));
      const w = roundHalfEven(Math.sqrt(targetArea * aspect));
      const h = roundHalfEven(Math.sqrt(targetArea / aspect));
      if (w > 0 && w <= width && h > 0 && h <= height) {
        const top = rng.below(height - h + 1);
        const left = rng.below(width - w + 1);
        box = { top, left, height: h, width: w };
      }
    }
    boxes.push(box ?? centreBox(height, width, ratio));
  }
  return boxes;
}

/** The fallback: the whole image, narrowed or shortened to the nearest allowed ratio, centred. */
function centreBox(height: number, width: number, ratio: [number, number]): CropBox {
  const inRatio = width / height;
  let h = height;
  let w = width;
  if (inRatio < ratio[0]) h = Math.max(1, roundHalfEven(width / ratio[0]));
  else if (inRatio > ratio[1]) w = Math.max(1, roundHalfEven(height * ratio[1]));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * Random resized crop: a random crop of each image (see `sampleCropBoxes`),
 * resized bilinearly to `size` with `tf.image.cropAndResize`.
 *
 * Sampling is corner-aligned on the crop (the output corners are the centres
 * of the crop's corner pixels), TensorFlow's convention; torchvision resizes
 * with half-pixel centres and antialiasing, which differs by sub-pixel
 * amounts. A crop of the whole image at its own size is the identity (up to
 * float32 rounding of the box coordinates).
 *
 * @param imgs `[N, H, W, C]` float32.
 * @param args `size` (required), `scale` (default `[0.2, 1]`), `ratio`
 *   (default `[3/4, 4/3]`), `seed` (required).
 * @returns `[N, outH, outW, C]` float32; the caller disposes it.
 */
export function randomResizedCrop(imgs: tf.Tensor4D, args: RandomResizedCropArgs): tf.Tensor4D {
  const x = checkRank4(imgs, 'imgs');
  if (x.dtype !== 'float32') {
    throw new MAEInputError(`imgs: expected a float32 tensor, got ${x.dtype}`);
  }
  if (args == null || typeof args !== 'object') {
    throw new MAEConfigError(`args: expected an options object with size and seed, got ${String(args)}`);
  }
  const size = typeof args.size === 'number' ? [args.size, args.size] : args.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isSafeInteger(s) && s > 0)) {
    throw new MAEConfigError(`size: expected a positive integer or [outH, outW], got ${JSON.stringify(args.size)}`);
  }
  const [n, height, width] = x.shape;
  if (height < 1 || width < 1) {
    throw new MAEInputError(`imgs: expected H, W >= 1, got shape [${x.shape.join(', ')}]`);
  }
  const boxes = sampleCropBoxes(n, height, width, args);
  if (n === 0) return tf.zeros([0, size[0], size[1], x.shape[3]]) as tf.Tensor4D;
  // Boxes in the normalised coordinates of the image padded by one replicated
  // row and column (bottom, right): y = row / H. The padding keeps float
  // rounding of the last sample position from leaving the image, where
  // cropAndResize would return its extrapolation value.
  const coords = new Float32Array(4 * n);
  boxes.forEach((b, k) => {
    coords[4 * k] = b.top / height;
    coords[4 * k + 1] = b.left / width;
    coords[4 * k + 2] = (b.top + b.height - 1) / height;
    coords[4 * k + 3] = (b.left + b.width - 1) / width;
  });
  const boxInd = new Int32Array(n);
  for (let k = 0; k < n; k++) boxInd[k] = k;
  return tf.tidy(() => {
    const padded = tf.mirrorPad(x, [[0, 0], [0, 1], [0, 1], [0, 0]], 'symmetric');
    return tf.image.cropAndResize(
      padded,
      tf.tensor2d(coords, [n, 4], 'float32'),
      tf.tensor1d(boxInd, 'int32'),
      [size[0], size[1]],
      'bilinear',
    );
  });
}

/**
 * Draws which images a `randomHorizontalFlip` with these arguments flips:
 * image `k` is flipped when the `k`-th uniform draw is `< p`.
 *
 * @returns `n` flags (1 = flip), in image order.
 */
export function sampleFlips(n: number, args: RandomHorizontalFlipArgs): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new MAEConfigError(`n: expected a non-negative integer, got ${String(n)}`);
  }
  const p = args.p ?? 0.5;
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
    throw new MAEConfigError(`p: expected a probability in [0, 1], got ${String(p)}`);
  }
  const rng = new Rng(mixSeed(checkSeed(args.seed), FLIP_STREAM));
  const flags = new Uint8Array(n);
  for (let k = 0; k < n; k++) flags[k] = rng.uniform() < p ? 1 : 0;
  return flags;
}

/**
 * Random horizontal flip: each image is mirrored left–right (along W) with
 * probability `p` (see `sampleFlips`).
 *
 * @param imgs `[N, H, W, C]`, any dtype.
 * @param args `p` (default 0.5), `seed` (required).
 * @returns `[N, H, W, C]`, same dtype, a new tensor; the caller disposes it.
 */
export function randomHorizontalFlip(imgs: tf.Tensor4D, args: RandomHorizontalFlipArgs): tf.Tensor4D {
  const x = checkRank4(imgs, 'imgs');
  if (args == null || typeof args !== 'object') {
    throw new MAEConfigError(`args: expected an options object with seed, got ${String(args)}`);
  }
  const n = x.shape[0];
  const flags = sampleFlips(n, args);
  return tf.tidy(() => {
    const flip = tf.tensor4d(flags, [n, 1, 1, 1], 'bool');
    return tf.where(flip, tf.reverse(x, 2), x);
  });
}

/**
 * Random erasing (Zhong et al.) as timm's `RandomErasing` that the official
 * `main_finetune.py` applies to each normalised training image (`reprob`
 * 0.25, mode `'pixel'`, count 1): with probability `p`, a random box of the
 * image is replaced by per-pixel `N(0, 1)` noise. Boxes are drawn on the host
 * from a seeded PRNG; the noise is a seeded `tf.randomNormal`, the same on
 * every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, describe } from '../errors';
import { floatTensor, tensorOfRank } from '../util/validate';
import { roundHalfEven, type CropBox } from './augment';
import { Rng, checkSeed, mixSeed } from './rng';

/** Options of {@link randomErasing}; the defaults are timm's and the official recipe's. */
export interface RandomErasingArgs {
  /** Probability of erasing each image. Defaults to `0.25` (`--reprob`). */
  p?: number;
  /** Range of the box area as a fraction of the image. Defaults to `[0.02, 1/3]`. */
  area?: [number, number];
  /** Range of the box aspect ratio h/w, sampled log-uniformly. Defaults to `[0.3, 1/0.3]`. */
  ratio?: [number, number];
  /** `'pixel'`: per-pixel, per-channel `N(0, 1)` values; `'const'`: zeros. Defaults to `'pixel'` (`--remode`). */
  mode?: 'pixel' | 'const';
  /** Seed, an integer in `[0, 2^32)`. Required: use a different one for every step. */
  seed: number;
}

const ERASE_STREAM = 0x65726173;
const NOISE_STREAM = 0x6e6f6973;

function range(name: string, v: unknown, dflt: [number, number]): [number, number] {
  const r = v ?? dflt;
  if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0) || r[0] > r[1]) {
    throw new MAEConfigError(`randomErasing ${name}: expected [lo, hi] with 0 < lo <= hi, got ${describe(r)}`);
  }
  return [r[0], r[1]];
}

/**
 * Draws the erased box of each image as timm's `RandomErasing._erase` (count
 * 1): the image is erased when a uniform draw is `< p`; then up to 10 tries of
 * an area fraction uniform in `area` and a ratio log-uniform in `ratio`,
 * `h = round(√(A·r))`, `w = round(√(A/r))` (half to even); the first with
 * `h < H` and `w < W` gets a uniform position. No box when not erased or
 * when no try fits.
 *
 * A pure function of `(n, height, width, args)`.
 *
 * @returns `n` boxes or `null`s, in image order.
 */
export function sampleErasing(n: number, height: number, width: number, args: RandomErasingArgs): (CropBox | null)[] {
  const p = args.p ?? 0.25;
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new MAEConfigError(`randomErasing p: expected a probability in [0, 1], got ${describe(p)}`);
  const area = range('area', args.area, [0.02, 1 / 3]);
  const ratio = range('ratio', args.ratio, [0.3, 1 / 0.3]);
  const rng = new Rng(mixSeed(checkSeed(args.seed, 'randomErasing seed'), ERASE_STREAM));
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  const boxes: (CropBox | null)[] = [];
  for (let k = 0; k < n; k++) {
    let box: CropBox | null = null;
    if (rng.uniform() < p) {
      for (let attempt = 0; attempt < 10 && box === null; attempt++) {
        const target = rng.uniformIn(area[0], area[1]) * height * width;
        const r = Math.exp(rng.uniformIn(logRatio[0], logRatio[1]));
        const h = roundHalfEven(Math.sqrt(target * r));
        const w = roundHalfEven(Math.sqrt(target / r));
        if (w < width && h < height) box = { top: rng.below(height - h + 1), left: rng.below(width - w + 1), height: h, width: w };
      }
    }
    boxes.push(box);
  }
  return boxes;
}

/**
 * Random erasing of each image (see {@link sampleErasing}): the box is filled
 * with `N(0, 1)` values (mode `'pixel'`) or zeros (`'const'`). Apply it to
 * normalised images, as timm does (after `Normalize`).
 *
 * @param images `[N, H, W, C]` float32 (not disposed)
 * @param args `p` (default 0.25), `area`, `ratio`, `mode`, `seed` (required)
 * @returns `[N, H, W, C]` float32, a new tensor
 */
export function randomErasing(images: tf.Tensor, args: RandomErasingArgs): tf.Tensor4D {
  const x = tensorOfRank('images', images, 4, '[N, H, W, C]') as tf.Tensor4D;
  floatTensor('images', x);
  if (args == null || typeof args !== 'object') throw new MAEConfigError(`randomErasing args: expected an options object with seed, got ${describe(args)}`);
  const mode = args.mode ?? 'pixel';
  if (mode !== 'pixel' && mode !== 'const') throw new MAEConfigError(`randomErasing mode: expected 'pixel' or 'const', got ${describe(mode)}`);
  const [n, h, w, c] = x.shape;
  const boxes = sampleErasing(n, h, w, args);
  if (boxes.every((b) => b === null)) return tf.clone(x);
  const mask = new Uint8Array(n * h * w);
  boxes.forEach((b, k) => {
    if (b === null) return;
    for (let r = b.top; r < b.top + b.height; r++) mask.fill(1, (k * h + r) * w + b.left, (k * h + r) * w + b.left + b.width);
  });
  return tf.tidy(() => {
    const fill = mode === 'pixel' ? tf.randomNormal([n, h, w, c], 0, 1, 'float32', mixSeed(args.seed, NOISE_STREAM)) : tf.zerosLike(x);
    return tf.where(tf.tensor4d(mask, [n, h, w, 1], 'bool'), fill, x) as tf.Tensor4D;
  });
}

/**
 * RandAugment (Cubuk et al.) as timm's `rand-m9-mstd0.5-inc1` that the
 * official `main_finetune.py` uses, on tensors: each image gets `numOps` ops
 * drawn uniformly (with replacement) from the 15 "increasing" ops, each
 * applied with probability 0.5 at a magnitude `N(9, 0.5²)` clipped to
 * `[0, 10]`. The draws are made on the host from a seeded PRNG; the ops are
 * tfjs ops (geometric ones as a bilinear gather whose indices and weights
 * are computed on the host; only kernels that cpu, wasm, webgl, webgpu and
 * tfjs-node all have), so nothing is read back.
 *
 * The ops act on pixel values in `[0, 255]` as PIL's do on uint8 images,
 * computed in float32 without rounding to integers between ops (posterize
 * and equalize round their input). Geometric ops sample bilinearly (timm
 * asks PIL for bicubic) with PIL's pixel-centre convention, and fill with
 * the dataset mean (timm's `img_mean`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, describe } from '../errors';
import { floatTensor, tensorOfRank } from '../util/validate';
import { Rng, checkSeed, mixSeed } from './rng';
import { normalDraw } from './distributions';

/** timm's `_RAND_INCREASING_TRANSFORMS`, in its order. */
export const RAND_AUGMENT_OPS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'PosterizeIncreasing',
  'SolarizeIncreasing',
  'SolarizeAdd',
  'ColorIncreasing',
  'ContrastIncreasing',
  'BrightnessIncreasing',
  'SharpnessIncreasing',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
] as const;

/** The name of one RandAugment op. */
export type RandAugmentOpName = (typeof RAND_AUGMENT_OPS)[number];

/** One op to apply, with its argument resolved from the magnitude. */
export interface RandAugmentOp {
  /** Which op. */
  name: RandAugmentOpName;
  /**
   * The op's argument: degrees (Rotate), bits kept (Posterize), threshold
   * (Solarize), amount added (SolarizeAdd), blend factor (Color, Contrast,
   * Brightness, Sharpness), shear factor (ShearX/Y), shift as a fraction of
   * the width / height (TranslateX/YRel); 0 for AutoContrast, Equalize, Invert.
   */
  arg: number;
}

/** Options of {@link randAugment}; the defaults are `rand-m9-mstd0.5-inc1`. */
export interface RandAugmentArgs {
  /** Ops drawn per image. Defaults to 2. */
  numOps?: number;
  /** Magnitude m in `[0, 10]`. Defaults to 9. */
  magnitude?: number;
  /** Std of the per-op magnitude `N(m, std²)` (clipped to `[0, 10]`); 0 for a fixed m. Defaults to 0.5. */
  magnitudeStd?: number;
  /** Probability of applying each drawn op. Defaults to 0.5. */
  prob?: number;
  /** Largest translation as a fraction of the image side. Defaults to 0.45. */
  translatePct?: number;
  /** The ops to draw from. Defaults to all of {@link RAND_AUGMENT_OPS}. */
  ops?: readonly RandAugmentOpName[];
  /**
   * How the input was normalised, `x = (pixel/255 − mean) / std`: a number
   * or one per channel. Defaults to 0 (inputs in `[0, 1]`).
   */
  mean?: number | number[];
  /** See `mean`. Defaults to 1. */
  std?: number | number[];
  /** Seed, an integer in `[0, 2^32)`. Required: use a different one for every step. */
  seed: number;
}

const MAX_LEVEL = 10;
const RA_STREAM = 0x72616e64;
const SIGNED = new Set<RandAugmentOpName>([
  'Rotate', 'ColorIncreasing', 'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing',
  'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel',
]);

/** timm's level → argument mapping for a magnitude `m` in `[0, 10]` (before the random sign). */
function levelArg(name: RandAugmentOpName, m: number, translatePct: number): number {
  const level = m / MAX_LEVEL;
  switch (name) {
    case 'Rotate': return level * 30;
    case 'PosterizeIncreasing': return 4 - Math.floor(level * 4);
    case 'SolarizeIncreasing': return 256 - Math.floor(level * 256);
    case 'SolarizeAdd': return Math.floor(level * 110);
    case 'ColorIncreasing':
    case 'ContrastIncreasing':
    case 'BrightnessIncreasing':
    case 'SharpnessIncreasing': return level * 0.9;
    case 'ShearX':
    case 'ShearY': return level * 0.3;
    case 'TranslateXRel':
    case 'TranslateYRel': return level * translatePct;
    default: return 0;
  }
}

function checkArgs(args: RandAugmentArgs) {
  if (args == null || typeof args !== 'object') throw new MAEConfigError(`randAugment args: expected an options object with seed, got ${describe(args)}`);
  const numOps = args.numOps ?? 2;
  if (!Number.isSafeInteger(numOps) || numOps < 0) throw new MAEConfigError(`randAugment numOps: expected an integer >= 0, got ${describe(numOps)}`);
  const num = (name: string, v: unknown, lo: number, hi: number) => {
    if (typeof v !== 'number' || !(v >= lo && v <= hi)) throw new MAEConfigError(`randAugment ${name}: expected a number in [${lo}, ${hi}], got ${describe(v)}`);
    return v;
  };
  const ops = args.ops ?? RAND_AUGMENT_OPS;
  if (!Array.isArray(ops) || ops.length === 0 || !ops.every((o) => (RAND_AUGMENT_OPS as readonly string[]).includes(o))) {
    throw new MAEConfigError(`randAugment ops: expected a non-empty list of ${RAND_AUGMENT_OPS.join(', ')}, got ${describe(ops)}`);
  }
  return {
    numOps,
    magnitude: num('magnitude', args.magnitude ?? 9, 0, MAX_LEVEL),
    magnitudeStd: num('magnitudeStd', args.magnitudeStd ?? 0.5, 0, Infinity),
    prob: num('prob', args.prob ?? 0.5, 0, 1),
    translatePct: num('translatePct', args.translatePct ?? 0.45, 0, 1),
    ops: ops as readonly RandAugmentOpName[],
    seed: checkSeed(args.seed, 'randAugment seed'),
  };
}

/**
 * Draws the ops of each image as timm's `RandAugment.__call__`: `numOps` ops
 * uniformly with replacement; each kept when a uniform draw is `≤ prob`; its
 * magnitude `N(m, std²)` clipped to `[0, 10]`; the argument from timm's level
 * functions, negated with probability 1/2 for the signed ops (rotate, shear,
 * translate, and the enhance factors `1 ± 0.9·m/10`).
 *
 * A pure function of `(n, args)`.
 *
 * @returns for each image, the ops to apply in order (skipped ones left out)
 */
export function sampleRandAugment(n: number, args: RandAugmentArgs): RandAugmentOp[][] {
  if (!Number.isSafeInteger(n) || n < 0) throw new MAEConfigError(`n: expected an integer >= 0, got ${describe(n)}`);
  const o = checkArgs(args);
  const rng = new Rng(mixSeed(o.seed, RA_STREAM));
  const out: RandAugmentOp[][] = [];
  for (let k = 0; k < n; k++) {
    const chosen = Array.from({ length: o.numOps }, () => o.ops[rng.below(o.ops.length)]);
    const applied: RandAugmentOp[] = [];
    for (const name of chosen) {
      if (rng.uniform() > o.prob) continue;
      let m = o.magnitude;
      if (o.magnitudeStd > 0) m = Math.min(MAX_LEVEL, Math.max(0, m + o.magnitudeStd * normalDraw(rng)));
      let arg = levelArg(name, m, o.translatePct);
      if (SIGNED.has(name) && rng.uniform() > 0.5) arg = -arg;
      if (name.endsWith('Increasing') && SIGNED.has(name)) arg = 1 + arg; // enhance factor around 1
      applied.push({ name, arg });
    }
    out.push(applied);
  }
  return out;
}

/** `v` as one value per channel. */
function perChannel(name: string, v: number | number[] | undefined, dflt: number, c: number): number[] {
  const a = v === undefined ? [dflt] : typeof v === 'number' ? [v] : v;
  if (!Array.isArray(a) || !(a.length === 1 || a.length === c) || !a.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new MAEConfigError(`randAugment ${name}: expected a number or ${c} numbers (one per channel), got ${describe(v)}`);
  }
  return a.length === c ? a : new Array<number>(c).fill(a[0]);
}

/**
 * RandAugment of each image (see {@link sampleRandAugment}). Images whose ops
 * were all skipped are returned unchanged.
 *
 * @param images `[N, H, W, C]` float32, normalised as `mean` / `std` say (not disposed)
 * @param args see {@link RandAugmentArgs}; `seed` is required
 * @returns `[N, H, W, C]` float32, normalised the same way; a new tensor
 */
export function randAugment(images: tf.Tensor, args: RandAugmentArgs): tf.Tensor4D {
  const x = tensorOfRank('images', images, 4, '[N, H, W, C]') as tf.Tensor4D;
  floatTensor('images', x);
  const [n, , , c] = x.shape;
  const plans = sampleRandAugment(n, args);
  const mean = perChannel('mean', args.mean, 0, c);
  const std = perChannel('std', args.std, 1, c);
  if (std.some((s) => s === 0)) throw new MAEConfigError(`randAugment std: expected non-zero values, got ${describe(args.std)}`);
  if (plans.every((p) => p.length === 0)) return tf.clone(x);
  return tf.tidy(() => {
    const m = tf.tensor1d(mean);
    const s = tf.tensor1d(std);
    const fill = mean.map((v) => 255 * v); // the dataset mean: 0 once normalised
    const images = tf.split(x, n, 0).map((img, k) => {
      if (plans[k].length === 0) return img;
      let v = tf.clipByValue(tf.mul(tf.add(tf.mul(img, s), m), 255), 0, 255);
      for (const op of plans[k]) v = randAugmentOp(v as tf.Tensor4D, op, fill);
      return tf.div(tf.sub(tf.div(v, 255), m), s);
    });
    return tf.concat(images, 0) as tf.Tensor4D;
  });
}

/**
 * One RandAugment op on pixel values, as PIL does it on uint8 images (see
 * the module notes for the differences), clipped to `[0, 255]`.
 *
 * @param v `[N, H, W, C]` float32 in `[0, 255]` (not disposed)
 * @param fill the value of each channel where a geometric op uncovers the image
 * @returns `[N, H, W, C]` float32 in `[0, 255]`
 */
export function randAugmentOp(v: tf.Tensor4D, op: RandAugmentOp, fill: number[]): tf.Tensor4D {
  const [, h, w, c] = v.shape;
  const a = op.arg;
  return tf.tidy(() => {
    let out: tf.Tensor;
    switch (op.name) {
      case 'AutoContrast': out = autoContrast(v); break;
      case 'Equalize': out = equalize(v); break;
      case 'Invert': out = tf.sub(255, v); break;
      case 'PosterizeIncreasing': {
        const step = 2 ** (8 - Math.max(0, Math.min(8, a)));
        out = tf.mul(tf.floor(tf.div(tf.round(v), step)), step);
        break;
      }
      case 'SolarizeIncreasing': out = tf.where(tf.greaterEqual(v, a), tf.sub(255, v), v); break;
      case 'SolarizeAdd': out = tf.where(tf.less(v, 128), tf.minimum(tf.add(v, a), 255), v); break;
      case 'ColorIncreasing': out = blend(c === 3 ? tf.tile(gray(v), [1, 1, 1, 3]) : v, v, a); break;
      case 'ContrastIncreasing': out = blend(tf.floor(tf.add(tf.mean(gray(v), [1, 2, 3], true), 0.5)), v, a); break;
      case 'BrightnessIncreasing': out = tf.mul(v, a); break;
      case 'SharpnessIncreasing': out = blend(smooth(v), v, a); break;
      case 'Rotate': out = affine(v, rotation(a, w, h), fill); break;
      case 'ShearX': out = affine(v, [1, a, 0, 0, 1, 0], fill); break;
      case 'ShearY': out = affine(v, [1, 0, 0, a, 1, 0], fill); break;
      case 'TranslateXRel': out = affine(v, [1, 0, a * w, 0, 1, 0], fill); break;
      case 'TranslateYRel': out = affine(v, [1, 0, 0, 0, 1, a * h], fill); break;
      default: throw new MAEConfigError(`randAugment op: expected one of ${RAND_AUGMENT_OPS.join(', ')}, got ${describe(op.name)}`);
    }
    return tf.clipByValue(out, 0, 255) as tf.Tensor4D;
  });
}

/** `degenerate + factor·(image − degenerate)` (PIL `ImageEnhance`). */
function blend(degenerate: tf.Tensor, image: tf.Tensor, factor: number): tf.Tensor {
  return tf.add(degenerate, tf.mul(tf.sub(image, degenerate), factor));
}

/** `[N, H, W, 1]` luma `0.299 R + 0.587 G + 0.114 B` (PIL `convert('L')`); the mean of the channels otherwise. */
function gray(v: tf.Tensor4D): tf.Tensor4D {
  if (v.shape[3] !== 3) return tf.mean(v, 3, true);
  return tf.sum(tf.mul(v, tf.tensor1d([0.299, 0.587, 0.114])), 3, true);
}

/** Each channel stretched from its [min, max] to [0, 255]; unchanged when flat (PIL `autocontrast`). */
function autoContrast(v: tf.Tensor4D): tf.Tensor {
  const lo = tf.min(v, [1, 2], true);
  const hi = tf.max(v, [1, 2], true);
  const flat = tf.lessEqual(hi, lo);
  const scale = tf.div(255, tf.where(flat, tf.onesLike(hi), tf.sub(hi, lo)));
  return tf.where(flat, v, tf.mul(tf.sub(v, lo), scale));
}

/**
 * Histogram equalisation of each image's channels (PIL `equalize`): with
 * `h` the 256-bin histogram, `step = ⌊(Σh − h[last non-empty]) / 255⌋`, and
 * `lut[i] = ⌊(⌊step/2⌋ + Σ_{j<i} h[j]) / step⌋`; unchanged when `step = 0`.
 */
function equalize(v: tf.Tensor4D): tf.Tensor {
  const [n, , , c] = v.shape;
  const q = tf.cast(tf.round(v), 'int32'); // [N, H, W, C]
  const offsets = tf.reshape(tf.range(0, 256 * n * c, 256, 'int32'), [n, 1, 1, c]); // row (image, channel) of the histograms
  const bin = tf.add(q, offsets);
  // One 1-D bincount over all rows (tfjs-node has Bincount but not DenseBincount).
  const hist = tf.reshape(tf.bincount(tf.reshape(bin, [-1]) as tf.Tensor1D, tf.tensor1d([], 'float32'), 256 * n * c), [n * c, 256]);
  const bins = tf.range(0, 256, 1, 'float32');
  const last = tf.max(tf.where(tf.greater(hist, 0), bins, tf.fill([256], -1)), 1, true);
  const lastCount = tf.sum(tf.mul(hist, tf.cast(tf.equal(bins, last), 'float32')), 1, true);
  const step = tf.floor(tf.div(tf.sub(tf.sum(hist, 1, true), lastCount), 255));
  const below = tf.cumsum(hist, 1, true); // Σ_{j<i} h[j]
  const safe = tf.where(tf.equal(step, 0), tf.onesLike(step), step);
  const eq = tf.minimum(tf.floor(tf.div(tf.add(tf.floor(tf.div(step, 2)), below), safe)), 255);
  const lut = tf.where(tf.equal(step, 0), tf.broadcastTo(bins, [n * c, 256]), eq); // [N·C, 256]
  return tf.gatherND(tf.reshape(lut, [-1]), tf.expandDims(bin, 4)); // [N, H, W, C]
}

/** PIL `ImageFilter.SMOOTH` (3×3 kernel 1 1 1 / 1 5 1 / 1 1 1, over 13); the border pixels keep their values. */
function smooth(v: tf.Tensor4D): tf.Tensor {
  const [, h, w, c] = v.shape;
  if (h < 3 || w < 3) return v;
  const k = tf.tensor4d([1, 1, 1, 1, 5, 1, 1, 1, 1].map((x) => x / 13), [3, 3, 1, 1]);
  const inner = tf.depthwiseConv2d(v, tf.tile(k, [1, 1, c, 1]) as tf.Tensor4D, 1, 'valid');
  return borderKept(v, inner);
}

/** `inner [N, H−2, W−2, C]` framed by the border pixels of `v`. */
function borderKept(v: tf.Tensor4D, inner: tf.Tensor4D): tf.Tensor {
  const [, h, w] = v.shape;
  const mask = tf.pad(tf.ones([1, h - 2, w - 2, 1], 'bool'), [[0, 0], [1, 1], [1, 1], [0, 0]]);
  return tf.where(mask, tf.pad(inner, [[0, 0], [1, 1], [1, 1], [0, 0]]), v);
}

/** PIL's `rotate(degrees)` about the image centre (counter-clockwise) as an affine `(a, b, c, d, e, f)` output → input map. */
function rotation(degrees: number, w: number, h: number): number[] {
  const t = (-degrees * Math.PI) / 180;
  const r = (x: number) => Math.round(x * 1e15) / 1e15; // PIL rounds to 15 digits: exact quarter turns
  const [a, b, d, e] = [r(Math.cos(t)), r(Math.sin(t)), r(-Math.sin(t)), r(Math.cos(t))];
  const [cx, cy] = [w / 2, h / 2];
  return [a, b, a * -cx + b * -cy + cx, d, e, d * -cx + e * -cy + cy];
}

/**
 * PIL's `transform(AFFINE, (a, b, c, d, e, f))`: output pixel centre `(x, y)`
 * samples the input at `(a·x + b·y + c, d·x + e·y + f)`, in PIL's coordinates
 * (pixel i spans `[i, i+1)`), bilinearly; neighbours outside the image count
 * as `fill`. The four neighbours and weights of every output pixel are
 * computed on the host, the sampling is one `gatherND` (no `tf.image.transform`:
 * tfjs-node lacks it).
 */
function affine(v: tf.Tensor4D, [a, b, c, d, e, f]: number[], fill: number[]): tf.Tensor {
  const [n, h, w, ch] = v.shape;
  const p = h * w;
  const idx = new Int32Array(4 * p);
  const wt = new Float32Array(4 * p);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const xin = a * (x + 0.5) + b * (y + 0.5) + c - 0.5; // in pixel-index coordinates
      const yin = d * (x + 0.5) + e * (y + 0.5) + f - 0.5;
      const x0 = Math.floor(xin);
      const y0 = Math.floor(yin);
      const fx = xin - x0;
      const fy = yin - y0;
      const corners: [number, number, number][] = [[y0, x0, (1 - fy) * (1 - fx)], [y0, x0 + 1, (1 - fy) * fx], [y0 + 1, x0, fy * (1 - fx)], [y0 + 1, x0 + 1, fy * fx]];
      corners.forEach(([r, col, weight], k) => {
        const inside = r >= 0 && r < h && col >= 0 && col < w;
        idx[k * p + y * w + x] = inside ? r * w + col : p; // row p is the fill
        wt[k * p + y * w + x] = weight;
      });
    }
  }
  const f0 = tf.tensor1d(fill);
  // [P + 1, N·C]: the pixels minus the fill, then a zero row (the fill once it is added back).
  const pixels = tf.reshape(tf.transpose(tf.reshape(tf.sub(v, f0), [n, p, ch]), [1, 0, 2]), [p, n * ch]);
  const table = tf.concat([pixels, tf.zeros([1, n * ch])], 0);
  const picked = tf.mul(tf.gatherND(table, tf.tensor2d(idx, [4 * p, 1], 'int32')), tf.tensor2d(wt, [4 * p, 1])); // [4P, N·C]
  const sampled = tf.sum(tf.reshape(picked, [4, p, n * ch]), 0); // [P, N·C]
  return tf.add(tf.transpose(tf.reshape(sampled, [h, w, n, ch]), [2, 0, 1, 3]), f0);
}

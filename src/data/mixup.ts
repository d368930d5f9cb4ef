/**
 * Mixup and CutMix with label smoothing, batch mode, as timm's `Mixup`
 * (`mode='batch'`) that the official `main_finetune.py` uses: one `λ` and one
 * choice of mixup or cutmix per batch; sample `i` is mixed with sample
 * `N − 1 − i` (the batch reversed); the targets become soft.
 *
 * The random parameters are drawn on the host from a seeded PRNG, so a seed
 * gives the same mix on every backend and nothing is read back.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { floatTensor, positiveInt, tensorOfRank } from '../util/validate';
import type { CropBox } from './augment';
import { Rng, checkSeed, mixSeed } from './rng';
import { betaDraw } from './distributions';

/** Options of {@link mixupCutmix}; the defaults are the official fine-tuning recipe (`main_finetune.py` command lines). */
export interface MixupCutmixArgs {
  /** Mixup's `Beta(α, α)`; 0 turns mixup off. Defaults to `0.8`. */
  mixupAlpha?: number;
  /** CutMix's `Beta(α, α)`; 0 turns cutmix off. Defaults to `1.0`. */
  cutmixAlpha?: number;
  /** With both on, the probability that a batch gets cutmix rather than mixup. Defaults to `0.5`. */
  switchProb?: number;
  /** Probability that a batch is mixed at all (timm `mixup_prob`). Defaults to `1`. */
  prob?: number;
  /** Label smoothing ε: targets `1 − ε + ε/K` and `ε/K` before mixing. Defaults to `0.1`. */
  labelSmoothing?: number;
  /** Set a cutmix batch's `λ` to the box's true area share (the box is clipped at the border). Defaults to `true`. */
  correctLam?: boolean;
  /** Number of classes K (width of the targets). Required. */
  numClasses: number;
  /** Seed, an integer in `[0, 2^32)`. Required: use a different one for every step. */
  seed: number;
}

/** The random part of one batch's mix, from {@link sampleMixup}. */
export interface MixupParams {
  /** Weight of each sample's own image and label; `1` when the batch is not mixed. */
  lam: number;
  /** `true` for cutmix (a box pasted from the partner), `false` for mixup (a blend). */
  cutmix: boolean;
  /** The cutmix box (rows `top … top+height−1`, columns `left … left+width−1`); absent for mixup. */
  box?: CropBox;
}

/** What {@link mixupCutmix} returns; the caller disposes both tensors. */
export interface MixupResult extends MixupParams {
  /** `[N, H, W, C]` float32, the mixed images. */
  images: tf.Tensor4D;
  /** `[N, K]` float32 soft targets; each row sums to 1. */
  targets: tf.Tensor2D;
}

const MIXUP_STREAM = 0x6d697875;

interface Resolved {
  mixupAlpha: number;
  cutmixAlpha: number;
  switchProb: number;
  prob: number;
  labelSmoothing: number;
  correctLam: boolean;
  numClasses: number;
  seed: number;
}

function probability(name: string, v: unknown, dflt: number): number {
  const x = v === undefined ? dflt : v;
  if (typeof x !== 'number' || !(x >= 0 && x <= 1)) throw new MAEConfigError(`mixupCutmix ${name}: expected a number in [0, 1], got ${describe(x)}`);
  return x;
}

function checkArgs(args: MixupCutmixArgs): Resolved {
  if (args == null || typeof args !== 'object') throw new MAEConfigError(`mixupCutmix args: expected an object with numClasses and seed, got ${describe(args)}`);
  const alpha = (name: 'mixupAlpha' | 'cutmixAlpha', dflt: number) => {
    const v = args[name] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new MAEConfigError(`mixupCutmix ${name}: expected a finite number >= 0, got ${describe(v)}`);
    return v;
  };
  const mixupAlpha = alpha('mixupAlpha', 0.8);
  const cutmixAlpha = alpha('cutmixAlpha', 1);
  if (mixupAlpha === 0 && cutmixAlpha === 0) throw new MAEConfigError('mixupCutmix: expected mixupAlpha > 0 or cutmixAlpha > 0, got both 0');
  const labelSmoothing = probability('labelSmoothing', args.labelSmoothing, 0.1);
  return {
    mixupAlpha,
    cutmixAlpha,
    switchProb: probability('switchProb', args.switchProb, 0.5),
    prob: probability('prob', args.prob, 1),
    labelSmoothing,
    correctLam: args.correctLam ?? true,
    numClasses: positiveInt('mixupCutmix numClasses', args.numClasses),
    seed: checkSeed(args.seed, 'mixupCutmix seed'),
  };
}

/**
 * Draws one batch's mix as timm's `_params_per_batch` + `cutmix_bbox_and_lam`:
 * with probability `prob` the batch is mixed; with both alphas on, cutmix is
 * chosen with probability `switchProb`; `λ ~ Beta(α, α)` of the chosen one.
 * A cutmix box has sides `⌊H·√(1−λ)⌋ × ⌊W·√(1−λ)⌋` around a uniform centre
 * `(cy, cx)`: rows `clip(cy ± ⌊cutH/2⌋, 0, H)`, and so for columns; with
 * `correctLam`, `λ = 1 − boxArea / (H·W)`.
 *
 * A pure function of `(height, width, args)` (`numClasses` is not used).
 */
export function sampleMixup(height: number, width: number, args: Omit<MixupCutmixArgs, 'numClasses'> & { numClasses?: number }): MixupParams {
  const o = checkArgs({ numClasses: 1, ...args });
  positiveInt('sampleMixup height', height);
  positiveInt('sampleMixup width', width);
  const rng = new Rng(mixSeed(o.seed, MIXUP_STREAM));
  if (!(rng.uniform() < o.prob)) return { lam: 1, cutmix: false };
  let cutmix = o.mixupAlpha === 0;
  if (o.mixupAlpha > 0 && o.cutmixAlpha > 0) cutmix = rng.uniform() < o.switchProb;
  const a = cutmix ? o.cutmixAlpha : o.mixupAlpha;
  const lam = betaDraw(rng, a, a);
  if (!cutmix || lam === 1) return { lam, cutmix };
  const ratio = Math.sqrt(1 - lam);
  const cutH = Math.floor(height * ratio);
  const cutW = Math.floor(width * ratio);
  const cy = rng.below(height);
  const cx = rng.below(width);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const top = clip(cy - Math.floor(cutH / 2), height);
  const bottom = clip(cy + Math.floor(cutH / 2), height);
  const left = clip(cx - Math.floor(cutW / 2), width);
  const right = clip(cx + Math.floor(cutW / 2), width);
  const box = { top, left, height: bottom - top, width: right - left };
  return { lam: o.correctLam ? 1 - (box.height * box.width) / (height * width) : lam, cutmix, box };
}

/**
 * Soft targets of timm's `mixup_target`: `λ·onehot(y) + (1 − λ)·onehot(reverse(y))`,
 * each one-hot smoothed to `1 − ε + ε/K` and `ε/K`. With `lam = 1` it is plain
 * label smoothing (`LabelSmoothingCrossEntropy`'s targets).
 *
 * @param labels `[N]` integer classes in `[0, K)`
 * @returns `[N, K]` float32
 */
export function mixupTargets(labels: tf.Tensor, numClasses: number, lam = 1, labelSmoothing = 0): tf.Tensor2D {
  const y = tensorOfRank('labels', labels, 1, '[N]');
  const k = positiveInt('numClasses', numClasses);
  const off = labelSmoothing / k;
  const on = 1 - labelSmoothing + off;
  return tf.tidy(() => {
    // One-hot by comparison (see crossEntropy: wasm's OneHot and webgpu's int32 one-hot are unreliable).
    const oneHot = (t: tf.Tensor) => tf.cast(tf.equal(tf.expandDims(tf.cast(t, 'int32'), 1), tf.range(0, k, 1, 'int32')), 'float32');
    const smooth = (t: tf.Tensor) => tf.add(tf.mul(oneHot(t), on - off), off);
    if (lam === 1) return smooth(y) as tf.Tensor2D;
    return tf.add(tf.mul(smooth(y), lam), tf.mul(smooth(tf.reverse(y, 0)), 1 - lam)) as tf.Tensor2D;
  });
}

/**
 * Mixup / CutMix of a batch with label smoothing (timm `Mixup`, batch mode).
 * Mixup: `x ← λ·x + (1 − λ)·reverse(x)`. CutMix: the box of each image is
 * replaced by the same box of its partner `N − 1 − i`. The targets are
 * {@link mixupTargets} with the (corrected) `λ`.
 *
 * timm requires an even batch; here an odd one works too (its middle sample
 * is its own partner).
 *
 * @param images `[N, H, W, C]` float32 (not disposed)
 * @param labels `[N]` integer classes in `[0, numClasses)` (not disposed)
 * @param args see {@link MixupCutmixArgs}; `numClasses` and `seed` are required
 */
export function mixupCutmix(images: tf.Tensor, labels: tf.Tensor, args: MixupCutmixArgs): MixupResult {
  const x = tensorOfRank('images', images, 4, '[N, H, W, C]') as tf.Tensor4D;
  floatTensor('images', x);
  const y = tensorOfRank('labels', labels, 1, '[N]');
  if (y.shape[0] !== x.shape[0]) throw new MAEInputError(`labels: expected [${x.shape[0]}] (one per image), got shape ${describe(y.shape)}`);
  const o = checkArgs(args);
  const [, h, w] = x.shape;
  const params = sampleMixup(h, w, o);
  const targets = mixupTargets(y, o.numClasses, params.lam, o.labelSmoothing);
  const mixed = tf.tidy(() => {
    if (params.lam === 1) return tf.clone(x);
    const partner = tf.reverse(x, 0);
    if (!params.cutmix) return tf.add(tf.mul(x, params.lam), tf.mul(partner, 1 - params.lam)) as tf.Tensor4D;
    return tf.where(boxMask(h, w, params.box!), partner, x) as tf.Tensor4D;
  });
  return { ...params, images: mixed, targets };
}

/** `[1, H, W, 1]` bool, true inside `box`. */
export function boxMask(height: number, width: number, box: CropBox): tf.Tensor4D {
  const m = new Uint8Array(height * width);
  for (let r = box.top; r < box.top + box.height; r++) m.fill(1, r * width + box.left, r * width + box.left + box.width);
  return tf.tensor4d(m, [1, height, width, 1], 'bool');
}

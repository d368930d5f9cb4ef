/**
 * The regularisers of the official fine-tuning recipe (`main_finetune.py`)
 * as options of `finetune`: RandAugment, random erasing, mixup / cutmix and label
 * smoothing, each off by default. Applied to every training batch in
 * timm's order (per-image augmentations, then the batch mix), seeded by the step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, describe } from '../errors';
import { mixSeed } from '../data/rng';
import { mixupCutmix, mixupTargets, type MixupCutmixArgs } from '../data/mixup';
import { randomErasing, sampleErasing, type RandomErasingArgs } from '../data/randomErasing';
import { randAugment, sampleRandAugment, type RandAugmentArgs } from '../data/randAugment';
import { crossEntropy, softTargetCrossEntropy } from './metrics';

/** Mixup / CutMix settings of a fine-tuning run (see `mixupCutmix`; the seed comes from the step, ε from `labelSmoothing`). */
export type FinetuneMixup = Omit<MixupCutmixArgs, 'numClasses' | 'seed' | 'labelSmoothing'>;

/** The regularisers {@link finetune} can apply to each training batch; all off by default. */
export interface FinetuneRegularisers {
  /**
   * Mixup / CutMix of each batch (timm `Mixup`, batch mode) with soft targets
   * and `softTargetCrossEntropy`. `{}` takes the official values (mixup α 0.8,
   * cutmix α 1.0, switch probability 0.5). Defaults to off.
   */
  mixup?: FinetuneMixup;
  /**
   * Label smoothing ε (targets `1 − ε + ε/K`, `ε/K`), with or without mixup.
   * Defaults to `0` (the official recipe uses 0.1).
   */
  labelSmoothing?: number;
  /**
   * Random erasing of each (normalised) image: its probability `p`, or the
   * options of `randomErasing` (timm's box ranges, `'pixel'` noise by
   * default). Defaults to off (the official recipe: 0.25).
   */
  randomErasing?: number | Omit<RandomErasingArgs, 'seed'>;
  /**
   * RandAugment of each image (see `randAugment`): `{}` is timm's
   * `rand-m9-mstd0.5-inc1`. Give `mean` / `std` of the batches' normalisation
   * (`x = (pixel/255 − mean) / std`; default 0 / 1) so the ops see pixels.
   * Defaults to off.
   */
  randAugment?: Omit<RandAugmentArgs, 'seed'>;
}

/** The values of {@link FINETUNE_RECIPE}, each a `finetune` option. */
export interface FinetuneRecipe {
  /** Mixup α 0.8, cutmix α 1.0, switch probability 0.5 (`--mixup 0.8 --cutmix 1.0`). */
  readonly mixup: FinetuneMixup;
  /** 0.1 (`--smoothing`). */
  readonly labelSmoothing: number;
  /** 0.25 (`--reprob`). */
  readonly randomErasing: number;
  /** `rand-m9-mstd0.5-inc1`: 2 ops, magnitude 9, std 0.5 (add your `mean` / `std`). */
  readonly randAugment: Omit<RandAugmentArgs, 'seed'>;
  /** 0.1 for ViT-B (0.2 ViT-L, 0.3 ViT-H) (`--drop_path`). */
  readonly dropPath: number;
  /** 0.75 for ViT-B (`--layer_decay`). */
  readonly layerDecay: number;
  /** 0.05 (`--weight_decay`). */
  readonly weightDecay: number;
}

/**
 * The official fine-tuning recipe's regularisers (`main_finetune.py` with the
 * command lines of its FINETUNE.md): spread into `finetune`'s options, and
 * give RandAugment your batches' normalisation:
 *
 * ```ts
 * finetune(mae, data, { ...FINETUNE_RECIPE, randAugment: { ...FINETUNE_RECIPE.randAugment, mean, std }, numClasses, epochs });
 * ```
 */
export const FINETUNE_RECIPE: FinetuneRecipe = {
  mixup: { mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.5 },
  labelSmoothing: 0.1,
  randomErasing: 0.25,
  randAugment: { numOps: 2, magnitude: 9, magnitudeStd: 0.5 },
  dropPath: 0.1,
  layerDecay: 0.75,
  weightDecay: 0.05,
};

const MIX_STREAM = 0x6d697831;
const ERASE_STREAM = 0x65726131;
const RAND_AUGMENT_STREAM = 0x72616131;

function erasingArgs(v: number | Omit<RandomErasingArgs, 'seed'>, seed: number): RandomErasingArgs {
  return typeof v === 'number' ? { p: v, seed } : { ...v, seed };
}

/** Validates the regulariser options once, before training. */
export function checkRegularisers(o: FinetuneRegularisers): void {
  const eps = o.labelSmoothing;
  if (eps !== undefined && (typeof eps !== 'number' || !(eps >= 0 && eps < 1))) {
    throw new MAEConfigError(`finetune labelSmoothing: expected a number in [0, 1), got ${describe(eps)}`);
  }
  if (o.mixup !== undefined) {
    if (o.mixup === null || typeof o.mixup !== 'object') throw new MAEConfigError(`finetune mixup: expected an options object ({} for the official values), got ${describe(o.mixup)}`);
    const { mixupAlpha = 0.8, cutmixAlpha = 1 } = o.mixup;
    for (const [name, v] of [['mixupAlpha', mixupAlpha], ['cutmixAlpha', cutmixAlpha]] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new MAEConfigError(`finetune mixup.${name}: expected a finite number >= 0, got ${describe(v)}`);
    }
    if (mixupAlpha === 0 && cutmixAlpha === 0) throw new MAEConfigError('finetune mixup: expected mixupAlpha > 0 or cutmixAlpha > 0, got both 0');
  }
  if (o.randomErasing !== undefined) {
    if (o.randomErasing === null || (typeof o.randomErasing !== 'number' && typeof o.randomErasing !== 'object')) {
      throw new MAEConfigError(`finetune randomErasing: expected a probability or an options object, got ${describe(o.randomErasing)}`);
    }
    sampleErasing(0, 1, 1, erasingArgs(o.randomErasing, 0)); // validates the options
  }
  if (o.randAugment !== undefined) {
    if (o.randAugment === null || typeof o.randAugment !== 'object') throw new MAEConfigError(`finetune randAugment: expected an options object ({} for rand-m9-mstd0.5-inc1), got ${describe(o.randAugment)}`);
    sampleRandAugment(0, { ...o.randAugment, seed: 0 }); // validates the options
  }
}

/**
 * The fine-tuning loss of one batch with the regularisers on: the batch is
 * mixed (when `mixup`), `forward` gives the logits, and the loss is the
 * soft-target cross-entropy; with no regulariser it is the plain
 * cross-entropy of `forward(images)`.
 *
 * @param images `[B, H, W, C]` float32 (not disposed)
 * @param labels `[B]` int classes (not disposed)
 * @param forward images → logits `[B, K]`
 * @param seed the step's seed
 */
export function regularisedLoss(
  images: tf.Tensor,
  labels: tf.Tensor,
  forward: (images: tf.Tensor) => tf.Tensor,
  o: FinetuneRegularisers & { numClasses: number },
  seed: number,
): tf.Scalar {
  const eps = o.labelSmoothing ?? 0;
  if (o.mixup === undefined && eps === 0 && o.randomErasing === undefined && o.randAugment === undefined) return crossEntropy(forward(images), labels);
  return tf.tidy(() => {
    let x = images;
    if (o.randAugment !== undefined) x = randAugment(x, { ...o.randAugment, seed: mixSeed(seed, RAND_AUGMENT_STREAM) });
    if (o.randomErasing !== undefined) x = randomErasing(x, erasingArgs(o.randomErasing, mixSeed(seed, ERASE_STREAM)));
    if (o.mixup !== undefined) {
      const mixed = mixupCutmix(x, labels, { ...o.mixup, labelSmoothing: eps, numClasses: o.numClasses, seed: mixSeed(seed, MIX_STREAM) });
      return softTargetCrossEntropy(forward(mixed.images), mixed.targets);
    }
    if (eps > 0) return softTargetCrossEntropy(forward(x), mixupTargets(labels, o.numClasses, 1, eps));
    return crossEntropy(forward(x), labels);
  });
}

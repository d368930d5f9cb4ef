/**
 * End-to-end fine-tuning of a pre-trained encoder as a classifier (official
 * `main_finetune.py` + `engine_finetune.py`): `ViTClassifier.fromMAE`, AdamW
 * with layer-wise lr decay, warmup-cosine per iteration, cross-entropy, and
 * the recipe's regularisers as options (`finetuneRecipe.ts`); and its evaluation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { flag } from '../util/validate';
import { ViTClassifier, type ClassifierHead } from '../classify/ViTClassifier';
import type { MaskedAutoencoder } from '../model/MaskedAutoencoder';
import type { ViTEncoder } from '../encode/ViTEncoder';
import { mixSeed } from '../data/rng';
import { weightsMetadata } from '../io/modelConfig';
import { NO_WEIGHT_DECAY_NAMES, paramGroups } from '../train/paramGroups';
import { batchImages, batchLabels, disposeBatch, type TrainData } from '../train/data';
import { trainLoop, type TrainLoopOptions, type TrainResult } from '../train/loop';
import { trainableParams } from '../train/pretrain';
import type { ParamGroup } from '../train/types';
import { hostLabels, metricSums, type Labels } from './metrics';
import { batchesOf, type FeatureImages } from './features';
import { checkRegularisers, regularisedLoss, type FinetuneRegularisers } from './finetuneRecipe';

/** Options of {@link finetune}: the loop's (`epochs` required), the classifier's and the optimiser's. */
export interface FinetuneOptions extends TrainLoopOptions, FinetuneRegularisers {
  /** Number of classes. Required unless `source` is already a `ViTClassifier`. */
  numClasses?: number;
  /** Layer-wise lr decay: layer `i` of `depth + 1` gets `lr × layerDecay^(depth + 1 − i)`. Defaults to 0.75. */
  layerDecay?: number;
  /** AdamW weight decay (not on 1-D weights, `cls_token`, `pos_embed`). Defaults to 0.05. */
  weightDecay?: number;
  /** AdamW `[β1, β2]`. Defaults to `[0.9, 0.999]`. */
  betas?: [number, number];
  /** AdamW epsilon. Defaults to 1e-8. */
  eps?: number;
  /** Mean of the patch tokens then `fc_norm` (`true`), or the cls token after `norm`. Defaults to `true`. */
  globalPool?: boolean;
  /** `'linear'` head, or `'linprobe'` (batch norm without affine + Linear). Defaults to `'linear'`. */
  head?: ClassifierHead;
  /** Std of the `N(0, std²)` head weight. Defaults to 2e-5 (`main_finetune.py`). */
  headInitStd?: number;
  /**
   * Train the position table too (the official fine-tuning does; the
   * Fashion-MNIST reference keeps the sin-cos table fixed). Defaults to `false`.
   */
  trainPosEmbed?: boolean;
  /**
   * Stochastic depth (drop path) on every block's two residual branches,
   * timm's rule: block i of `depth` gets `dropPath · i / (depth − 1)`, the
   * last block `dropPath`. With a `ViTClassifier` source, must equal its own
   * `dropPath` (set it when building the classifier). Defaults to 0 (the
   * official recipe: 0.1 for ViT-B, 0.2 for ViT-L, 0.3 for ViT-H).
   */
  dropPath?: number;
  /**
   * Recompute every block in the backward pass (activation checkpointing,
   * `ViTBackboneArgs.recompute`): same steps, much less memory, about one
   * more forward pass per step. Defaults to the classifier's own `recompute`
   * (a classifier made from `source` takes the encoder's).
   */
  recompute?: boolean;
}

/** What {@link finetune} returns: the loop's report and the trained classifier (the caller disposes it). */
export interface FinetuneResult extends TrainResult {
  /** The fine-tuned classifier. */
  classifier: ViTClassifier;
}

/**
 * Fine-tunes a pre-trained encoder on labelled images.
 *
 * The classifier is `ViTClassifier.fromMAE(source, { numClasses, globalPool })`
 * (a copy: `source` is not modified), or `source` itself when it already is
 * a `ViTClassifier`. Every weight trains except the position table (unless
 * `trainPosEmbed`), in the official layer-decay groups (`paramGroups` with
 * `layerDecay`: patch embed and cls token are layer 0, block i is i+1, the
 * pooling norm and head are depth+1). Each step: cross-entropy of
 * `classifier.forward(images, { training: true })` against the batch's
 * `labels`, then AdamW; the learning rate follows the loop's schedule
 * (default: 5 % warmup to `lr`, default `1e-3 × batch / 256`, then a half
 * cosine).
 *
 * @param source a `MaskedAutoencoder`, its `ViTEncoder`, or a `ViTClassifier`
 * @param data batches `{ images [B, H, W, C], labels [B] int32 }` (e.g. `imageDataSource(images, labels, ...)`)
 * @param options see {@link FinetuneOptions}; `epochs` is required
 */
export async function finetune(
  source: MaskedAutoencoder | ViTEncoder | ViTClassifier,
  data: TrainData,
  options: FinetuneOptions,
): Promise<FinetuneResult> {
  const o = options ?? ({} as FinetuneOptions);
  checkRegularisers(o);
  for (const name of ['weightDecay', 'eps', 'headInitStd'] as const) {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new MAEConfigError(`finetune ${name}: expected a finite number >= 0, got ${describe(v)}`);
    }
  }
  const recompute = o.recompute === undefined ? undefined : flag('finetune recompute', o.recompute);
  let classifier: ViTClassifier;
  if (source instanceof ViTClassifier) {
    if (o.dropPath !== undefined && o.dropPath !== source.dropPath) {
      throw new MAEConfigError(`finetune dropPath: expected the classifier's own ${source.dropPath} (build the ViTClassifier with dropPath), got ${describe(o.dropPath)}`);
    }
    classifier = source;
  } else {
    if (o.numClasses === undefined) throw new MAEConfigError('finetune numClasses: expected a positive integer, got undefined');
    classifier = ViTClassifier.fromMAE(source, {
      numClasses: o.numClasses,
      globalPool: o.globalPool,
      head: o.head,
      headInitStd: o.headInitStd,
      dropPath: o.dropPath,
      seed: mixSeed(o.seed ?? o.resume?.seed ?? 0, 10000),
    });
  }
  try {
    const entries = classifier.stateEntries();
    const groups = finetuneParamGroups(classifier, o);
    const result = await trainLoop(
      {
        label: 'finetune',
        entries,
        metadata: weightsMetadata(classifier),
        groups,
        betas: o.betas ?? [0.9, 0.999],
        eps: o.eps ?? 1e-8,
        blr: 1e-3,
        loss: (batch, index, seed) => {
          const images = batchImages(batch, 'data batch');
          const labels = batchLabels(batch);
          if (!(labels instanceof tf.Tensor) || labels.rank !== 1 || labels.shape[0] !== images.shape[0]) {
            throw new MAEInputError(`data batch labels: expected a [${images.shape[0]}] int tensor with the images, got ${describe(labels)}`);
          }
          const stepSeed = mixSeed(seed, index);
          const forward = (x: tf.Tensor) => {
            const { logits, features } = classifier.forward(x, { training: true, seed: stepSeed, recompute });
            features.dispose();
            return logits;
          };
          return regularisedLoss(images, labels, forward, { ...o, numClasses: classifier.numClasses }, stepSeed);
        },
      },
      data,
      o,
    );
    return { ...result, classifier };
  } catch (err) {
    if (classifier !== source) classifier.dispose();
    throw err;
  }
}

/**
 * The optimiser groups of {@link finetune}: the classifier's trainable
 * weights (without `pos_embed` unless `trainPosEmbed`) by layer id and
 * decay, `lrScale = layerDecay^(depth + 1 − layer)`, weight decay on the ≥ 2-D
 * weights except `cls_token` / `pos_embed` (official `param_groups_lrd`).
 */
export function finetuneParamGroups(
  classifier: ViTClassifier,
  options: Pick<FinetuneOptions, 'weightDecay' | 'layerDecay' | 'trainPosEmbed'> = {},
): ParamGroup[] {
  const params = trainableParams(classifier.stateEntries()).filter((p) => options.trainPosEmbed || p.name !== 'pos_embed');
  return paramGroups(params, {
    weightDecay: options.weightDecay ?? 0.05,
    layerDecay: options.layerDecay ?? 0.75,
    numLayers: classifier.depth + 1,
    noWeightDecay: NO_WEIGHT_DECAY_NAMES,
  });
}

/** What {@link evaluateClassifier} needs: `ViTClassifier` has it. */
export interface Classifier {
  /** `imgs [N, H, W, C]` → class scores and the features they were computed from. */
  forward(
    imgs: tf.Tensor,
    options?: { training?: boolean },
  ): {
    /** `[N, numClasses]` */
    logits: tf.Tensor2D;
    /** `[N, D]` */
    features: tf.Tensor2D;
  };
}

/** What {@link evaluateClassifierMetrics} returns; accuracies are fractions in [0, 1]. */
export interface ClassifierMetrics {
  /** Top-1 accuracy. */
  acc1: number;
  /** Top-5 accuracy; `undefined` with fewer than 5 classes. */
  acc5?: number;
  /** Mean cross-entropy (no label smoothing) over the images. */
  loss: number;
  /** Number of images evaluated. */
  count: number;
}

/**
 * Top-1 accuracy (a fraction in [0, 1]) of a classifier in inference mode.
 *
 * @param images `[N, H, W, C]` (not disposed; cut in batches of `batchSize`,
 *   default 128) or batches (each disposed) from an iterable, an async
 *   iterable, a Dataset or a data source (see `FeatureImages`)
 * @param labels N integer labels; may be left out when every batch carries its `labels`
 */
export async function evaluateClassifier(
  classifier: Classifier,
  images: FeatureImages,
  labels?: Labels,
  options: { batchSize?: number } = {},
): Promise<number> {
  return (await evaluateClassifierMetrics(classifier, images, labels, options)).acc1;
}

/**
 * Top-1 and top-5 accuracy and the mean cross-entropy of a classifier in
 * inference mode, as the official `engine_finetune.evaluate` reports them
 * (`main_finetune.py --eval`). Arguments as {@link evaluateClassifier}.
 */
export async function evaluateClassifierMetrics(
  classifier: Classifier,
  images: FeatureImages,
  labels?: Labels,
  options: { batchSize?: number } = {},
): Promise<ClassifierMetrics> {
  const batchSize = options.batchSize ?? 128;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new MAEConfigError(`batchSize: expected a positive integer, got ${describe(batchSize)}`);
  let y: Int32Array | undefined;
  if (labels !== undefined) {
    const n = labels instanceof tf.Tensor ? labels.shape[0] ?? 0 : (labels as ArrayLike<number>)?.length;
    y = await hostLabels(labels, 'labels', typeof n === 'number' ? n : -1);
  }
  let sums = tf.zeros([3]); // correct top-1, correct top-5, summed loss
  let seen = 0;
  let numClasses = 0;
  try {
    for await (const { batch, owned, labels: batchY } of batchesOf(images, batchSize)) {
      try {
        const size = batch.shape[0];
        if (y !== undefined && seen + size > y.length) throw new MAEInputError(`labels: expected one per image, got ${y.length} for more images`);
        if (y === undefined && (batchY === undefined || batchY.rank !== 1 || batchY.shape[0] !== size)) {
          throw new MAEInputError(`labels: expected labels, or batches carrying [${size}] labels, got ${describe(batchY?.shape)}`);
        }
        const next = tf.tidy(() => {
          const { logits, features } = classifier.forward(batch);
          features.dispose();
          numClasses = logits.shape[1];
          const target = y !== undefined ? tf.tensor1d(y.subarray(seen, seen + size), 'int32') : tf.cast(batchY!, 'int32');
          return tf.add(sums, metricSums(logits, target, Math.min(5, numClasses)));
        });
        sums.dispose();
        sums = next;
        seen += size;
      } finally {
        if (owned) disposeBatch(owned);
      }
    }
    if (seen === 0 || (y !== undefined && seen !== y.length)) {
      throw new MAEInputError(`labels: expected one per image (${seen} images), got ${y?.length ?? seen}`);
    }
    const [correct, correct5, lossSum] = await sums.data();
    return { acc1: correct / seen, ...(numClasses >= 5 ? { acc5: correct5 / seen } : {}), loss: lossSum / seen, count: seen };
  } finally {
    sums.dispose();
  }
}

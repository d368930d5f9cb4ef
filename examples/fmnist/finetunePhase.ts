/**
 * The fine-tuning phase of the Fashion-MNIST experiment (reference recipe):
 * `ViTClassifier.fromMAE` with global pooling and a fresh `fc_norm` and head
 * (`N(0, (2e-5)²)`), the sin-cos position table kept fixed, AdamW (0.9, 0.999)
 * with weight decay 0.05 and layer decay 0.75, peak lr 1e-3 with 5 % warmup
 * and a cosine to 0 over 2 epochs × 234 steps of 256 (last partial batch
 * dropped), cross-entropy; test accuracy after the last epoch.
 *
 * Each step of 256 images runs as 4 micro-batches of 64 whose gradients are
 * averaged: the same gradient (the loss is a mean over images and the model
 * has no batch statistics), but the activations of 256 images with all 50
 * tokens (about 4.8 GB) would not fit in wasm's 4 GB memory.
 */
import type { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { imageDataSource } from '../../src/train/data';
import { formatStep } from '../../src/train/progress';
import { evaluateClassifier, finetune } from '../../src/eval/finetune';
import { FMNIST_MEAN, FMNIST_STD, type FashionMnist } from '../common/fashionMnist';
import { splitBatches } from './recipe';

/** Images per micro-batch, and micro-batches per optimiser step (256 images). */
const MICRO_BATCH = 64;
const ACCUM = 4;

export async function finetunePhase(
  mae: MaskedAutoencoder,
  data: FashionMnist,
  options: { seed: number; epochs: number; log: (s: string) => void },
): Promise<{ testAcc: number; lossCurve: number[] }> {
  const source = imageDataSource(data.train.images, data.train.labels, {
    batchSize: MICRO_BATCH, imageShape: [28, 28, 1], seed: 20000 + options.seed, mean: FMNIST_MEAN, std: FMNIST_STD, dropLast: true,
  });
  const stepsPerEpoch = Math.floor(source.batchesPerEpoch! / ACCUM); // 937 micro-batches → 234 steps of 256
  const totalSteps = options.epochs * stepsPerEpoch;
  const every = Math.max(1, Math.round(stepsPerEpoch / 10));
  const result = await finetune(mae, source, {
    numClasses: 10,
    epochs: options.epochs,
    accumSteps: ACCUM,
    lr: 1e-3,
    warmupSteps: 0.05 * totalSteps,
    minLr: 0,
    weightDecay: 0.05,
    layerDecay: 0.75,
    betas: [0.9, 0.999],
    eps: 1e-8,
    globalPool: true,
    headInitStd: 2e-5,
    trainPosEmbed: false,
    seed: options.seed,
    progress: false,
    onStep: (i) => {
      if ((i.stepInEpoch + 1) % every === 0) options.log(formatStep(i));
    },
    onEpoch: (e) => options.log(`epoch ${e.epoch + 1}/${e.epochs} loss ${e.meanLoss.toFixed(4)} (${e.seconds.toFixed(1)} s)`),
  });
  try {
    const acc = await evaluateClassifier(result.classifier, splitBatches(data.test, 128), data.test.labels);
    const testAcc = Math.round(acc * 10000) / 100;
    options.log(`test acc ${testAcc.toFixed(2)} %`);
    return { testAcc, lossCurve: result.epochLosses.map((l) => Math.round(l * 10000) / 10000) };
  } finally {
    result.classifier.dispose();
  }
}

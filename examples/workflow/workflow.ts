/**
 * Train, probe, fine-tune: the whole workflow of docs/train-probe-finetune.md
 * in one script, on the embedded Fashion-MNIST subset. `workflow.test.ts`
 * runs a tiny version in CI; `npx tsx examples/workflow/workflow.ts` runs the
 * size the guide quotes.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import {
  MaskedAutoencoder,
  evaluateClassifier,
  extractFeatures,
  finetune,
  imageDataSource,
  imagesToTensor,
  linearProbe,
  mixSeed,
  pretrain,
  randomHorizontalFlip,
  randomResizedCrop,
  type TrainDataSource,
} from 'tfjs-mae';
import { FMNIST_MEAN, FMNIST_STD, loadFashionMnist } from '../common/fashionMnist';

/** The sizes of a run; the defaults are the guide's, the test passes smaller ones. */
export interface WorkflowOptions {
  /** Training images used (of the subset). */
  trainImages?: number;
  /** Test images used. */
  testImages?: number;
  /** Pre-training epochs. */
  pretrainEpochs?: number;
  /** Fine-tuning epochs. */
  finetuneEpochs?: number;
  /** Encoder width. */
  embedDim?: number;
  /** Encoder blocks. */
  depth?: number;
}

/** What the workflow measured. */
export interface WorkflowResult {
  /** Mean pre-training loss of the first and the last epoch. */
  pretrainLoss: [number, number];
  /** Linear-probe test accuracy on the frozen encoder's features, [0, 1]. */
  probeAccuracy: number;
  /** Fine-tuned test accuracy, [0, 1]. */
  finetuneAccuracy: number;
}

export async function trainProbeFinetune(o: WorkflowOptions = {}): Promise<WorkflowResult> {
  const { train, test } = await loadFashionMnist({ subset: true });
  const nTrain = Math.min(o.trainImages ?? train.n, train.n);
  const nTest = Math.min(o.testImages ?? test.n, test.n);
  const trainPixels = train.images.subarray(0, nTrain * 784);
  const trainLabels = train.labels.subarray(0, nTrain);

  // 1. Data: uint8 images in, normalised NHWC batches out, seeded and resumable.
  const data = imageDataSource(trainPixels, trainLabels, {
    batchSize: 32, imageShape: [28, 28, 1], mean: FMNIST_MEAN, std: FMNIST_STD, seed: 0,
  });

  // 2. Augmentation (the MAE recipe: random resized crop + flip), a fresh seed per batch.
  const augmented: TrainDataSource = {
    batchesPerEpoch: data.batchesPerEpoch,
    *batches(epoch, startBatch) {
      let b = startBatch;
      for (const batch of data.batches(epoch, startBatch)) {
        const seed = mixSeed(epoch, b++);
        const images = tf.tidy(() =>
          randomHorizontalFlip(randomResizedCrop(batch.images as tf.Tensor4D, { size: 28, scale: [0.35, 1], seed }), { seed }),
        );
        batch.images.dispose();
        yield { ...batch, images };
      }
    },
  };

  // 3. Pre-train: the official loop (AdamW, warmup + cosine), with an lr for small batches.
  const mae = new MaskedAutoencoder({
    imgSize: 28, patchSize: 4, inChans: 1, embedDim: o.embedDim ?? 64, depth: o.depth ?? 2, numHeads: 4,
    decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4, normPixLoss: false, seed: 0,
  });
  const pretrained = await pretrain(mae, augmented, {
    epochs: o.pretrainEpochs ?? 20,
    lr: 3e-3,                // the official rule 1.5e-4 × 32 / 256 = 1.9e-5 barely trains at batch 32
    warmupSteps: 5,          // optimiser steps
    weightDecay: 0.05,
    maxGradNorm: 1,
    progress: false,         // no progress lines (onStep / onEpoch / onStart still report)
  });
  const pretrainLoss: [number, number] = [pretrained.epochLosses[0], pretrained.epochLosses.at(-1)!];

  // 4. Features of the frozen encoder (mean of the patch tokens), then a linear probe.
  const testImages = imagesToTensor(test.images.subarray(0, nTest * 784), [nTest, 28, 28, 1], { mean: FMNIST_MEAN, std: FMNIST_STD });
  const trainImages = imagesToTensor(trainPixels, [nTrain, 28, 28, 1], { mean: FMNIST_MEAN, std: FMNIST_STD });
  const trainFeatures = await extractFeatures(mae.encoder, trainImages, { batchSize: 128 });
  const testFeatures = await extractFeatures(mae.encoder, testImages, { batchSize: 128 });
  const probe = await linearProbe(trainFeatures, trainLabels, testFeatures, test.labels.subarray(0, nTest), {
    epochs: 30, batchSize: 64, lr: 1e-2,
  });
  tf.dispose([trainImages, trainFeatures, testFeatures]);

  // 5. Fine-tune the whole encoder with a new head (layer-wise lr decay), then evaluate.
  const tuned = await finetune(mae, data, {
    numClasses: 10, epochs: o.finetuneEpochs ?? 5, lr: 1e-3, layerDecay: 0.75, weightDecay: 0.05, progress: false,
  });
  const finetuneAccuracy = await evaluateClassifier(tuned.classifier, testImages, test.labels.subarray(0, nTest));

  tuned.classifier.dispose();
  testImages.dispose();
  mae.dispose();
  return { pretrainLoss, probeAccuracy: probe.accuracy, finetuneAccuracy };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await tf.setBackend('wasm');
  console.log(JSON.stringify(await trainProbeFinetune()));
}

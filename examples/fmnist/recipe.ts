/** The pieces of the Fashion-MNIST reference recipe shared by the experiment's phases. */
import * as tf from '@tensorflow/tfjs-core';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { imagesToTensor } from '../../src/data/batches';
import { FMNIST_MEAN, FMNIST_STD, type FashionMnistSplit } from '../common/fashionMnist';

/** The reference model (`fmnist_mae.py build_mae`). */
export function referenceModel(seed: number, normPixLoss: boolean): MaskedAutoencoder {
  return new MaskedAutoencoder({
    imgSize: 28, patchSize: 4, inChans: 1, embedDim: 128, depth: 4, numHeads: 4,
    decoderEmbedDim: 64, decoderDepth: 2, decoderNumHeads: 4, mlpRatio: 4,
    normPixLoss, maskRatio: 0.75, layerNormEps: 1e-6, seed,
  });
}

/** `[b, 28, 28, 1]` normalised batches of a split, in order (for features and evaluation). */
export function* splitBatches(split: FashionMnistSplit, batchSize: number): Generator<tf.Tensor4D> {
  for (let i = 0; i < split.n; i += batchSize) {
    const b = Math.min(batchSize, split.n - i);
    yield imagesToTensor(split.images.subarray(i * 784, (i + b) * 784), [b, 28, 28, 1], { mean: FMNIST_MEAN, std: FMNIST_STD });
  }
}


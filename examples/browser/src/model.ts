/**
 * Which model the demo's weights file holds and how its inputs are
 * normalised. Shared by the page and by the end-to-end test, which computes
 * the expected losses in Node with exactly this construction.
 *
 * Browser-safe: no Node imports.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MaskedAutoencoder, maeVitTinyPatch4, parseSafetensors, readStoredConfig, toTfTensors, type MaskedAutoencoderArgs } from '../../../src';
import { imagesToTensor } from '../../../src/data/batches';
import { reconstructionGrid, type RgbaImage } from '../../../src/viz/reconstruction';
import { denormalizeNormPix } from '../../../src/viz/normPix';

/**
 * Mean and population std of the Fashion-MNIST training pixels in [0, 1]
 * (the values of `FMNIST_MEAN` / `FMNIST_STD` in `examples/common/fashionMnist.ts`,
 * which is Node-only; the e2e test checks they agree).
 */
export const FMNIST_MEAN = 0.2860405969887955;
/** See {@link FMNIST_MEAN}. */
export const FMNIST_STD = 0.35302424451492237;

/** Class names of labels 0 … 9. */
export const FMNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** The demo model: its constructor arguments and the input normalisation. */
export interface DemoModelSpec {
  /** Overrides of `maeVitTinyPatch4` (28 px, 1 channel, patch 4). */
  args: MaskedAutoencoderArgs;
  /** Input normalisation `(x / 255 − mean) / std`. */
  mean: number;
  std: number;
}

/**
 * The spec of a weights file, from its `__metadata__` as `npm run demo`
 * writes it: `config` (the stored model config, `readStoredConfig`) and `recipe`
 * (JSON with the `mean` and `std` the images were normalised with).
 * Without them: `maeVitTinyPatch4` defaults, `normPixLoss: false`, and the
 * Fashion-MNIST statistics.
 */
export function specOf(metadata: Record<string, string>): DemoModelSpec {
  const json = (key: string): Record<string, unknown> => {
    if (metadata[key] === undefined) return {};
    const value: unknown = JSON.parse(metadata[key]);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Error(`weights metadata ${key}: expected a JSON object, got ${metadata[key]}`);
    }
    return value as Record<string, unknown>;
  };
  const recipe = json('recipe');
  const num = (key: 'mean' | 'std', dflt: number): number => {
    const v = recipe[key] === undefined ? dflt : recipe[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`weights metadata recipe.${key}: expected a number, got ${String(v)}`);
    return v;
  };
  const stored = readStoredConfig(metadata, 'the weights', 'MaskedAutoencoder');
  if (stored && stored.className !== 'MaskedAutoencoder') throw new Error(`weights metadata config: expected a MaskedAutoencoder, got a ${stored.className}`);
  const args: MaskedAutoencoderArgs = { normPixLoss: false, ...(stored?.config as MaskedAutoencoderArgs | undefined) };
  return { args, mean: num('mean', FMNIST_MEAN), std: num('std', FMNIST_STD) };
}

/** A model with the weights of `bytes` (a safetensors file), on the current backend. */
export function buildModel(bytes: Uint8Array): { model: MaskedAutoencoder; spec: DemoModelSpec } {
  const parsed = parseSafetensors(bytes);
  const spec = specOf(parsed.metadata);
  const model = maeVitTinyPatch4(spec.args);
  // Build every weight now, so that `dispose()` releases them all later.
  model.ensureBuilt();
  const tensors = toTfTensors(parsed.tensors);
  try {
    model.loadStateDict(tensors, { naming: 'official' });
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return { model, spec };
}

/** `[n, 28, 28, 1]` normalised images `indices` of `pixels` (`N·28·28` uint8). */
export function imageBatch(pixels: Uint8Array, indices: number[], spec: DemoModelSpec): tf.Tensor4D {
  const size = 28 * 28;
  const picked = new Uint8Array(indices.length * size);
  indices.forEach((i, k) => picked.set(pixels.subarray(i * size, (i + 1) * size), k * size));
  return imagesToTensor(picked, [indices.length, 28, 28, 1], { mean: spec.mean, std: spec.std });
}

/**
 * The reconstruction figure of a forward pass (rows: original, masked,
 * reconstruction, reconstruction + visible). A norm-pix model's prediction is
 * first de-normalised with the statistics of the visible patches
 * (`denormalizeNormPix`, its default), never with the hidden patches' own.
 */
export async function figure(model: MaskedAutoencoder, imgs: tf.Tensor, pred: tf.Tensor, mask: tf.Tensor, spec: DemoModelSpec): Promise<RgbaImage> {
  const patchSize = model.config.patchSize;
  const pixels = model.config.normPixLoss ? denormalizeNormPix(imgs, pred, mask, { patchSize }) : pred;
  try {
    return await reconstructionGrid(imgs, pixels, mask, { patchSize, mean: spec.mean, std: spec.std });
  } finally {
    if (pixels !== pred) pixels.dispose();
  }
}

/**
 * The pre-training loss of image `index` alone with the mask drawn from
 * `noiseSeed` (`forward(img, { seed, maskRatio })`), read with `await data()`.
 */
export async function lossOf(model: MaskedAutoencoder, pixels: Uint8Array, index: number, noiseSeed: number, maskRatio: number, spec: DemoModelSpec): Promise<number> {
  const img = imageBatch(pixels, [index], spec);
  try {
    const loss = model.loss(img, { seed: noiseSeed, maskRatio });
    try {
      return (await loss.data())[0];
    } finally {
      loss.dispose();
    }
  } finally {
    img.dispose();
  }
}

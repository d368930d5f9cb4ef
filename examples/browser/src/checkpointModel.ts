/**
 * "Bring your own checkpoint": a user's weights file (an official `.pth`, a
 * safetensors file with official or HF names, or an HF folder's
 * `model.safetensors` + `config.json`) read by ranges into a
 * `MaskedAutoencoder`, and the official notebook's four panels of one photo
 * at 224 px (original, masked, reconstruction, reconstruction + visible).
 *
 * Browser-safe and DOM-free (shared by the page and the end-to-end test,
 * which computes the expected panels in Node with exactly these functions).
 * Only the public API of the library's main entry.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  CheckpointError,
  checkWasmMemory,
  denormalizeNormPix,
  describeModel,
  imageGrid,
  loadPretrainedModelFrom,
  openWeights,
  reconstructionRows,
  type ByteSource,
  type MaskedAutoencoder,
  type MemoryModelConfig,
  type PretrainedReport,
  type ReconstructionRow,
  type ResolvedConfig,
  type RgbaImage,
} from '../../../src';

/** The side the photo is resized to and the model is built for, as the official notebook. */
export const INPUT_SIZE = 224;
/** ImageNet mean of the [0, 1] RGB pixels (the official notebook's `imagenet_mean`). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
/** ImageNet std of the [0, 1] RGB pixels (the official notebook's `imagenet_std`). */
export const IMAGENET_STD = [0.229, 0.224, 0.225];
/** The panels, left to right. */
export const PANELS: ReconstructionRow[] = ['original', 'masked', 'reconstruction', 'pasted'];

/** Per-channel input normalisation `(x / 255 − mean) / std`. */
export interface Normalization {
  mean: number[];
  std: number[];
  /** `'imagenet'` (the default) or `'recipe'` (the file's `__metadata__.recipe`). */
  from: 'imagenet' | 'recipe';
}

/** A checkpoint whose header has been read: the model it holds, nothing loaded yet. */
export interface OpenedCheckpoint {
  /** The weights file's name (in every message). */
  name: string;
  /** The config as the file (or its config.json, or its names) gives it. */
  resolved: ResolvedConfig;
  /** The constructor arguments the page builds: `resolved.config` at {@link INPUT_SIZE} px. */
  config: Record<string, unknown>;
  /** "ViT-L/16 MAE at 224×224 px, 329 M parameters; config inferred from names and shapes". */
  description: string;
  normalization: Normalization;
}

/** What {@link loadCheckpoint} tells as it goes (the page's status line and phase timings). */
export interface CheckpointHooks {
  /** The header is read and the model decided; it is about to be built. */
  onOpened?: (opened: OpenedCheckpoint) => void;
  /** The model is built; its weights are read next. */
  onBuilt?: () => void;
}

const SOURCE_TEXT: Record<ResolvedConfig['source'], string> = {
  metadata: 'config stored in the file',
  'hf-config': 'config from config.json',
  inferred: 'config inferred from names and shapes',
};

/** The file's `recipe.mean` / `recipe.std` (a number or one per channel), else ImageNet's. */
export function normalizationOf(metadata: Record<string, string>, file: string): Normalization {
  if (metadata.recipe === undefined) return { mean: IMAGENET_MEAN, std: IMAGENET_STD, from: 'imagenet' };
  let recipe: unknown;
  try {
    recipe = JSON.parse(metadata.recipe);
  } catch {
    throw new CheckpointError(`${file}: __metadata__.recipe is not valid JSON`);
  }
  const r = (typeof recipe === 'object' && recipe !== null ? recipe : {}) as Record<string, unknown>;
  const channels = (key: 'mean' | 'std', dflt: number[]): number[] => {
    const v = r[key];
    if (v === undefined) return dflt;
    const values = typeof v === 'number' ? [v, v, v] : v;
    const ok = Array.isArray(values) && values.length === 3 && values.every((x) => typeof x === 'number' && Number.isFinite(x) && (key === 'mean' || x > 0));
    if (!ok) throw new CheckpointError(`${file}: __metadata__.recipe.${key} must be a number or 3 numbers (RGB)${key === 'std' ? ' > 0' : ''}, got ${JSON.stringify(v)}`);
    return values as number[];
  };
  if (r.mean === undefined && r.std === undefined) return { mean: IMAGENET_MEAN, std: IMAGENET_STD, from: 'imagenet' };
  return { mean: channels('mean', IMAGENET_MEAN), std: channels('std', IMAGENET_STD), from: 'recipe' };
}

/**
 * Reads a checkpoint by ranges into a `MaskedAutoencoder` at {@link INPUT_SIZE}
 * px, through the library's one load path (`loadPretrainedModelFrom`): the
 * header (safetensors header or `.pth` pickle) decides the model (the config
 * stored in the file, else `hfConfig`, an HF folder's `config.json`, else
 * names and shapes; position tables resampled to 224 px), then the weights
 * are read one tensor at a time straight into it. Every weight must come
 * from the file: a partial load would draw a fresh, meaningless decoder.
 * Only a whole MAE (encoder + decoder) can reconstruct.
 *
 * @throws CheckpointError naming the file: not a weights file, an encoder-only
 *   or classifier file (no decoder), a model for other than 3 channels, (on
 *   wasm) a model that cannot fit the heap (all before building), or
 *   missing or mis-shaped weights (before reading them); nothing leaks
 */
export async function loadCheckpoint(
  source: ByteSource,
  hfConfig?: unknown,
  hooks: CheckpointHooks = {},
): Promise<{ model: MaskedAutoencoder; report: PretrainedReport; opened: OpenedCheckpoint }> {
  const name = source.name;
  const index = await openWeights(source);
  let opened: OpenedCheckpoint | undefined;
  const decide = (resolved: ResolvedConfig): ResolvedConfig => {
    if (resolved.className === 'MAEViTEncoder') {
      throw new CheckpointError(
        `${name} holds an MAE encoder only (like mae_pretrain_vit_base.pth): it has no decoder, so it cannot reconstruct the removed patches. ` +
          'Use a checkpoint with the decoder: mae_visualize_vit_large.pth, a *_full.pth, or an HF ViTMAEForPreTraining folder.',
      );
    }
    if (resolved.className !== 'MaskedAutoencoder') {
      throw new CheckpointError(
        `${name} holds a ${resolved.className === 'MAEViTClassifier' ? 'fine-tuned classifier' : resolved.className}, not a masked autoencoder: it has no decoder to reconstruct with. ` +
          'Use a checkpoint with the decoder (mae_visualize_vit_large.pth, or an HF ViTMAEForPreTraining folder).',
      );
    }
    const inChans = resolved.config.inChans ?? 3;
    if (inChans !== 3) throw new CheckpointError(`${name} holds a model of ${String(inChans)}-channel images; the page feeds it RGB photos (3 channels)`);
    const config = { ...resolved.config, imgSize: INPUT_SIZE };
    // On wasm, fail now (naming model, bytes and limit) rather than deep inside a kernel.
    checkWasmMemory(config as unknown as MemoryModelConfig, { batch: 1, mode: 'forward', weightsLoaded: false });
    const description = `${describeModel(config as unknown as MemoryModelConfig)}; ${SOURCE_TEXT[resolved.source]}`;
    opened = { name, resolved, config, description, normalization: normalizationOf(index.metadata, name) };
    hooks.onOpened?.(opened);
    return resolved;
  };
  const { model, report } = await loadPretrainedModelFrom(index, { file: name, hfConfig, decide, imgSize: INPUT_SIZE, allowMissing: false, onBuilt: () => hooks.onBuilt?.() });
  return { model: model as MaskedAutoencoder, report, opened: opened! };
}

/**
 * `[1, size, size, 3]` normalised photo from RGBA pixels (alpha dropped):
 * `(x / 255 − mean[c]) / std[c]` in float32, as the notebook's
 * `(np.array(img) / 255. − imagenet_mean) / imagenet_std`.
 */
export function photoTensor(rgba: ArrayLike<number>, size: number, norm: Pick<Normalization, 'mean' | 'std'>): tf.Tensor4D {
  if (rgba.length !== size * size * 4) throw new CheckpointError(`photo: expected ${size}×${size} RGBA pixels (${size * size * 4} bytes), got ${rgba.length}`);
  const out = new Float32Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++) out[3 * i + c] = (rgba[4 * i + c] / 255 - norm.mean[c]) / norm.std[c];
  }
  return tf.tensor4d(out, [1, size, size, 3]);
}

/** One reconstruction: the four panels and what produced them. */
export interface Reconstruction {
  /** One `size × size` RGBA picture per panel, in {@link PANELS} order. */
  panels: Record<ReconstructionRow, RgbaImage>;
  /** The masked-patch loss of this pass (normalised pixel units; per-patch normalised for a norm-pix model). */
  loss: number;
  /** Patches removed, of `numPatches`. */
  maskedCount: number;
  numPatches: number;
  /** Wall time of the forward pass until its outputs were on the host, ms. */
  forwardMs: number;
}

/**
 * Runs the model on `img` with the mask drawn from `seed` and draws the four
 * panels at the model's image size (1 image pixel = 1 panel pixel). A
 * norm-pix model's prediction is de-normalised with the statistics of the
 * visible patches (what is known at inference). Reads only with `await data()`.
 *
 * @param img `[1, H, W, 3]` from {@link photoTensor} (not disposed)
 */
export async function reconstruct(model: MaskedAutoencoder, img: tf.Tensor4D, seed: number, maskRatio: number, norm: Pick<Normalization, 'mean' | 'std'>): Promise<Reconstruction> {
  const t0 = performance.now();
  const out = model.forward(img, { seed, maskRatio });
  const created: tf.Tensor[] = [out.loss, out.pred, out.mask, out.idsRestore, out.idsKeep, out.latent];
  try {
    const [loss, mask] = await Promise.all([out.loss.data(), out.mask.data(), out.pred.data()]);
    const forwardMs = performance.now() - t0;
    const patchSize = model.config.patchSize;
    const pixels = model.config.normPixLoss ? denormalizeNormPix(img, out.pred, out.mask, { patchSize }) : out.pred;
    if (pixels !== out.pred) created.push(pixels);
    const rows = reconstructionRows(img, pixels, out.mask, { patchSize, mean: norm.mean, std: norm.std });
    created.push(...Object.values(rows));
    const panels = {} as Record<ReconstructionRow, RgbaImage>;
    for (const row of PANELS) panels[row] = await imageGrid([rows[row]], { scale: 1, gap: 0 });
    let maskedCount = 0;
    for (let j = 0; j < mask.length; j++) maskedCount += mask[j];
    return { panels, loss: loss[0], maskedCount, numPatches: model.numPatches, forwardMs };
  } finally {
    tf.dispose(created);
  }
}

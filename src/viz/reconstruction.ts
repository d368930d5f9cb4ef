/**
 * Pictures of what an MAE does: for each image the original, the masked
 * input (removed patches grey), the reconstruction, and the reconstruction
 * with the visible patches pasted back. Returns RGBA pixels (draw them on a
 * canvas with `new ImageData(data, width, height)`, or encode a PNG in Node);
 * no DOM or file access here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { unpatchify } from '../patch/patchify';
import type { MAEOutput } from '../model/MaskedAutoencoder';
import { GLYPH_HEIGHT, drawText, textWidth } from './font';

/** Pixels of an image, row-major RGBA, 4 bytes per pixel. */
export interface RgbaImage {
  /** `width · height · 4` bytes: R, G, B, A of each pixel, rows top to bottom. */
  data: Uint8ClampedArray;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** The normalisation to undo: `x · std + mean`, one value or one per channel. */
export interface DenormalizeArgs {
  /** Mean of the [0, 1] pixels. Defaults to 0. */
  mean?: number | number[];
  /** Standard deviation of the [0, 1] pixels. Defaults to 1. */
  std?: number | number[];
}

/** The four rows of a reconstruction figure, in this order. */
export type ReconstructionRow = 'original' | 'masked' | 'reconstruction' | 'pasted';

/** Options of {@link reconstructionRows}. */
export interface ReconstructionRowsArgs extends DenormalizeArgs {
  /** Patch side p. Required. */
  patchSize: number;
  /** Grey level in [0, 1] of the removed patches in the `masked` row. Defaults to 0.5. */
  maskGrey?: number;
}

/** Options of {@link imageGrid}. */
export interface ImageGridArgs {
  /** Nearest-neighbour upscaling factor. Defaults to 4. */
  scale?: number;
  /** Pixels between tiles and around the grid. Defaults to 2. */
  gap?: number;
  /** `[r, g, b]` of the gaps, 0–255. Defaults to white. */
  background?: [number, number, number];
  /**
   * One label per row, drawn left of it in a built-in 5×7 font (lowercase
   * letters, digits, space, `-`; other characters are blank), black on a light
   * background, white on a dark one; 2× for tiles 56 px high or more.
   * Defaults to none.
   */
  labels?: string[];
}

/** Options of {@link reconstructionGrid}. */
export interface ReconstructionGridArgs extends ReconstructionRowsArgs, Omit<ImageGridArgs, 'labels'> {
  /** Which rows, top to bottom. Defaults to all four: original, masked, reconstruction, pasted. */
  rows?: ReconstructionRow[];
  /** Row labels: `true` for the row names (`original`, `masked`, ...), or your own, one per row. Defaults to none. */
  labels?: boolean | string[];
}

/**
 * `x · std + mean` over the last (channel) axis.
 * @param x `[..., C]`
 */
export function denormalize(x: tf.Tensor, args: DenormalizeArgs = {}): tf.Tensor {
  const c = x.shape[x.rank - 1] as number;
  const perChannel = (v: number | number[] | undefined, dflt: number, name: string): tf.Tensor => {
    const values = v === undefined ? [dflt] : Array.isArray(v) ? v : [v];
    if (!values.every((e) => typeof e === 'number' && Number.isFinite(e)) || (values.length !== 1 && values.length !== c)) {
      throw new MAEConfigError(`${name}: expected a finite number or ${c} of them (one per channel), got ${describe(v)}`);
    }
    return tf.tensor1d(values);
  };
  const mean = perChannel(args.mean, 0, 'mean');
  const std = perChannel(args.std, 1, 'std');
  try {
    return tf.tidy(() => tf.add(tf.mul(x, std), mean));
  } finally {
    tf.dispose([mean, std]);
  }
}

/**
 * The rows of the reconstruction figure as images in [0, 1] (clipped):
 * `original`, `masked` (removed patches `maskGrey`), `reconstruction` (every
 * predicted patch; the visible ones are not trained, so they look wrong),
 * `pasted` (visible patches from the original, removed ones predicted).
 *
 * @param images `[N, H, W, C]` normalised, as fed to the model
 * @param pred `[N, L, p·p·C]` the decoder's prediction, in normalised units
 *   (from a model without `normPixLoss`: with it the prediction is per-patch standardised)
 * @param mask `[N, L]`, 1 = removed
 * @returns four `[N, H, W, C]` tensors; the caller disposes them
 */
export function reconstructionRows(
  images: tf.Tensor,
  pred: tf.Tensor,
  mask: tf.Tensor,
  args: ReconstructionRowsArgs,
): Record<ReconstructionRow, tf.Tensor4D> {
  if (!(images instanceof tf.Tensor) || images.rank !== 4) {
    throw new MAEInputError(`images: expected [N, H, W, C], got ${describe(images instanceof tf.Tensor ? images.shape : images)}`);
  }
  const [n, h, w, c] = images.shape as [number, number, number, number];
  const p = args?.patchSize;
  if (!Number.isSafeInteger(p) || p < 1 || h % p !== 0 || w % p !== 0) {
    throw new MAEConfigError(`patchSize: expected a positive integer dividing H ${h} and W ${w}, got ${describe(p)}`);
  }
  const grid: [number, number] = [h / p, w / p];
  const l = grid[0] * grid[1];
  if (!(pred instanceof tf.Tensor) || !tf.util.arraysEqual(pred.shape, [n, l, p * p * c])) {
    throw new MAEInputError(`pred: expected shape [${n}, ${l}, ${p * p * c}], got ${describe(pred instanceof tf.Tensor ? pred.shape : pred)}`);
  }
  if (!(mask instanceof tf.Tensor) || !tf.util.arraysEqual(mask.shape, [n, l])) {
    throw new MAEInputError(`mask: expected shape [${n}, ${l}], got ${describe(mask instanceof tf.Tensor ? mask.shape : mask)}`);
  }
  const grey = args.maskGrey ?? 0.5;
  return tf.tidy(() => {
    const removed = unpatchify(tf.tile(tf.expandDims(tf.cast(mask, 'float32'), 2), [1, 1, p * p * c]), p, grid, c); // 1 = removed
    const kept = tf.sub(1, removed);
    const original = denormalize(images, args);
    const recon = denormalize(unpatchify(pred, p, grid, c), args);
    const clip = (x: tf.Tensor) => tf.clipByValue(x, 0, 1) as tf.Tensor4D;
    return {
      original: clip(original),
      masked: clip(tf.add(tf.mul(original, kept), tf.mul(removed, grey))),
      reconstruction: clip(recon),
      pasted: clip(tf.add(tf.mul(original, kept), tf.mul(recon, removed))),
    };
  });
}

/**
 * Lays out rows of images as one RGBA picture: row r, column i is image i
 * of `rows[r]`, upscaled `scale`× (nearest), with `gap` pixels between and
 * around tiles. Values are clipped to [0, 1] and mapped to `⌊255·v + ½⌋`; one
 * channel is drawn grey, three as RGB.
 *
 * @param rows tensors `[N, H, W, C]` in [0, 1], C = 1 or 3, all the same shape
 */
export async function imageGrid(rows: tf.Tensor[], args: ImageGridArgs = {}): Promise<RgbaImage> {
  if (!Array.isArray(rows) || rows.length === 0 || !rows.every((r) => r instanceof tf.Tensor && r.rank === 4)) {
    throw new MAEInputError(`rows: expected a non-empty array of [N, H, W, C] tensors, got ${describe(rows)}`);
  }
  const [n, h, w, c] = rows[0].shape as [number, number, number, number];
  if (c !== 1 && c !== 3) throw new MAEInputError(`rows: expected 1 or 3 channels, got shape ${describe(rows[0].shape)}`);
  const bad = rows.find((r) => !tf.util.arraysEqual(r.shape, rows[0].shape));
  if (bad) throw new MAEInputError(`rows: expected every row of shape ${describe(rows[0].shape)}, got ${describe(bad.shape)}`);
  const scale = args.scale ?? 4;
  const gap = args.gap ?? 2;
  if (!Number.isSafeInteger(scale) || scale < 1) throw new MAEConfigError(`scale: expected a positive integer, got ${describe(scale)}`);
  if (!Number.isSafeInteger(gap) || gap < 0) throw new MAEConfigError(`gap: expected an integer >= 0, got ${describe(gap)}`);
  const bg = args.background ?? [255, 255, 255];
  const th = h * scale;
  const tw = w * scale;
  const labels = args.labels;
  if (labels !== undefined && (!Array.isArray(labels) || labels.length !== rows.length || !labels.every((l) => typeof l === 'string'))) {
    throw new MAEConfigError(`labels: expected ${rows.length} strings (one per row), got ${describe(labels)}`);
  }
  const labelScale = th >= 56 ? 2 : 1;
  const labelWidth = labels ? Math.max(...labels.map((l) => textWidth(l, labelScale))) + gap : 0; // left column
  const width = labelWidth + n * tw + (n + 1) * gap;
  const height = rows.length * th + (rows.length + 1) * gap;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([bg[0], bg[1], bg[2], 255], 4 * i);
  const ink: [number, number, number] = bg[0] + bg[1] + bg[2] < 3 * 128 ? [255, 255, 255] : [0, 0, 0];
  labels?.forEach((label, r) => {
    const y = gap + r * (th + gap) + Math.max(0, Math.floor((th - GLYPH_HEIGHT * labelScale) / 2));
    if (th >= GLYPH_HEIGHT * labelScale) drawText(data, width, label, gap, y, labelScale, ink);
  });
  for (let r = 0; r < rows.length; r++) {
    const values = await rows[r].data();
    const nan = values.findIndex((v) => Number.isNaN(v));
    if (nan >= 0) {
      const at = Math.floor(nan / (h * w * c));
      throw new MAEInputError(`rows[${r}]: image ${at} holds NaN values (check the images, and the prediction of the model that drew them)`);
    }
    for (let k = 0; k < n; k++) {
      const y0 = gap + r * (th + gap);
      const x0 = labelWidth + gap + k * (tw + gap);
      for (let y = 0; y < th; y++) {
        for (let x = 0; x < tw; x++) {
          const src = ((k * h + Math.floor(y / scale)) * w + Math.floor(x / scale)) * c;
          const dst = ((y0 + y) * width + x0 + x) * 4;
          for (let ch = 0; ch < 3; ch++) {
            const v = Math.min(1, Math.max(0, values[src + (c === 1 ? 0 : ch)]));
            data[dst + ch] = Math.floor(v * 255 + 0.5);
          }
          data[dst + 3] = 255;
        }
      }
    }
  }
  return { data, width, height };
}

/**
 * The reconstruction figure from a forward pass: {@link reconstructionRows}
 * laid out by {@link imageGrid} (4× nearest, 2-px white gaps by default).
 *
 * @param images `[N, H, W, C]` normalised; `pred [N, L, p·p·C]`; `mask [N, L]` (1 = removed)
 */
export async function reconstructionGrid(
  images: tf.Tensor,
  pred: tf.Tensor,
  mask: tf.Tensor,
  args: ReconstructionGridArgs,
): Promise<RgbaImage> {
  const rows = reconstructionRows(images, pred, mask, args);
  try {
    const order = args.rows ?? ['original', 'masked', 'reconstruction', 'pasted'];
    const unknown = order.find((r) => !(r in rows));
    if (unknown !== undefined || order.length === 0) {
      throw new MAEConfigError(`rows: expected names among original, masked, reconstruction, pasted, got ${describe(order)}`);
    }
    const labels = args.labels === true ? order : args.labels === false ? undefined : args.labels;
    return await imageGrid(order.map((r) => rows[r]), { ...args, labels });
  } finally {
    tf.dispose(Object.values(rows));
  }
}

/** What {@link renderReconstructions} needs of a model; `MaskedAutoencoder` has it. */
export interface ReconstructingModel {
  /** The pre-training forward pass: `imgs [N, H, W, C]` → `pred [N, L, p·p·C]`, `mask [N, L]`, loss, .... */
  forward(imgs: tf.Tensor, options?: { seed?: number; noise?: tf.Tensor; maskRatio?: number }): MAEOutput;
  /** The model's configuration; only the patch side is read. */
  readonly config: {
    /** Patch side p. */
    patchSize: number;
  };
}

/** Options of {@link renderReconstructions}. */
export interface RenderReconstructionsArgs extends Omit<ReconstructionGridArgs, 'patchSize'> {
  /** Seed of the mask noise. Defaults to 0 (the same masks on every call). */
  seed?: number;
  /** Mask noise `[N, L]` instead of a seed. Defaults to none. */
  noise?: tf.Tensor;
  /** Mask ratio. Defaults to the model's. */
  maskRatio?: number;
}

/**
 * Runs the model on `images` with fixed masks and draws the reconstruction
 * figure. Also returns the loss of that pass.
 *
 * @param images `[N, H, W, C]` normalised (not disposed)
 */
export async function renderReconstructions(
  model: ReconstructingModel,
  images: tf.Tensor,
  args: RenderReconstructionsArgs = {},
): Promise<
  RgbaImage & {
    /** The loss of the forward pass that was drawn. */
    loss: number;
  }
> {
  const { seed = 0, noise, maskRatio, ...grid } = args;
  const out = model.forward(images, { ...(noise ? { noise } : { seed }), ...(maskRatio === undefined ? {} : { maskRatio }) });
  try {
    const picture = await reconstructionGrid(images, out.pred, out.mask, { ...grid, patchSize: model.config.patchSize });
    return { ...picture, loss: (await out.loss.data())[0] };
  } finally {
    tf.dispose([out.loss, out.pred, out.mask, out.idsRestore, out.idsKeep, out.latent]);
  }
}

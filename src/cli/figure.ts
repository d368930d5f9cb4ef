/**
 * The official visualisation notebook's figure: one row per image, four
 * labelled columns (original, masked, reconstruction, reconstruction +
 * visible). A norm-pix model's prediction is de-normalised first with the
 * visible patches' statistics (docs/visualisation.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MaskedAutoencoder } from '../model/MaskedAutoencoder';
import { denormalizeNormPix } from '../viz/normPix';
import { Canvas } from '../viz/lineChart';
import { imageGrid, reconstructionRows, type RgbaImage } from '../viz/reconstruction';

/** The column titles, left to right. */
export const FIGURE_COLUMNS = ['original', 'masked', 'reconstruction', 'reconstruction + visible'] as const;

/** Options of {@link reconstructionFigure}. */
export interface FigureOptions {
  /** Seed of the mask noise. */
  seed: number;
  /** Mask ratio; defaults to the model's. */
  maskRatio?: number;
  /** The normalisation of the images (per channel) to undo. */
  mean: number[];
  std: number[];
  /** Upscaling of each tile; defaults to what makes a tile about 160 px. */
  scale?: number;
  /** A label under each row (e.g. the file name); defaults to none. */
  rowLabels?: string[];
}

/**
 * Runs `model` on `images` (`[N, H, W, C]`, normalised; not disposed) with
 * seeded masks and draws the figure. Returns the picture and the loss.
 */
export async function reconstructionFigure(model: MaskedAutoencoder, images: tf.Tensor, o: FigureOptions): Promise<{ image: RgbaImage; loss: number }> {
  const p = model.config.patchSize;
  const out = model.forward(images, { seed: o.seed, ...(o.maskRatio === undefined ? {} : { maskRatio: o.maskRatio }) });
  const pixels = model.config.normPixLoss ? denormalizeNormPix(images, out.pred, out.mask, { patchSize: p }) : out.pred;
  const rows = reconstructionRows(images, pixels, out.mask, { patchSize: p, mean: o.mean, std: o.std });
  const [n, h, w] = images.shape as number[];
  const perImage = tf.tidy(() => {
    const kinds = [rows.original, rows.masked, rows.reconstruction, rows.pasted];
    return Array.from({ length: n }, (_, i) => tf.concat(kinds.map((k) => tf.slice(k, [i, 0, 0, 0], [1, -1, -1, -1])), 0)); // [4, H, W, C]
  });
  try {
    const scale = o.scale ?? Math.max(1, Math.round(160 / Math.max(h, w)));
    const grid = await imageGrid(perImage, { scale, gap: 4 });
    const loss = (await out.loss.data())[0];
    return { image: labelled(grid, { n, tileW: w * scale, tileH: h * scale, gap: 4, rowLabels: o.rowLabels }), loss };
  } finally {
    tf.dispose([...perImage, ...Object.values(rows), ...(pixels === out.pred ? [] : [pixels]), out.loss, out.pred, out.mask, out.idsRestore, out.idsKeep, out.latent]);
  }
}

/** Adds the column titles above the grid and a label under each row. */
function labelled(grid: RgbaImage, g: { n: number; tileW: number; tileH: number; gap: number; rowLabels?: string[] }): RgbaImage {
  const text = 2; // 3×5 glyphs at 2×: 10 px high
  const header = 20;
  const rowText = g.rowLabels ? 16 : 0;
  const canvas = new Canvas(grid.width, grid.height + header + g.n * rowText);
  FIGURE_COLUMNS.forEach((title, k) => {
    const fits = Canvas.textWidth(title, text) <= g.tileW ? title : title.replace('reconstruction', 'recon.');
    canvas.text(fits, g.gap + k * (g.tileW + g.gap) + g.tileW / 2, 5, text, 'center');
  });
  for (let i = 0; i < g.n; i++) {
    const y = header + i * (g.tileH + g.gap + rowText);
    canvas.paste({ data: grid.data.subarray((i * (g.tileH + g.gap)) * grid.width * 4, ((i + 1) * (g.tileH + g.gap) + (i === g.n - 1 ? g.gap : 0)) * grid.width * 4), width: grid.width, height: g.tileH + g.gap + (i === g.n - 1 ? g.gap : 0) }, 0, y);
    const label = g.rowLabels?.[i];
    if (label) {
      const max = Math.floor((grid.width + 1) / (4 * text));
      canvas.text(label.length > max ? `...${label.slice(-(max - 3))}` : label, g.gap, y + g.tileH + g.gap + 2, text);
    }
  }
  return canvas.image();
}

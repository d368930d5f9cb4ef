import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { denormalize, imageGrid, reconstructionGrid, renderReconstructions } from '../../src/viz/reconstruction';
import { patchify } from '../../src/patch/patchify';
import { toCanvas } from '../../src/viz/canvas';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const MEAN = 0.5;
const STD = 0.25;
/** One 4×4 grey image with pixel (y, x) = (4y + x) / 15, normalised. */
const x01 = Array.from({ length: 16 }, (_, i) => i / 15);
const byte = (v: number) => Math.floor(Math.min(1, Math.max(0, v)) * 255 + 0.5);

describe('reconstructionGrid', () => {
  it('draws original, masked (grey), reconstruction and pasted rows, upscaled with gaps', async () => {
    const before = tf.memory().numTensors;
    const images = tf.tidy(() => tf.div(tf.sub(tf.tensor4d(x01, [1, 4, 4, 1]), MEAN), STD));
    // Prediction: 0.6 everywhere (in normalised units), patches 0 and 3 removed.
    const pred = tf.fill([1, 4, 4], (0.6 - MEAN) / STD);
    const mask = tf.tensor2d([[1, 0, 0, 1]]);
    const img = await reconstructionGrid(images, pred, mask, { patchSize: 2, mean: MEAN, std: STD, scale: 2, gap: 1 });
    tf.dispose([images, pred, mask]);
    expect(tf.memory().numTensors).toBe(before);
    expect([img.width, img.height]).toEqual([10, 37]); // 1 tile of 8 + 2 gaps; 4 rows of 8 + 5 gaps
    const at = (row: number, y: number, x: number) => {
      const py = 1 + row * 9 + 2 * y; // top-left of the 2×2 block of image pixel (y, x)
      const px = 1 + 2 * x;
      const i = (py * img.width + px) * 4;
      const block = [i, i + 4, i + 4 * img.width, i + 4 * img.width + 4].map((j) => img.data[j]);
      expect(new Set(block).size).toBe(1); // nearest upscaling
      expect([img.data[i + 1], img.data[i + 2], img.data[i + 3]]).toEqual([img.data[i], img.data[i], 255]); // grey, opaque
      return img.data[i];
    };
    const patchOf = (y: number, x: number) => Math.floor(y / 2) * 2 + Math.floor(x / 2);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        const orig = byte(x01[4 * y + x]);
        const removed = [0, 3].includes(patchOf(y, x));
        expect(at(0, y, x)).toBe(orig);
        expect(at(1, y, x)).toBe(removed ? 128 : orig);
        expect(at(2, y, x)).toBe(byte(0.6));
        expect(at(3, y, x)).toBe(removed ? byte(0.6) : orig);
      }
    }
    expect(Array.from(img.data.slice(0, 4))).toEqual([255, 255, 255, 255]); // gap
  });

  it('draws three channels in colour, de-normalised per channel, and picks rows', async () => {
    const rgb = tf.tidy(() => tf.tensor4d([0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 2, 2, 3]));
    const normed = tf.tidy(() => tf.div(tf.sub(rgb, tf.tensor1d([0.1, 0.2, 0.3])), tf.tensor1d([0.5, 0.5, 0.5])));
    const pred = tf.tidy(() => patchify(normed, 2));
    const mask = tf.zeros([1, 1]);
    const img = await reconstructionGrid(normed, pred, mask, {
      patchSize: 2, mean: [0.1, 0.2, 0.3], std: [0.5, 0.5, 0.5], scale: 1, gap: 0, rows: ['reconstruction'],
    });
    expect([img.width, img.height]).toEqual([2, 2]);
    expect(Array.from(img.data.slice(0, 4))).toEqual([0, 128, 255, 255]);
    tf.dispose([rgb, normed, pred, mask]);
  });

  it('checks shapes and options with typed errors, leaking nothing', async () => {
    const images = tf.zeros([2, 4, 4, 1]);
    const pred = tf.zeros([2, 4, 4]);
    const mask = tf.zeros([2, 4]);
    const before = tf.memory().numTensors;
    await expect(reconstructionGrid(images, pred, mask, { patchSize: 3 })).rejects.toThrow(/patchSize: expected a positive integer dividing H 4/);
    await expect(reconstructionGrid(images, tf.zeros([2, 4, 5]), mask, { patchSize: 2 })).rejects.toThrow(/pred: expected shape \[2, 4, 4\]/);
    await expect(reconstructionGrid(images, pred, mask, { patchSize: 2, rows: ['nope' as never] })).rejects.toThrow(MAEConfigError);
    await expect(reconstructionGrid(images, pred, mask, { patchSize: 2, mean: [1, 2] })).rejects.toThrow(/mean: expected a finite number or 1/);
    await expect(imageGrid([])).rejects.toThrow(MAEInputError);
    expect(tf.memory().numTensors).toBe(before + 1); // the zeros([2, 4, 5]) above
    tf.dispose([images, pred, mask]);
  });
});

describe('row labels', () => {
  it("labels: true writes each row's name in a left column (5×7 font, 2× for tall tiles); the tiles move right", async () => {
    const images = tf.zeros([1, 8, 8, 1]);
    const pred = tf.zeros([1, 4, 16]);
    const mask = tf.tensor2d([[1, 0, 0, 1]]);
    const plain = await reconstructionGrid(images, pred, mask, { patchSize: 4, scale: 8, gap: 2 });
    const labelled = await reconstructionGrid(images, pred, mask, { patchSize: 4, scale: 8, gap: 2, labels: true });
    tf.dispose([images, pred, mask]);
    // the widest name, 'reconstruction' (14 characters): (14 · 6 − 1) · 2 px, then a gap
    expect(labelled.width - plain.width).toBe((14 * 6 - 1) * 2 + 2);
    expect(labelled.height).toBe(plain.height);
    const dark = (img: typeof labelled, x0: number, x1: number, y0: number, y1: number) => {
      let n = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (img.data[(y * img.width + x) * 4] === 0) n++;
      return n;
    };
    const rowTop = (r: number) => 2 + r * (64 + 2);
    for (let r = 0; r < 4; r++) expect(dark(labelled, 0, 168, rowTop(r), rowTop(r) + 64)).toBeGreaterThan(20); // ink in every row's label
    expect(dark(plain, 0, 2, 0, plain.height)).toBe(0);
    // the tiles themselves are unchanged, shifted right by the label column
    const shift = labelled.width - plain.width;
    for (const [x, y] of [[2, 2], [40, 100], [60, 250]]) {
      const a = (y * plain.width + x) * 4;
      const b = (y * labelled.width + x + shift) * 4;
      expect(Array.from(labelled.data.slice(b, b + 4))).toEqual(Array.from(plain.data.slice(a, a + 4)));
    }
  });

  it('takes your own labels (one per row), white on a dark background, and checks their count', async () => {
    const rows = [tf.zeros([1, 4, 4, 1]), tf.ones([1, 4, 4, 1])];
    const img = await imageGrid(rows, { labels: ['in', 'out'], background: [0, 0, 0], scale: 2, gap: 1 });
    expect(img.width).toBe((3 * 6 - 1) + 1 + 8 + 2); // the widest label, 'out', a gap, then the tile with its two gaps
    let white = 0;
    for (let y = 0; y < img.height; y++) for (let x = 0; x < 12; x++) if (img.data[(y * img.width + x) * 4] === 255) white++;
    expect(white).toBeGreaterThan(10);
    await expect(imageGrid(rows, { labels: ['only one'] })).rejects.toThrow(/^labels: expected 2 strings \(one per row\)/);
    tf.dispose(rows);
  });
});

describe('toCanvas', () => {
  const image = { data: new Uint8ClampedArray([255, 0, 0, 255, 0, 255, 0, 255]), width: 2, height: 1 };

  it('puts the pixels on the given canvas, resized to the picture', () => {
    const put: unknown[] = [];
    const g = globalThis as { ImageData?: unknown };
    const saved = g.ImageData;
    g.ImageData = class {
      constructor(readonly data: Uint8ClampedArray, readonly width: number, readonly height: number) {}
    };
    try {
      const canvas = { width: 0, height: 0, getContext: (kind: string) => (kind === '2d' ? { putImageData: (...a: unknown[]) => put.push(a) } : null) };
      const out = toCanvas(image, canvas as unknown as HTMLCanvasElement);
      expect(out).toBe(canvas);
      expect([canvas.width, canvas.height]).toEqual([2, 1]);
      const [data, x, y] = put[0] as [{ data: Uint8ClampedArray; width: number; height: number }, number, number];
      expect([Array.from(data.data), data.width, data.height, x, y]).toEqual([Array.from(image.data), 2, 1, 0, 0]);
    } finally {
      g.ImageData = saved;
    }
  });

  it('without a DOM (Node) says to write a PNG instead; a malformed image is refused', () => {
    expect(() => toCanvas(image)).toThrow(/toCanvas needs a DOM or OffscreenCanvas .* writePng from tfjs-mae\/node/);
    expect(() => toCanvas({ ...image, width: 3 })).toThrow(/^image: expected \{ data, width, height \} with width·height·4 bytes/);
  });
});

describe('imageGrid', () => {
  it('refuses NaN pixels (it reads them back anyway) instead of drawing them black', async () => {
    const row = tf.tensor4d([0.5, NaN, 0.5, 0.5, 0.1, 0.2, 0.3, 0.4], [2, 2, 2, 1]);
    await expect(imageGrid([row])).rejects.toThrow(MAEInputError);
    await expect(imageGrid([row])).rejects.toThrow(/^rows\[0\]: image 0 holds NaN values/);
    row.dispose();
  });
});

describe('denormalize', () => {
  it('computes x · std + mean on the channel axis', async () => {
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const y = denormalize(x, { mean: [1, 0], std: [2, 10] });
    expect(Array.from(await y.data())).toEqual([3, 20, 7, 40]);
    tf.dispose([x, y]);
  });
});

describe('renderReconstructions', () => {
  it('runs the model with fixed masks and returns the figure and the loss', async () => {
    const mae = new MaskedAutoencoder({
      imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 1,
    });
    mae.encoder.ensureBuilt();
    mae.decoder.ensureBuilt();
    const images = tf.randomNormal([3, 8, 8, 1], 0, 1, 'float32', 2);
    const before = tf.memory().numTensors;
    const a = await renderReconstructions(mae, images, { seed: 5 });
    const b = await renderReconstructions(mae, images, { seed: 5 });
    expect(tf.memory().numTensors).toBe(before);
    expect([a.width, a.height]).toEqual([3 * 32 + 4 * 2, 4 * 32 + 5 * 2]);
    expect(b.data).toEqual(a.data);
    expect(b.loss).toBe(a.loss);
    expect(a.loss).toBeGreaterThan(0);
    images.dispose();
    mae.dispose();
  });
});

/** `tfjs-mae reconstruct`: the 4-column labelled figure, the model from the file, clear refusals. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImageFolder, writeTinyWeights } from '../helpers/labelledFolder';
import { firstBatch, openImageFiles } from '../../src/cli/data';
import { disposeBatch } from '../../src/train/data';
import { run } from './run';

let dir: string;
let images: string[];
let weights: string;
let encoderOnly: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-reconstruct-'));
  images = writeImageFolder(path.join(dir, 'images'), { classes: [], perClass: 2, size: 16 });
  weights = path.join(dir, 'tiny.safetensors');
  await writeTinyWeights(weights, 1);
  encoderOnly = path.join(dir, 'encoder.safetensors');
  await writeTinyWeights(encoderOnly, 1, (n) => !/^(decoder|mask_token)/.test(n));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Largest difference between the figure's first original tile and `file` as fed through `transform`, in [0, 255] steps. */
async function worstOriginalError(png: PNG, file: string, transform: 'resize' | 'eval'): Promise<number> {
  const data = await openImageFiles([file], { inputSize: 16, inChans: 3 });
  const batch = (await firstBatch(transform === 'resize' ? data.resizeSource(1) : data.evalSource(1)))!;
  const fed = await batch.images.data();
  disposeBatch(batch);
  let worst = 0;
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      const at = ((20 + 4 + y * 10 + 5) * png.width + 4 + x * 10 + 5) * 4;
      for (let c = 0; c < 3; c++) {
        const pixel = Math.round(255 * Math.min(1, Math.max(0, fed[(y * 16 + x) * 3 + c] * data.std[c] + data.mean[c])));
        worst = Math.max(worst, Math.abs(png.data[at + c] - pixel));
      }
    }
  }
  return worst;
}

describe('tfjs-mae reconstruct', () => {
  it('draws one row per image, four columns; the original column is the image', async () => {
    const out = path.join(dir, 'figure.png');
    const r = await run('reconstruct', ...images, '--weights', weights, '--out', out, '--backend', 'cpu', '--seed', '3');
    expect(r.err).toEqual([]);
    expect(r.out.at(-1)).toMatch(/^wrote .*figure\.png: 2 images, mask ratio 0\.75, seed 3, loss \d+\.\d{4}$/);
    const png = PNG.sync.read(fs.readFileSync(out));
    // 16 px tiles at 10×, 4 px gaps: 4 columns; a 20 px title band and a 16 px label under each row.
    expect([png.width, png.height]).toEqual([4 * 160 + 5 * 4, 20 + 2 * 160 + 3 * 4 + 2 * 16]);
    // The image as the CLI feeds it (the notebook's plain resize), back in [0, 255].
    expect(await worstOriginalError(png, images[0], 'resize')).toBeLessThanOrEqual(1);
  });

  it("resizes the whole image as the official notebook (no crop); --center-crop takes the evaluation transform", async () => {
    const wide = path.join(dir, 'wide.png');
    const img = new PNG({ width: 32, height: 16 });
    for (let i = 0; i < 32 * 16; i++) img.data.set([(i % 32) * 8, 255 - (i % 32) * 8, Math.floor(i / 32) * 16, 255], 4 * i);
    fs.writeFileSync(wide, PNG.sync.write(img));
    const plain = path.join(dir, 'plain.png');
    const cropped = path.join(dir, 'cropped.png');
    expect((await run('reconstruct', wide, '--weights', weights, '--out', plain, '--backend', 'cpu')).code).toBe(0);
    expect((await run('reconstruct', wide, '--weights', weights, '--out', cropped, '--backend', 'cpu', '--center-crop')).code).toBe(0);
    const [a, b] = [PNG.sync.read(fs.readFileSync(plain)), PNG.sync.read(fs.readFileSync(cropped))];
    expect(await worstOriginalError(a, wide, 'resize')).toBeLessThanOrEqual(1);
    expect(await worstOriginalError(b, wide, 'eval')).toBeLessThanOrEqual(1);
    expect(await worstOriginalError(a, wide, 'eval')).toBeGreaterThan(20);
    // The plain resize is sharp's bicubic resize of the whole 32×16 image to 16×16.
    const sharp = (await import('sharp')).default;
    const direct = await sharp(wide).resize(16, 16, { kernel: 'cubic', fit: 'fill' }).removeAlpha().raw().toBuffer();
    const data = await openImageFiles([wide], { inputSize: 16, inChans: 3 });
    const batch = (await firstBatch(data.resizeSource(1)))!;
    const fed = await batch.images.data();
    disposeBatch(batch);
    const back = Array.from(fed, (v, i) => Math.round(255 * (v * data.std[i % 3] + data.mean[i % 3])));
    expect(Math.max(...back.map((v, i) => Math.abs(v - direct[i])))).toBeLessThanOrEqual(1);
  });

  it('refuses encoder-only weights, a missing image, and a missing --out', async () => {
    const a = await run('reconstruct', images[0], '--weights', encoderOnly, '--heads', '2', '--out', path.join(dir, 'x.png'), '--backend', 'cpu');
    expect(a.code).toBe(1);
    expect(a.err).toHaveLength(1);
    expect(a.err[0]).toMatch(/holds an encoder only: reconstruction needs the decoder too/);
    const b = await run('reconstruct', path.join(dir, 'nope.png'), '--weights', weights, '--out', path.join(dir, 'x.png'), '--backend', 'cpu');
    expect(b.code).toBe(1);
    expect(b.err[0]).toMatch(/^tfjs-mae: cannot read .*nope\.png/);
    expect((await run('reconstruct', images[0], '--weights', weights)).err).toEqual(['tfjs-mae: reconstruct needs --out FILE.png']);
  });

  it('an --input-size that does not split into patches is named as the flag, before the model is built', async () => {
    const r = await run('reconstruct', images[0], '--weights', weights, '--input-size', '30', '--out', path.join(dir, 'x.png'), '--backend', 'cpu');
    expect(r.code).toBe(2); // a usage error, as pretrain's
    expect(r.err).toEqual([`tfjs-mae: --input-size 30: expected a multiple of the patch size 4 (of ${weights}), e.g. 28 or 32`]);
  });

  it('names a missing image before reading the weights (a 1.3 GB file took a minute to load before the typo was said)', async () => {
    const r = await run('reconstruct', path.join(dir, 'typo.png'), '--weights', path.join(dir, 'no-such-weights.pth'), '--out', path.join(dir, 'x.png'), '--backend', 'cpu');
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`tfjs-mae: cannot read ${JSON.stringify(path.join(dir, 'typo.png'))}: no such file`]);
    expect(r.out).toEqual([]); // not even the backend was set up
  });
});

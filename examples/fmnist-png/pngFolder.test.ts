/** Fashion-MNIST as PNG class folders: the layout, cheap re-runs, and pixels that decode back exactly. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { imageFolderSource, listImageFolder } from '../../src/node/index';
import type { FashionMnistSplit } from '../common/fashionMnist';
import { CLASS_FOLDERS, writeSplit } from './pngFolder';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-fmnist-png-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** `n` images whose pixel p of image i is (37 p + 11 i) mod 256, labels i mod 3. */
function fakeSplit(n: number): FashionMnistSplit {
  const images = Uint8Array.from({ length: n * 784 }, (_, k) => (37 * (k % 784) + 11 * Math.floor(k / 784)) % 256);
  return { images, labels: Uint8Array.from({ length: n }, (_, i) => i % 3), n, shape: [n, 28, 28, 1] };
}

describe('examples/fmnist-png writeSplit', () => {
  it('class folders sorted like the labels, NNNNN.png names, --limit per class, re-runs write nothing', async () => {
    expect(CLASS_FOLDERS).toEqual(['0-T-shirt_top', '1-Trouser', '2-Pullover', '3-Dress', '4-Coat', '5-Sandal', '6-Shirt', '7-Sneaker', '8-Bag', '9-Ankle_boot']);
    expect([...CLASS_FOLDERS].sort()).toEqual(CLASS_FOLDERS);
    const split = fakeSplit(7);
    const out = path.join(dir, 'limited');
    expect(await writeSplit(split, out, 2)).toEqual([6, 0]);
    expect(fs.readdirSync(path.join(out, '0-T-shirt_top')).sort()).toEqual(['00000.png', '00003.png']);
    expect(await writeSplit(split, out, 2)).toEqual([0, 6]);
    expect(await writeSplit(split, out)).toEqual([1, 6]); // 00006.png, the third of class 0
  });

  it('decoded with the evaluation transform at crop-pct 1, one channel: the pixels exactly, labels = the data set labels', async () => {
    const split = fakeSplit(6);
    const out = path.join(dir, 'exact');
    await writeSplit(split, out);
    const listing = await listImageFolder(out);
    const source = imageFolderSource(listing, { batchSize: 6, size: 28, channels: 1, transform: 'eval', cropPct: 1, mean: [0], std: [1] });
    for await (const batch of source) {
      const x = await batch.images.data();
      const labels = await batch.labels!.data();
      for (let r = 0; r < batch.indices.length; r++) {
        const i = Number(path.basename(listing.paths[batch.indices[r]], '.png'));
        expect(labels[r]).toBe(split.labels[i]);
        const got = Array.from(x.subarray(r * 784, (r + 1) * 784), (v) => Math.round(v * 255));
        expect(got).toEqual(Array.from(split.images.subarray(i * 784, (i + 1) * 784)));
      }
      tf.dispose([batch.images, batch.labels]);
    }
  });
});

/**
 * Fashion-MNIST as an image folder: each split's images as PNG files in one
 * subfolder per class (torchvision ImageFolder's layout), written with
 * tfjs-mae/node's `encodePng` and `writeFileAtomic`.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePng, writeFileAtomic } from '../../src/node/index';
import { FMNIST_CLASSES, type FashionMnistSplit } from '../common/fashionMnist';

/** Whether `p` exists. */
export const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/** `0-T-shirt_top`, …: sorted like the label numbers, no `/` in a folder name. */
export const CLASS_FOLDERS = FMNIST_CLASSES.map((name, i) => `${i}-${name.replace(/[^A-Za-z0-9-]+/g, '_')}`);

/** One 28 × 28 grey image as RGBA (R = G = B; decoding to 1 channel gives the pixels back exactly). */
function rgba(pixels: Uint8Array): Uint8ClampedArray {
  const out = new Uint8ClampedArray(pixels.length * 4);
  for (let i = 0; i < pixels.length; i++) out.set([pixels[i], pixels[i], pixels[i], 255], i * 4);
  return out;
}

/** Writes a split as PNGs in class folders (at most `limit` per class); returns [written, kept]. */
export async function writeSplit(split: FashionMnistSplit, dir: string, limit = Infinity): Promise<[number, number]> {
  const perClass = new Array<number>(10).fill(0);
  const jobs: (() => Promise<boolean>)[] = [];
  for (let i = 0; i < split.n; i++) {
    const label = split.labels[i];
    if (perClass[label]++ >= limit) continue;
    const file = join(dir, CLASS_FOLDERS[label], `${String(i).padStart(5, '0')}.png`);
    jobs.push(async () => {
      if (await exists(file)) return false;
      const image = { data: rgba(split.images.subarray(i * 784, (i + 1) * 784)), width: 28, height: 28 };
      await writeFileAtomic(file, encodePng(image));
      return true;
    });
  }
  let written = 0;
  for (let k = 0; k < jobs.length; k += 64) {
    const done = await Promise.all(jobs.slice(k, k + 64).map((job) => job()));
    written += done.filter(Boolean).length;
  }
  return [written, jobs.length - written];
}


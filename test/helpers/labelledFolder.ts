/**
 * The labelled folders of the CLI tests, in one place: tiny generated image
 * folders (PNG blobs, optionally in class subfolders), the train/val layout of
 * `finetune` and `linprobe`, tiny MAE weights, and {@link useLabelledFolder}
 * which makes all of them for a test file.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll } from 'vitest';
import { weightsMetadata } from '../../src/io/modelConfig';
import { writeSafetensors } from '../../src/io/safetensors';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';

/** Writes `perClass` PNGs of `size`² px into `dir/<class>/` for each class (or into `dir` when `classes` is empty). */
export function writeImageFolder(dir: string, { classes = ['a', 'b'], perClass = 4, size = 16 }: { classes?: string[]; perClass?: number; size?: number } = {}): string[] {
  const written: string[] = [];
  (classes.length ? classes : ['']).forEach((cls, c) => {
    fs.mkdirSync(path.join(dir, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const png = new PNG({ width: size, height: size });
      const cy = ((i * 5 + 3) % size) + 0.5;
      const cx = ((i * 7 + c * 4 + 2) % size) + 0.5;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const v = Math.round(255 * Math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (size / 2)));
          png.data.set([v, c === 0 ? v : 255 - v, (x * 16) & 255, 255], (y * size + x) * 4);
        }
      }
      const file = path.join(dir, cls, `img${i}.png`);
      fs.writeFileSync(file, PNG.sync.write(png));
      written.push(file);
    }
  });
  return written;
}

/** `root/train` (4 images per class) and `root/val` (2 per class), classes `a` and `b`, 16 px: the labelled folder of the finetune/linprobe tests. */
export function writeTrainVal(root: string): string {
  writeImageFolder(path.join(root, 'train'), { classes: ['a', 'b'], perClass: 4, size: 16 });
  writeImageFolder(path.join(root, 'val'), { classes: ['a', 'b'], perClass: 2, size: 16 });
  return root;
}

/** A 16 px, patch 4, 32-wide, 1-block MAE (seeded). */
export const TINY_MAE = { imgSize: 16, patchSize: 4, inChans: 3, embedDim: 32, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 };

/** Writes the weights of a seeded {@link TINY_MAE} with its config to `file`; `keep` filters the tensors (and drops the config). */
export async function writeTinyWeights(file: string, seed: number, keep?: (name: string) => boolean): Promise<void> {
  const mae = new MaskedAutoencoder({ ...TINY_MAE, seed });
  const dict = mae.stateDict();
  const kept = keep ? Object.fromEntries(Object.entries(dict).filter(([n]) => keep(n))) : dict;
  fs.writeFileSync(file, await writeSafetensors(kept, keep ? { format: 'pt' } : weightsMetadata(mae)));
  tf.dispose(Object.values(dict));
  mae.dispose();
}

/** What {@link useLabelledFolder} makes; the paths are set once the file's `beforeAll` has run. */
export interface LabelledFolder {
  /** The temporary folder of the test file (removed after its tests). */
  dir: string;
  /** `dir/data`: train/ (4 images per class) and val/ (2 per class), classes `a` and `b`, 16 px ({@link writeTrainVal}). */
  data: string;
  /** `dir/tiny.safetensors`: a seeded {@link TINY_MAE} with its config. */
  weights: string;
}

/**
 * Registers the `beforeAll` / `afterAll` of a CLI test file on labelled
 * images: the cpu backend, a temporary folder named after `name` with the
 * train/val images and tiny MAE weights of seed `weightsSeed` (default 1).
 */
export function useLabelledFolder(name: string, { weightsSeed = 1 }: { weightsSeed?: number } = {}): LabelledFolder {
  const folder: LabelledFolder = { dir: '', data: '', weights: '' };
  beforeAll(async () => {
    await tf.setBackend('cpu');
    folder.dir = fs.mkdtempSync(path.join(os.tmpdir(), `tfjs-mae-${name}-`));
    folder.data = writeTrainVal(path.join(folder.dir, 'data'));
    folder.weights = path.join(folder.dir, 'tiny.safetensors');
    await writeTinyWeights(folder.weights, weightsSeed);
  });
  afterAll(() => fs.rmSync(folder.dir, { recursive: true, force: true }));
  return folder;
}

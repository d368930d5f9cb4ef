/**
 * Image folders for the commands: the ONE place the CLI reads training or
 * evaluation images, so the Node image-folder source (tfjs-mae/node) can
 * replace its internals.
 *
 * STUB until the image-folder source lands: PNG files only (decoded with
 * pngjs, a devDependency), resized to the input size by nearest neighbour,
 * held in memory, one scalar mean/std; labels from first-level subfolders.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { imagesToTensor } from '../data/batches';
import { imageDataSource } from '../train/data';
import type { TrainDataSource } from '../train/data';
import { CliError } from './args';

/** A folder of images as the commands use it. */
export interface FolderImages {
  /** The folder given. */
  root: string;
  /** Image paths relative to `root`, in the order of `labels` and of {@link evalBatches}. */
  files: string[];
  /** Class index per file, when the folder has class subfolders. */
  labels?: Int32Array;
  /** Class names (sorted subfolder names), index = label. */
  classes?: string[];
  /** The normalisation of the pixels in [0, 1]: `(x − mean) / std`, per channel. */
  mean: number[];
  std: number[];
  /** Files skipped as unreadable, with the reason. */
  skipped: { path: string; reason: string }[];
  /** Training batches (shuffled per epoch, seeded), `[B, S, S, C]`; a pure function of (epoch, startBatch). */
  trainSource(batchSize: number, seed: number): TrainDataSource;
  /** Evaluation images in file order, `[B, S, S, C]` batches (with `labels`, `indices`). */
  evalBatches(batchSize: number, start?: number, count?: number): Iterable<{ images: tf.Tensor; labels?: Int32Array; indices: Int32Array }>;
}

/** Options of {@link openImageFolder}. */
export interface OpenImageFolderOptions {
  /** Side of the square images fed to the model. */
  inputSize: number;
  /** Channels fed to the model: 1 (grey) or 3 (RGB). */
  inChans: number;
  /** Per-channel normalisation of evaluation batches; defaults to the stub's 0.45 / 0.225. */
  mean?: number[];
  std?: number[];
}

const MEAN = 0.45;
const STD = 0.225;

async function listPngs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listPngs(path)));
    else if (/\.png$/i.test(entry.name)) out.push(path);
  }
  return out.sort();
}

/** Lists and decodes the images of `dir` (see the module comment). */
export async function openImageFolder(dir: string, options: OpenImageFolderOptions): Promise<FolderImages> {
  let paths: string[];
  try {
    paths = await listPngs(dir);
  } catch {
    throw new CliError(`cannot read the image folder ${JSON.stringify(dir)}`);
  }
  return openFiles(dir, paths, options);
}

/** The given image files, in order, unlabelled (`root` is the current folder). */
export async function openImageFiles(paths: string[], options: OpenImageFolderOptions): Promise<FolderImages> {
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) throw new CliError(`cannot read ${JSON.stringify(path)}: ${info ? 'not a file' : 'no such file'}`);
  }
  return openFiles('', paths, { ...options, unlabelled: true });
}

async function openFiles(dir: string, paths: string[], options: OpenImageFolderOptions & { unlabelled?: boolean }): Promise<FolderImages> {
  const { inputSize: s, inChans: c } = options;
  const evalMean = options.mean ?? Array(c).fill(MEAN);
  const evalStd = options.std ?? Array(c).fill(STD);
  const { PNG } = await import('pngjs');
  const pixels: Uint8Array[] = [];
  const files: string[] = [];
  const skipped: FolderImages['skipped'] = [];
  for (const path of paths) {
    let png: { width: number; height: number; data: Uint8Array };
    try {
      png = PNG.sync.read(await readFile(path));
      if (png.width < 1) throw new Error('empty image');
    } catch (e) {
      skipped.push({ path, reason: e instanceof Error ? e.message : String(e) });
      continue;
    }
    const img = new Uint8Array(s * s * c);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const src = (Math.floor((y * png.height) / s) * png.width + Math.floor((x * png.width) / s)) * 4;
        const dst = (y * s + x) * c;
        if (c === 1) img[dst] = Math.round((png.data[src] + png.data[src + 1] + png.data[src + 2]) / 3);
        else for (let k = 0; k < c; k++) img[dst + k] = png.data[src + k];
      }
    }
    pixels.push(img);
    files.push(relative(dir, path));
  }
  if (files.length === 0) throw new CliError(`no images in ${JSON.stringify(dir)}`);
  const firstDirs = files.map((f) => (f.includes(sep) ? f.split(sep)[0] : undefined));
  const labelled = !options.unlabelled && firstDirs.every((d) => d !== undefined);
  const classes = labelled ? [...new Set(firstDirs as string[])].sort() : undefined;
  const labels = classes ? Int32Array.from(firstDirs as string[], (d) => classes.indexOf(d)) : undefined;
  const all = new Uint8Array(files.length * s * s * c);
  pixels.forEach((p, i) => all.set(p, i * p.length));
  return {
    root: dir,
    files,
    labels,
    classes,
    mean: evalMean,
    std: evalStd,
    skipped,
    trainSource: (batchSize, seed) => {
      if (batchSize > files.length) throw new CliError(`--batch-size ${batchSize} is more than the ${files.length} images of ${dir}`);
      return imageDataSource(all, labels, { batchSize, seed, imageShape: [s, s, c], mean: MEAN, std: STD });
    },
    *evalBatches(batchSize, start = 0, count = files.length - start) {
      const end = Math.min(files.length, start + count);
      for (let i = start; i < end; i += batchSize) {
        const n = Math.min(batchSize, end - i);
        const images = tf.tidy(() => {
          const raw = imagesToTensor(all.subarray(i * s * s * c, (i + n) * s * s * c), [n, s, s, c]); // [0, 1]
          return tf.div(tf.sub(raw, tf.tensor1d(evalMean)), tf.tensor1d(evalStd)) as tf.Tensor4D;
        });
        yield { images, labels: labels?.slice(i, i + n), indices: Int32Array.from({ length: n }, (_, k) => i + k) };
      }
    },
  };
}

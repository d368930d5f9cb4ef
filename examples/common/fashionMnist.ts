/**
 * Fashion-MNIST for the examples and experiments (Node only: reads files).
 *
 * Looks for the full data set (60,000 train / 10,000 test images) in, in this
 * order: `options.dir`, the environment variable `FASHION_MNIST_DIR`, and
 * `/usr/share/datasets/fashion-mnist` (Debian package `dataset-fashion-mnist`);
 * otherwise falls back to the subset embedded in this repository
 * (`examples/data/fashion-mnist-subset`: the first 2,000 train and 1,000 test
 * images). A directory given explicitly (option or environment) must hold the
 * four files: no silent fallback then.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError } from '../../src/errors';
import { readIdx } from '../../src/data/idx';

/**
 * Mean of all 60,000 × 784 training pixels scaled to [0, 1] (float64), from
 * `shared/bench/fmnist_ref/README.md`. The test set uses the same constants.
 */
export const FMNIST_MEAN = 0.2860405969887955;

/** Population standard deviation of the same pixels. */
export const FMNIST_STD = 0.35302424451492237;

/** Class names of labels 0 … 9. */
export const FMNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** Where the Debian package `dataset-fashion-mnist` installs the data set. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The subset embedded in this repository. */
export const SUBSET_DIR = fileURLToPath(new URL('../data/fashion-mnist-subset/', import.meta.url));

/** One split. */
export interface FashionMnistSplit {
  /** `n × 28 × 28` uint8 pixels, NHWC with C = 1, row-major. */
  images: Uint8Array;
  /** `n` labels in 0 … 9. */
  labels: Uint8Array;
  n: number;
  /** `[n, 28, 28, 1]`. */
  shape: [number, number, number, number];
}

/** Options of `loadFashionMnist`. */
export interface LoadFashionMnistOptions {
  /** A directory holding the four IDX files (`.gz` or not). Defaults to env `FASHION_MNIST_DIR`, then the Debian path. */
  dir?: string;
  /** Load the embedded subset even when the full data set is installed. Defaults to `false`. */
  subset?: boolean;
}

/** The loaded data set and where it came from. */
export interface FashionMnist {
  train: FashionMnistSplit;
  test: FashionMnistSplit;
  source: {
    /** `'full'`: a directory with the standard files; `'subset'`: the embedded subset. */
    kind: 'full' | 'subset';
    /** The directory read. */
    dir: string;
    /** How it was chosen. */
    via: 'option' | 'env' | 'debian' | 'subset';
  };
}

const STEMS = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The path of `stem.gz` or `stem` in `dir`, or undefined. */
async function findFile(dir: string, stem: string): Promise<string | undefined> {
  for (const name of [`${stem}.gz`, stem]) {
    const p = join(dir, name);
    if (await exists(p)) return p;
  }
  return undefined;
}

async function hasAll(dir: string): Promise<boolean> {
  for (const stem of Object.values(STEMS)) if ((await findFile(dir, stem)) === undefined) return false;
  return true;
}

async function readSplit(dir: string, imagesStem: string, labelsStem: string): Promise<FashionMnistSplit> {
  const read = async (stem: string) => {
    const path = await findFile(dir, stem);
    if (path === undefined) throw new DataError(`dir: expected ${stem}.gz or ${stem} in ${dir}, got neither`);
    const bytes = await readFile(path);
    const arr = await readIdx(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { path, arr };
  };
  const images = await read(imagesStem);
  const labels = await read(labelsStem);
  const s = images.arr.shape;
  if (images.arr.dtype !== 'uint8' || s.length !== 3 || s[1] !== 28 || s[2] !== 28) {
    throw new DataError(`${images.path}: expected uint8 images of shape [N, 28, 28], got ${images.arr.dtype} [${s.join(', ')}]`);
  }
  const l = labels.arr;
  if (l.dtype !== 'uint8' || l.shape.length !== 1 || l.shape[0] !== s[0]) {
    throw new DataError(`${labels.path}: expected ${s[0]} uint8 labels, got ${l.dtype} [${l.shape.join(', ')}]`);
  }
  const labelData = l.data as Uint8Array;
  const bad = labelData.findIndex((v) => v > 9);
  if (bad >= 0) throw new DataError(`${labels.path}: expected labels in 0..9, got ${labelData[bad]} at index ${bad}`);
  return { images: images.arr.data as Uint8Array, labels: labelData, n: s[0], shape: [s[0], 28, 28, 1] };
}

/**
 * Loads Fashion-MNIST: the full set when available (see the module comment),
 * else the embedded subset.
 *
 * @param options `dir` (default: env `FASHION_MNIST_DIR`, then the Debian
 *   path), `subset` (default `false`).
 * @returns `{ train, test, source }`; pixels are uint8, normalise them with
 *   `FMNIST_MEAN` / `FMNIST_STD` (e.g. `batches(..., { mean, std })`).
 */
export async function loadFashionMnist(options: LoadFashionMnistOptions = {}): Promise<FashionMnist> {
  let dir: string;
  let via: FashionMnist['source']['via'];
  const envDir = process.env.FASHION_MNIST_DIR;
  if (options.subset) {
    dir = SUBSET_DIR;
    via = 'subset';
  } else if (options.dir !== undefined) {
    dir = options.dir;
    via = 'option';
  } else if (envDir !== undefined && envDir !== '') {
    dir = envDir;
    via = 'env';
  } else if (await hasAll(DEBIAN_FASHION_MNIST_DIR)) {
    dir = DEBIAN_FASHION_MNIST_DIR;
    via = 'debian';
  } else {
    dir = SUBSET_DIR;
    via = 'subset';
  }
  const train = await readSplit(dir, STEMS.trainImages, STEMS.trainLabels);
  const test = await readSplit(dir, STEMS.testImages, STEMS.testLabels);
  return { train, test, source: { kind: via === 'subset' ? 'subset' : 'full', dir, via } };
}

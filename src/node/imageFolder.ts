/**
 * Image folders as torchvision's `ImageFolder` lists them: every JPEG, PNG
 * and WebP file under a folder (recognised by content), the class of a file
 * is its first-level subfolder, classes sorted, and a seeded train/val split.
 */
import { opendir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  DataError,
  IMAGE_HEAD_BYTES,
  MAEConfigError,
  classifyImageFile,
  hasImageExtension,
  mixSeed,
  permutation,
  reportBadFile,
  type BadImageFile,
} from 'tfjs-mae';

/** What {@link listImageFolder} returns: the image files of a folder and their classes. */
export interface ImageFolderListing {
  /** The folder, absolute. */
  root: string;
  /** Image files, relative to `root`, `/`-separated, in sorted order (class by class when labelled). */
  paths: string[];
  /** Class index of each path; `undefined` when the folder is unlabelled. */
  labels?: Int32Array;
  /** Class names (first-level subfolders), sorted; `[]` when unlabelled. */
  classes: string[];
  /** Class name → index, as torchvision's `class_to_idx`. */
  classToIndex: Record<string, number>;
  /** Files with an image extension that are not images (empty, other content), found while listing. */
  skipped: BadImageFile[];
}

/** Options of {@link listImageFolder}. */
export interface ListImageFolderOptions {
  /**
   * `'folders'`: the class of a file is its first-level subfolder (files
   * directly in the root are ignored, as torchvision does); `'none'`: every
   * image under the root, unlabelled; `'auto'`: `'folders'` when the root
   * has subfolders, else `'none'`. Defaults to `'auto'`.
   */
  labels?: 'auto' | 'folders' | 'none';
  /** Class names to use (e.g. the training set's), instead of the subfolders found. Defaults to the subfolders. */
  classes?: string[];
  /** Stop at the first bad file with a `DataError` naming it. Defaults to `false`. */
  strict?: boolean;
  /** Called with each bad file found. Defaults to a one-line `console.warn`. */
  onBadFile?: (file: BadImageFile) => void;
}

/**
 * Lists the images under `root`, recursively, in sorted order (by UTF-16
 * code units, as Python's `sorted`). A file is an image when its first bytes
 * are those of a JPEG, PNG or WebP file, whatever its extension; a file
 * with an image extension that is empty or holds something else is a bad
 * file (reported, and in `skipped`); other files (`.txt`, `.DS_Store`) are
 * ignored silently. Hidden folders (`.git`, `.ipynb_checkpoints`) are not
 * entered; symbolic links to files are followed, to folders not.
 *
 * Memory: the list of paths (and one label per path); each file is opened
 * for 12 bytes, at most 32 at a time.
 *
 * @throws DataError when `root` is not a folder (or, with `strict`, at the first bad file)
 */
export async function listImageFolder(root: string, options: ListImageFolderOptions = {}): Promise<ImageFolderListing> {
  if (typeof root !== 'string' || root === '') throw new MAEConfigError(`root: expected a folder path, got ${JSON.stringify(root)}`);
  const mode = options.labels ?? 'auto';
  if (!['auto', 'folders', 'none'].includes(mode)) throw new MAEConfigError(`labels: expected 'auto', 'folders' or 'none', got ${JSON.stringify(mode)}`);
  const abs = path.resolve(root);
  const rootStat = await stat(abs).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new DataError(`${abs}: expected a folder of images, got ${rootStat ? 'a file' : 'nothing (no such folder)'}`);
  const top = await entries(abs);
  const subfolders = top.filter((e) => e.dir).map((e) => e.name);
  const labelled = mode === 'folders' || (mode === 'auto' && subfolders.length > 0);
  const skipped: BadImageFile[] = [];
  const onBad = (f: BadImageFile) => {
    reportBadFile(f, options);
    skipped.push(f);
  };
  if (!labelled) {
    return { root: abs, paths: await imagesUnder(abs, '', onBad), classes: [], classToIndex: {}, skipped };
  }
  const classes = options.classes ?? subfolders;
  const classToIndex: Record<string, number> = {};
  classes.forEach((c, i) => (classToIndex[c] = i));
  const paths: string[] = [];
  const labels: number[] = [];
  for (const name of subfolders) {
    const index = classToIndex[name];
    if (index === undefined) {
      throw new DataError(`${path.join(abs, name)}: a class folder not among the ${classes.length} classes [${classes.join(', ')}] (of the training set)`);
    }
    for (const p of await imagesUnder(abs, name, onBad)) {
      paths.push(p);
      labels.push(index);
    }
  }
  return { root: abs, paths, labels: Int32Array.from(labels), classes: [...classes], classToIndex, skipped };
}

interface Entry {
  name: string;
  dir: boolean;
}

/** The entries of a folder, sorted, without hidden folders; symlinks resolved (a link to a folder is not followed). */
async function entries(dir: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const d of await opendir(dir)) {
    if (d.isDirectory()) {
      if (!d.name.startsWith('.')) out.push({ name: d.name, dir: true });
    } else if (d.isFile()) {
      out.push({ name: d.name, dir: false });
    } else if (d.isSymbolicLink()) {
      const s = await stat(path.join(dir, d.name)).catch(() => undefined);
      if (s?.isFile()) out.push({ name: d.name, dir: false });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Image files under `root/rel`, relative to `root`, depth first in sorted order. */
async function imagesUnder(root: string, rel: string, onBad: (f: BadImageFile) => void): Promise<string[]> {
  const found: string[] = [];
  const walk = async (relDir: string): Promise<void> => {
    const list = await entries(path.join(root, relDir));
    const files = list.filter((e) => !e.dir).map((e) => (relDir === '' ? e.name : `${relDir}/${e.name}`));
    for (let i = 0; i < files.length; i += 32) {
      const chunk = files.slice(i, i + 32);
      const kinds = await Promise.all(chunk.map((f) => classify(path.join(root, f))));
      chunk.forEach((f, k) => {
        const kind = kinds[k];
        if (kind === 'image') found.push(f);
        else if (kind !== 'ignore') onBad({ path: path.join(root, f), ...kind });
      });
    }
    for (const e of list) if (e.dir) await walk(relDir === '' ? e.name : `${relDir}/${e.name}`);
  };
  await walk(rel);
  return found;
}

async function classify(file: string): Promise<'image' | 'ignore' | Omit<BadImageFile, 'path'>> {
  let head: Uint8Array;
  let size: number;
  try {
    const fh = await open(file, 'r');
    try {
      size = (await fh.stat()).size;
      head = new Uint8Array(IMAGE_HEAD_BYTES);
      const { bytesRead } = await fh.read(head, 0, IMAGE_HEAD_BYTES, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    return hasImageExtension(file) ? { kind: 'corrupt', reason: `unreadable: ${(err as Error).message}` } : 'ignore';
  }
  return classifyImageFile(file, size, head);
}

/** Options of {@link splitImageFolder}. */
export interface SplitImageFolderOptions extends ListImageFolderOptions {
  /** Fraction of the images held out for validation when there is no `val/` folder, in [0, 1). Defaults to 0.1. */
  valSplit?: number;
  /** Seed of the split, an integer in `[0, 2^32)`. Defaults to 0. */
  seed?: number;
}

/** What {@link splitImageFolder} returns. */
export interface ImageFolderSplit {
  /** The training images. */
  train: ImageFolderListing;
  /** The validation images; absent when there are none (no `val/` folder, or `valSplit` rounds to 0 images). */
  val?: ImageFolderListing;
}

/**
 * The training and validation images of a folder: `root/train` and
 * `root/val` when `root/train` exists (val with the training set's classes;
 * no `val/` means no validation set), otherwise a seeded random split of
 * `root`: `round(N × valSplit)` images drawn by `permutation(N, mixSeed(seed, …))`
 * go to validation, both parts keep the folder order.
 */
export async function splitImageFolder(
  root: string,
  options: SplitImageFolderOptions = {},
): Promise<ImageFolderSplit> {
  const valSplit = options.valSplit ?? 0.1;
  if (typeof valSplit !== 'number' || !(valSplit >= 0 && valSplit < 1)) {
    throw new MAEConfigError(`valSplit: expected a fraction in [0, 1), got ${JSON.stringify(valSplit)}`);
  }
  const seed = options.seed ?? 0;
  const abs = path.resolve(root);
  const isDir = async (p: string) => (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
  if (await isDir(path.join(abs, 'train'))) {
    const train = await listImageFolder(path.join(abs, 'train'), options);
    if (!(await isDir(path.join(abs, 'val')))) return { train };
    const labels = train.labels === undefined ? 'none' : 'folders';
    const val = await listImageFolder(path.join(abs, 'val'), { ...options, labels, classes: train.labels ? train.classes : undefined });
    return { train, val };
  }
  const all = await listImageFolder(abs, options);
  const n = all.paths.length;
  const nVal = Math.round(n * valSplit);
  if (nVal === 0) return { train: all };
  const order = permutation(n, mixSeed(seed, 0x73706c74));
  const isVal = new Uint8Array(n);
  for (let i = 0; i < nVal; i++) isVal[order[i]] = 1;
  const part = (want: number): ImageFolderListing => {
    const keep: number[] = [];
    for (let i = 0; i < n; i++) if (isVal[i] === want) keep.push(i);
    return {
      ...all,
      paths: keep.map((i) => all.paths[i]),
      labels: all.labels && Int32Array.from(keep, (i) => all.labels![i]),
      skipped: want === 0 ? all.skipped : [],
    };
  };
  return { train: part(0), val: part(1) };
}

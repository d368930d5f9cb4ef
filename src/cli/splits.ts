/**
 * The labelled train / val images of `finetune` and `linprobe`:
 * `DATA_DIR/train` and `DATA_DIR/val` (class subfolders in each), as the
 * official scripts read ImageNet, or a seeded `--val-split` of a folder of
 * class subfolders; and the start both commands share (output folder,
 * backend, `--weights`, the images, `OUTPUT_DIR/dataset.json`).
 */
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ViTEncoder } from '../encode/ViTEncoder';
import type { MaskedAutoencoder } from '../model/MaskedAutoencoder';
import { writeFileAtomic } from '../node/atomicFile';
import { splitImageFolder, type ImageFolderListing } from '../node';
import { CliError, UsageError, flag } from './args';
import { setupBackend, type BackendChoice } from './backend';
import type { CliIO } from './command';
import { folderImages, type FolderImages, type OpenImageFolderOptions } from './data';
import type { LoadModelOptions, LoadedModel } from './model';
import { checkOutputDir } from './runDir';
import { modelFromFlags, trainedNormalisation } from './weightsFlags';

/** `--val-split`: finetune's and linprobe's validation set when DATA_DIR has no train/ and val/. */
export const valSplitFlag = flag.number({
  min: 0,
  max: 0.99,
  metavar: 'FRACTION',
  help: 'when DATA_DIR has no train/ and val/: hold out this fraction of its images for validation, drawn with --seed (saved in OUTPUT_DIR/dataset.json)',
});

/** The labelled images of a run. */
export interface TrainVal {
  train: FolderImages;
  val: FolderImages;
  /** Class names, index = label (torchvision's sorted subfolders). */
  classes: string[];
  /** `'folders'`: DATA_DIR/train and DATA_DIR/val; `'val-split'`: a seeded split of one folder. */
  split: 'folders' | 'val-split';
}

const isDir = async (p: string): Promise<boolean> => (await stat(p).catch(() => undefined))?.isDirectory() === true;

/**
 * DATA_DIR/train and DATA_DIR/val when both exist (val with train's
 * classes), else `valSplit` of DATA_DIR (or of DATA_DIR/train when only it
 * exists) held out by `splitImageFolder` with `seed`. `layout`: what
 * {@link checkTrainValLayout} found (checked before the weights load).
 */
export async function openTrainVal(
  dataDir: string,
  { hasTrain, hasVal }: TrainValLayout,
  options: OpenImageFolderOptions & { valSplit?: number; seed: number },
): Promise<TrainVal> {
  const { valSplit, seed, ...imageOptions } = options;
  const listOptions = { strict: options.strict, onBadFile: options.onBadFile ?? (() => undefined) };
  let parts: { train: ImageFolderListing; val?: ImageFolderListing };
  let roots: [string, string];
  if (hasTrain && hasVal) {
    parts = await splitImageFolder(dataDir, { ...listOptions, labels: 'folders' });
    roots = [join(dataDir, 'train'), join(dataDir, 'val')];
  } else {
    const root = hasTrain ? join(dataDir, 'train') : dataDir;
    parts = await splitImageFolder(root, { ...listOptions, labels: 'folders', valSplit, seed });
    if (!parts.val) throw new UsageError(`--val-split ${valSplit} of the ${parts.train.paths.length} images of ${JSON.stringify(root)} holds out none; raise it`);
    roots = [root, root];
  }
  const { train, val } = parts as { train: ImageFolderListing; val: ImageFolderListing };
  if (!train.labels || train.classes.length === 0) throw new CliError(`${JSON.stringify(roots[0])}: no labels (one subfolder per class expected)`);
  for (const [listing, root] of [[train, roots[0]], [val, roots[1]]] as const) {
    if (listing.paths.length === 0) throw new CliError(`no images (JPEG, PNG or WebP) in ${JSON.stringify(root)}${roots[0] === roots[1] ? ' for one side of the split' : ''}`);
  }
  return {
    train: folderImages(roots[0], train, imageOptions),
    val: folderImages(roots[1], val, imageOptions),
    classes: train.classes,
    split: roots[0] === roots[1] ? 'val-split' : 'folders',
  };
}

/** Which of `train/` and `val/` DATA_DIR has ({@link checkTrainValLayout}). */
export interface TrainValLayout {
  hasTrain: boolean;
  hasVal: boolean;
}

/**
 * The folder-layout checks of {@link openTrainVal}, from a few `stat`s: the
 * commands run them before loading `--weights`, so a mistyped DATA_DIR is
 * said at once rather than after a minute-long load.
 */
export async function checkTrainValLayout(dataDir: string, valSplit?: number): Promise<TrainValLayout> {
  if (!(await isDir(dataDir))) throw new CliError(`${JSON.stringify(dataDir)} is not a folder of images`);
  const [hasTrain, hasVal] = [await isDir(join(dataDir, 'train')), await isDir(join(dataDir, 'val'))];
  if (hasTrain && hasVal) {
    if (valSplit !== undefined) throw new UsageError(`--val-split ${valSplit}: ${JSON.stringify(dataDir)} has train/ and val/ already (drop the flag, or point DATA_DIR at one folder of class subfolders)`);
  } else {
    if (valSplit === undefined) {
      throw new CliError(
        `${JSON.stringify(dataDir)} needs train/ and val/ subfolders, each with one subfolder per class (as ImageNet for the official scripts), ` +
          `or --val-split FRACTION to hold out part of ${hasTrain ? 'train/' : 'its class subfolders'} for validation`,
      );
    }
    if (!(valSplit > 0)) throw new UsageError(`--val-split: expected a fraction in (0, 0.99], got ${valSplit}`);
  }
  return { hasTrain, hasVal };
}

/** The flags {@link openLabelledRun} reads. */
export interface LabelledRunFlags {
  weights?: string;
  heads?: number;
  decoderHeads?: number;
  normPix: boolean;
  inputSize?: number;
  valSplit?: number;
  seed: number;
  outputDir: string;
  backend: BackendChoice;
  /** `--threads`: wasm threads. */
  threads: number;
}

/** What `finetune` and `linprobe` start from. */
export interface LabelledRun extends TrainVal {
  /** `--output-dir`, absolute (created). */
  outputDir: string;
  /** The model of `--weights`; the caller disposes it. */
  loaded: LoadedModel;
  /** Its encoder (an MAE's, or the file's own). */
  encoder: ViTEncoder;
}

/**
 * The common start of `finetune` and `linprobe`: checks the output folder,
 * sets up the backend, loads `--weights`, opens the train / val images sized
 * and normalised for the encoder, and writes `OUTPUT_DIR/dataset.json` (the
 * class → index map and which file went where).
 */
export async function openLabelledRun(command: string, dataDir: string, f: LabelledRunFlags, io: CliIO, kinds?: LoadModelOptions['kinds']): Promise<LabelledRun> {
  const outputDir = resolve(f.outputDir);
  await checkOutputDir(outputDir);
  const layout = await checkTrainValLayout(dataDir, f.valSplit);
  await setupBackend(f.backend, { threads: f.threads, io });
  const loaded = await modelFromFlags(command, f, io, f.inputSize, kinds);
  try {
    const encoder = loaded.kind === 'mae' ? (loaded.model as MaskedAutoencoder).encoder : (loaded.model as ViTEncoder);
    const trained = trainedNormalisation(loaded);
    const data = await openTrainVal(dataDir, layout, {
      inputSize: encoder.imgSize[0],
      inChans: encoder.inChans,
      ...trained,
      valSplit: f.valSplit,
      seed: f.seed,
      onBadFile: (b) => io.out(`skipped ${b.path}: ${b.reason}`),
    });
    const how = data.split === 'folders' ? 'train/ and val/' : `--val-split ${f.valSplit} (seed ${f.seed})`;
    io.out(`data: ${data.train.listing.paths.length} train, ${data.val.listing.paths.length} val images, ${data.classes.length} classes (${how})`);
    if (trained) {
      const show = (v: number[]) => v.map((x) => +x.toFixed(7)).join(', ');
      io.out(`transform (the weights' recipe): resize to ${encoder.imgSize[0]} / ${data.train.cropPct}, centre crop; normalisation (x − [${show(trained.mean)}]) / [${show(trained.std)}]`);
    }
    await mkdir(outputDir, { recursive: true });
    await writeFileAtomic(join(outputDir, 'dataset.json'), datasetJson(dataDir, data, f));
    return { ...data, outputDir, loaded, encoder };
  } catch (e) {
    loaded.model.dispose();
    throw e;
  }
}

/**
 * `OUTPUT_DIR/dataset.json`: the class → index map (torchvision's
 * `class_to_idx`) and the files of each side, relative to their folder, in
 * the order the labels index them.
 */
export function datasetJson(dataDir: string, data: TrainVal, f: { valSplit?: number; seed: number }): string {
  const side = (set: FolderImages) => ({
    root: set.listing.root,
    count: set.listing.paths.length,
    files: set.listing.paths.map((p, i) => [p, set.listing.labels![i]]),
  });
  const split = data.split === 'folders' ? { split: 'folders' } : { split: 'val-split', valSplit: f.valSplit, seed: f.seed };
  return `${JSON.stringify({ data: resolve(dataDir), ...split, classToIndex: data.train.listing.classToIndex, train: side(data.train), val: side(data.val) })}\n`;
}

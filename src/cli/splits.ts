/**
 * The labelled train / val images of `finetune` and `linprobe`:
 * `DATA_DIR/train` and `DATA_DIR/val` (class subfolders in each), as the
 * official scripts read ImageNet.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError } from './args';
import type { ViTEncoder } from '../encode/ViTEncoder';
import type { MaskedAutoencoder } from '../model/MaskedAutoencoder';
import type { CliIO } from './command';
import { openImageFolder, type FolderImages, type OpenImageFolderOptions } from './data';
import type { LoadedModel } from './model';
import { trainedNormalisation } from './weightsFlags';

/** The two labelled folders, with the same classes. */
export async function openTrainVal(dataDir: string, options: OpenImageFolderOptions): Promise<{ train: FolderImages; val: FolderImages; classes: string[] }> {
  const isDir = async (p: string) => (await stat(p).catch(() => undefined))?.isDirectory() === true;
  const [trainDir, valDir] = [join(dataDir, 'train'), join(dataDir, 'val')];
  if (!(await isDir(trainDir)) || !(await isDir(valDir))) {
    throw new CliError(`${JSON.stringify(dataDir)} needs train/ and val/ subfolders, each with one subfolder per class (as ImageNet for the official scripts)`);
  }
  const train = await openImageFolder(trainDir, options);
  const val = await openImageFolder(valDir, options);
  if (!train.classes || !val.classes) throw new CliError(`${JSON.stringify(dataDir)}: train/ and val/ need one subfolder per class`);
  if (!train.classes || !val.classes) throw new CliError(`${JSON.stringify(dataDir)}: train/ and val/ need one subfolder per class`);
  if (JSON.stringify(train.classes) !== JSON.stringify(val.classes)) {
    throw new CliError(`${JSON.stringify(dataDir)}: val/ has classes ${JSON.stringify(val.classes)}, train/ has ${JSON.stringify(train.classes)}`);
  }
  return { train, val, classes: train.classes };
}

/** The encoder of `loaded` (an MAE's, or the file's own) and the train/val images sized and normalised for it. */
export async function trainValFor(dataDir: string, loaded: LoadedModel, io: CliIO): Promise<{ encoder: ViTEncoder; train: FolderImages; val: FolderImages; classes: string[] }> {
  const encoder = loaded.kind === 'mae' ? (loaded.model as MaskedAutoencoder).encoder : (loaded.model as ViTEncoder);
  const trained = trainedNormalisation(loaded);
  const sets = await openTrainVal(dataDir, { inputSize: encoder.imgSize[0], inChans: encoder.inChans, ...trained, onBadFile: (b) => io.out(`skipped ${b.path}: ${b.reason}`) });
  io.out(`data: ${sets.train.listing.paths.length} train, ${sets.val.listing.paths.length} val images, ${sets.classes.length} classes`);
  if (trained) {
    const show = (v: number[]) => v.map((x) => +x.toFixed(7)).join(', ');
    io.out(`transform (the weights' recipe): resize to ${encoder.imgSize[0]} / ${sets.train.cropPct}, centre crop; normalisation (x − [${show(trained.mean)}]) / [${show(trained.std)}]`);
  }
  return { encoder, ...sets };
}

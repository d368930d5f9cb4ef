/**
 * The "train on your own images" panel: pick a folder (or drop one), list it
 * with the library's `listImageFiles` (class = first subfolder, bad files
 * named), pre-train a tiny MAE in the page with `pretrain` on the page's
 * backend, with a live loss curve and live reconstructions, stop at any
 * step, and download the weights as safetensors with the config embedded
 * (`saveWeights`). `window.__maeOwn` is its test API.
 *
 * Self-contained: main.ts only calls `mountOwnImages()`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  imageFilesSource,
  listImageFiles,
  maeVitTinyPatch4,
  outputTensors,
  pretrain,
  saveWeights,
  toCanvas,
  type BadImageFile,
  type ImageFileInput,
  type ImageFilesListing,
  type MaskedAutoencoder,
} from '../../../src';
import { lineChart } from '../../../src/viz/lineChart';
import { reconstructionGrid } from '../../../src/viz/reconstruction';
import { dropZone } from './dropZone';
import { $ } from './dom';

/** Steps between two reconstructions. */
const RECON_EVERY = 5;
/** Images in the reconstruction figure. */
const PREVIEW = 8;
/** Peak learning rate: the official rule (1.5e-4 × batch / 256) barely moves a model in a few hundred steps. */
const LR = 1e-3;
const MASK_RATIO = 0.75;

/**
 * Wires the panel's section of index.html (`#own-images`) and installs
 * `window.__maeOwn`. Called once by main.ts.
 */
export function mountOwnImages(): void {
  const folderInput = $<HTMLInputElement>('own-folder');
  const drop = $<HTMLDivElement>('own-drop');
  const sizeSelect = $<HTMLSelectElement>('own-size');
  const epochsInput = $<HTMLInputElement>('own-epochs');
  const batchInput = $<HTMLInputElement>('own-batch');
  const trainButton = $<HTMLButtonElement>('own-train');
  const stopButton = $<HTMLButtonElement>('own-stop');
  const downloadButton = $<HTMLButtonElement>('own-download');
  const filesInfo = $<HTMLDivElement>('own-files');
  const badList = $<HTMLUListElement>('own-bad');
  const lossCanvas = $<HTMLCanvasElement>('own-loss');
  const reconCanvas = $<HTMLCanvasElement>('own-recon');
  const status = $<HTMLDivElement>('own-status');

  let listing: ImageFilesListing | null = null;
  const bad: BadImageFile[] = [];
  let model: MaskedAutoencoder | null = null;
  let controller: AbortController | null = null;
  let training: Promise<void> | null = null;
  const losses: number[] = [];
  let reconstructions = 0;
  let read = 0;
  let trainedOn = '';

  function setStatus(text: string, error = false): void {
    status.textContent = text;
    status.classList.toggle('error', error);
  }

  function noteBad(f: BadImageFile): void {
    if (bad.some((b) => b.path === f.path)) return;
    bad.push(f);
    const li = document.createElement('li');
    li.textContent = `${f.path}: ${f.reason}`;
    badList.append(li);
  }

  /** Lists the picked or dropped files and shows what was found. */
  async function useFiles(files: ImageFileInput[]): Promise<void> {
    bad.length = 0;
    badList.replaceChildren();
    listing = null;
    trainButton.disabled = true;
    try {
      listing = await listImageFiles(files, { onBadFile: noteBad });
    } catch (err) {
      setStatus(`Could not list the files: ${(err as Error).message}`, true);
      return;
    }
    const n = listing.paths.length;
    const classes = listing.classes.length > 0 ? ` in ${listing.classes.length} classes (${listing.classes.join(', ')})` : ' (no class subfolders: unlabelled)';
    filesInfo.textContent = `${n} image${n === 1 ? '' : 's'}${classes} under "${listing.root || '/'}"; ${files.length - n - bad.length} other files ignored.`;
    trainButton.disabled = n === 0;
    setStatus(n === 0 ? 'No JPEG, PNG or WebP image found.' : 'Ready to train.', n === 0);
  }

  folderInput.addEventListener('change', () => void useFiles(Array.from(folderInput.files ?? [])));

  dropZone(drop, (dropped) => void useFiles(dropped.map(({ path, file }) => ({ path, file }))));

  function drawLoss(): void {
    toCanvas(lineChart([{ y: losses }], { width: 480, height: 220, xLabel: 'step', yLabel: 'loss' }), lossCanvas);
  }

  /** The figure of the preview images (rows: original, masked, reconstruction, reconstruction + visible), mask seed 0. */
  async function drawReconstruction(m: MaskedAutoencoder, preview: tf.Tensor4D): Promise<void> {
    const out = m.forward(preview, { seed: 0, maskRatio: MASK_RATIO });
    try {
      const picture = await reconstructionGrid(preview, out.pred, out.mask, { patchSize: m.config.patchSize, mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] });
      toCanvas(picture, reconCanvas);
      reconstructions++;
    } finally {
      tf.dispose(outputTensors(out));
    }
  }

  /** The first images of the listing through the evaluation transform (resize + centre crop). */
  async function previewImages(l: ImageFilesListing, size: number): Promise<tf.Tensor4D> {
    const source = imageFilesSource(l, { batchSize: Math.min(PREVIEW, l.paths.length), size, transform: 'eval', onBadFile: noteBad });
    for await (const batch of source) {
      batch.labels?.dispose();
      return batch.images;
    }
    throw new Error('none of the images could be decoded');
  }

  async function train(): Promise<void> {
    if (!listing) return;
    const l = listing;
    const size = Number(sizeSelect.value);
    const epochs = Math.max(1, Math.floor(Number(epochsInput.value) || 1));
    const backend = tf.getBackend();
    model?.dispose();
    model = null;
    losses.length = 0;
    reconstructions = 0;
    downloadButton.disabled = true;
    controller = new AbortController();
    const signal = controller.signal;
    let preview: tf.Tensor4D | null = null;
    try {
      // 32 px in 4 px patches or 64 px in 8 px patches: 64 patches either way.
      const m = maeVitTinyPatch4({ imgSize: size, patchSize: size / 8, inChans: 3 });
      model = m;
      const batchSize = Math.min(Math.max(1, Math.floor(Number(batchInput.value) || 16)), l.paths.length);
      const data = imageFilesSource(l, { batchSize, size, seed: 0, onBadFile: noteBad });
      preview = await previewImages(l, size);
      await drawReconstruction(m, preview);
      const steps = epochs * data.batchesPerEpoch;
      setStatus(`Training on ${backend}: ${epochs} epochs of ${data.batchesPerEpoch} batches of ${batchSize} images…`);
      const p = preview;
      const result = await pretrain(m, data, {
        epochs,
        lr: LR,
        seed: 0,
        progress: false,
        signal,
        onStep: async (info) => {
          losses.push(info.loss);
          drawLoss();
          read = data.summary().read;
          setStatus(`Step ${info.step + 1} of ${steps} on ${backend}: loss ${info.loss.toFixed(4)}, ${info.imagesPerSec.toFixed(1)} images/s.`);
          if (tf.getBackend() !== backend) {
            controller?.abort();
            setStatus(`The page switched to ${tf.getBackend()}: training (on ${backend}) stopped.`, true);
            return;
          }
          if ((info.step + 1) % RECON_EVERY === 0) await drawReconstruction(m, p);
        },
      });
      await drawReconstruction(m, p);
      const s = data.summary();
      read = s.read;
      trainedOn = backend;
      downloadButton.disabled = false;
      setStatus(
        `${result.stopped ? 'Stopped' : 'Done'} after ${losses.length} steps on ${backend} (${result.seconds.toFixed(1)} s): ` +
          `last loss ${losses[losses.length - 1]?.toFixed(4) ?? '–'}; ${s.read} images read, ${s.skipped} bad file${s.skipped === 1 ? '' : 's'} skipped.`,
      );
    } catch (err) {
      setStatus(`Training failed: ${(err as Error).message}`, true);
      throw err;
    } finally {
      preview?.dispose();
      controller = null;
    }
  }

  function startTraining(): Promise<void> {
    if (training) return training;
    trainButton.disabled = true;
    stopButton.disabled = false;
    training = train()
      .catch(() => undefined)
      .finally(() => {
        training = null;
        trainButton.disabled = listing === null;
        stopButton.disabled = true;
      });
    return training;
  }

  trainButton.addEventListener('click', () => void startTraining());
  stopButton.addEventListener('click', () => controller?.abort());

  /** The trained weights: safetensors, official names, the model config in `__metadata__.config`. */
  async function weightsFile(): Promise<Uint8Array> {
    if (!model) throw new Error('no trained model');
    const recipe = { source: 'tfjs-mae browser demo', mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD], maskRatio: MASK_RATIO, steps: losses.length, backend: trainedOn };
    return saveWeights(model, { metadata: { recipe: JSON.stringify(recipe) } });
  }

  downloadButton.addEventListener('click', () => {
    void weightsFile().then(
      (bytes) => {
        const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
        const a = document.createElement('a');
        a.href = url;
        a.download = `mae-own-images-${Number(sizeSelect.value)}px.safetensors`;
        a.click();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
      },
      (err: Error) => setStatus(`Download failed: ${err.message}`, true),
    );
  });

  /** The test API of the end-to-end suite. */
  const api = {
    /** What the panel shows: images listed, bad files, loss points, reconstructions drawn, images read. */
    state: () => ({
      listed: listing?.paths.length ?? 0,
      classes: listing?.classes ?? [],
      bad: bad.map((b) => ({ ...b })),
      losses: [...losses],
      reconstructions,
      read,
      training: training !== null,
      backend: trainedOn,
    }),
    /** Resolves when no training runs. */
    idle: async (): Promise<void> => {
      while (training) await training;
    },
  };
  (window as unknown as { __maeOwn: typeof api }).__maeOwn = api;
}

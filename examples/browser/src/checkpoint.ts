/**
 * The page's "bring your own checkpoint" section: the user gives a weights
 * file (or an HF folder) and a photo, by the file pickers or by dropping
 * them; the checkpoint is read by ranges from the `File` (never whole), the
 * model is built on the page's current backend, and the four panels are drawn
 * at 224 px. `window.__maeCheckpoint` is its test API.
 *
 * The model lives on the backend it was loaded on: after a backend switch it
 * is loaded again from the same files (tfjs would otherwise move its tensors
 * by reading them synchronously, which webgpu cannot do).
 */
import * as tf from '@tensorflow/tfjs-core';
import { blobSource, countingSource, toCanvas, type MaskedAutoencoder, type ReconstructionRow } from '../../../src';
import {
  INPUT_SIZE,
  PANELS,
  loadCheckpoint,
  photoTensor,
  reconstruct,
  type OpenedCheckpoint,
  type Reconstruction,
} from './checkpointModel';
import { dropZone } from './dropZone';
import { $ } from './dom';

/** What the page around this section lends it. */
export interface PageHooks {
  /** Resolves once the page has chosen its first backend. */
  ready: Promise<void>;
  /** Resolves when no backend switch or forward pass of the page is pending. */
  idle(): Promise<void>;
}

const MASK_RATIO = 0.75;
const WEIGHTS_FILE = /\.(safetensors|pth|pt|bin|ckpt)$/i;
const PHOTO_FILE = /\.(jpe?g|png|webp|gif|bmp|avif)$/i;
/** In an HF folder, the weights file to take, in order (as `fromPretrained`). */
const FOLDER_WEIGHTS = ['model.safetensors', 'pytorch_model.bin'];

interface Chosen {
  weights?: File;
  config?: File;
  photo?: File;
}

/** A model loaded from `chosen.weights` on `backend`. */
interface Loaded {
  model: MaskedAutoencoder;
  opened: OpenedCheckpoint;
  backend: string;
  weights: File;
  config?: File;
  loadMs: number;
  bytesRead: number;
}

/** What the test API reports. */
export interface CheckpointState {
  progress: { loaded: number; total: number; done: boolean };
  /** The model found ("ViT-B/16 MAE at 224×224 px, 112 M parameters; config inferred from names and shapes"). */
  description?: string;
  backend?: string;
  loadMs?: number;
  /** Where the load time went: reading the header and deciding the model; building it (random init); reading the weights into it. */
  phases?: { headerMs: number; buildMs: number; weightsMs: number };
  /** The last error shown, if the last operation failed. */
  error?: string;
  /** The last reconstruction, when the panels are on screen. */
  last?: Omit<Reconstruction, 'panels'> & { seed: number; panelSizes: Array<[number, number]> };
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Sorts the given files into weights, HF config and photo. A folder's files
 * (`webkitRelativePath` set) may hold anything else (README, other configs):
 * those are skipped; a loose file that is none of the three is an error.
 */
export function sortFiles(files: File[], into: Chosen): Chosen {
  const next = { ...into };
  const inFolder = (f: File): boolean => f.webkitRelativePath !== '' || (f as File & { fromFolder?: boolean }).fromFolder === true;
  const weights = files.filter((f) => WEIGHTS_FILE.test(f.name));
  if (weights.length > 0) {
    const preferred = FOLDER_WEIGHTS.map((n) => weights.find((f) => f.name === n)).find((f) => f !== undefined);
    if (weights.length > 1 && !preferred) throw new Error(`several weights files given (${weights.map((f) => f.name).join(', ')}): give one`);
    next.weights = preferred ?? weights[0];
    next.config = undefined; // a new checkpoint: its config.json, if any, comes with it
  }
  const config = files.find((f) => f.name === 'config.json');
  if (config) next.config = config;
  const photos = files.filter((f) => f.type.startsWith('image/') || PHOTO_FILE.test(f.name));
  if (photos.length > 0) next.photo = photos[0];
  const unknown = files.find((f) => !WEIGHTS_FILE.test(f.name) && f.name !== 'config.json' && !photos.includes(f) && !inFolder(f));
  if (unknown) throw new Error(`${unknown.name}: not a checkpoint (.pth, .safetensors, .bin), an HF config.json or a photo`);
  return next;
}

/** The photo as 224 × 224 RGBA: decoded by the browser and resized plainly (no crop), as the notebook's `img.resize((224, 224))`. */
async function photoPixels(photo: File): Promise<Uint8ClampedArray> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(photo, { resizeWidth: INPUT_SIZE, resizeHeight: INPUT_SIZE, resizeQuality: 'high' });
  } catch {
    throw new Error(`${photo.name}: not an image this browser can decode`);
  }
  const canvas = new OffscreenCanvas(INPUT_SIZE, INPUT_SIZE);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, INPUT_SIZE, INPUT_SIZE).data;
}

/** Wires the section's controls; call once the page has started. */
export function mountCheckpoint(page: PageHooks): void {
  const drop = $<HTMLDivElement>('ckpt-drop');
  const filesInput = $<HTMLInputElement>('ckpt-files');
  const folderInput = $<HTMLInputElement>('ckpt-folder');
  const photoInput = $<HTMLInputElement>('ckpt-photo');
  const newMask = $<HTMLButtonElement>('ckpt-new-mask');
  const progress = $<HTMLProgressElement>('ckpt-progress');
  const progressText = $<HTMLSpanElement>('ckpt-progress-text');
  const status = $<HTMLDivElement>('ckpt-status');

  let chosen: Chosen = {};
  let loaded: Loaded | null = null;
  let seed = 0;
  const state: CheckpointState = { progress: { loaded: 0, total: 0, done: false } };
  let queue: Promise<unknown> = Promise.resolve();

  const setStatus = (text: string, error = false): void => {
    status.textContent = text;
    status.classList.toggle('error', error);
    state.error = error ? text : undefined;
  };
  const showFiles = (): void => {
    $('ckpt-weights-name').textContent = chosen.weights ? `${chosen.weights.name} (${mb(chosen.weights.size)} MB)${chosen.config ? ' + config.json' : ''}` : '–';
    $('ckpt-photo-name').textContent = chosen.photo?.name ?? '–';
  };
  const showProgress = (done: number, total: number): void => {
    // (A .pth's zip directory is read apart from the tensors: the count may pass the size by a few KB.)
    const shown = Math.min(done, total);
    state.progress = { loaded: done, total, done: false };
    progress.max = total || 1;
    progress.value = shown;
    progressText.textContent = `${mb(shown)} of ${mb(total)} MB read (${Math.floor((100 * shown) / (total || 1))} %)`;
  };

  /** Loads the chosen checkpoint on the current backend (disposing the previous model). */
  async function load(weights: File, config: File | undefined): Promise<Loaded> {
    loaded?.model.dispose();
    loaded = null;
    state.description = undefined;
    state.last = undefined;
    state.phases = undefined;
    $('ckpt-model').textContent = '–';
    $('ckpt-summary').replaceChildren();
    const backend = tf.getBackend();
    showProgress(0, weights.size);
    setStatus(`Reading ${weights.name} on ${backend}…`);
    const t0 = performance.now();
    let hfConfig: unknown;
    if (config) {
      try {
        hfConfig = JSON.parse(await config.text());
      } catch {
        throw new Error(`${config.webkitRelativePath || config.name}: not valid JSON (an HF config.json)`);
      }
    }
    let bytesRead = 0;
    const source = countingSource(blobSource(weights), (n, total) => {
      bytesRead = n;
      showProgress(n, total);
    });
    let tHeader = t0;
    let tBuilt = t0;
    const { model, report, opened } = await loadCheckpoint(source, hfConfig, {
      onOpened: (o) => {
        tHeader = performance.now();
        state.description = o.description;
        $('ckpt-model').textContent = o.description;
        setStatus(`Building ${o.description.split(';')[0]} on ${backend} and loading its weights…`);
      },
      onBuilt: () => (tBuilt = performance.now()),
    });
    if (tf.getBackend() !== backend) {
      model.dispose();
      throw new Error(`the backend changed from ${backend} to ${tf.getBackend()} while ${weights.name} was loading: load it again`);
    }
    const loadMs = performance.now() - t0;
    state.phases = { headerMs: tHeader - t0, buildMs: tBuilt - tHeader, weightsMs: performance.now() - tBuilt };
    // Done: every weight is in the model.
    state.progress = { loaded: bytesRead, total: weights.size, done: true };
    progress.value = progress.max;
    progressText.textContent = `100 %: ${mb(weights.size)} MB in ${(loadMs / 1000).toFixed(1)} s (header ${sec(state.phases.headerMs)}, model built ${sec(state.phases.buildMs)}, weights ${sec(state.phases.weightsMs)})`;
    $('ckpt-summary').replaceChildren(
      ...report.summary.map((line) => {
        const li = document.createElement('li');
        li.textContent = line;
        return li;
      }),
    );
    state.loadMs = loadMs;
    return { model, opened, backend, weights, config, loadMs, bytesRead };
  }

  /** The four panels of the chosen photo, loading (or reloading, after a backend switch) first. */
  async function run(): Promise<void> {
    const { weights, config, photo } = chosen;
    if (!weights) {
      setStatus(photo ? 'Now give a checkpoint (.pth, .safetensors or an HF folder).' : 'Give a checkpoint and a photo.');
      return;
    }
    await page.ready;
    await page.idle();
    if (!loaded || loaded.weights !== weights || loaded.config !== config || loaded.backend !== tf.getBackend()) {
      if (loaded && loaded.weights === weights && loaded.backend !== tf.getBackend()) setStatus(`Backend is now ${tf.getBackend()}: loading ${weights.name} again…`);
      loaded = await load(weights, config);
    }
    state.backend = loaded.backend;
    $('ckpt-backend').textContent = loaded.backend;
    if (!photo) {
      setStatus(`${weights.name} loaded in ${(loaded.loadMs / 1000).toFixed(1)} s. Now give a photo.`);
      return;
    }
    setStatus(`Reconstructing ${photo.name} (mask ratio ${MASK_RATIO}, seed ${seed}) on ${loaded.backend}…`);
    const pixels = await photoPixels(photo);
    const { normalization } = loaded.opened;
    const img = photoTensor(pixels, INPUT_SIZE, normalization);
    let r: Reconstruction;
    try {
      r = await reconstruct(loaded.model, img, seed, MASK_RATIO, normalization);
    } finally {
      img.dispose();
    }
    for (const row of PANELS) toCanvas(r.panels[row], $<HTMLCanvasElement>(`ckpt-${row}`));
    const panelSizes = PANELS.map((row): [number, number] => [r.panels[row].width, r.panels[row].height]);
    state.last = { loss: r.loss, maskedCount: r.maskedCount, numPatches: r.numPatches, forwardMs: r.forwardMs, seed, panelSizes };
    newMask.disabled = false;
    const norm = normalization.from === 'recipe' ? "the file's recipe" : 'ImageNet';
    setStatus(
      `${photo.name}: ${r.maskedCount} of ${r.numPatches} patches removed (seed ${seed}); forward ${(r.forwardMs / 1000).toFixed(2)} s on ${loaded.backend}; ` +
        `loss ${r.loss.toFixed(4)}; normalised with ${norm} mean/std.`,
    );
  }

  /** Runs `run` after whatever is queued, reporting any error (naming the file) in the section. */
  function schedule(): Promise<void> {
    const next = queue.then(run).catch((err: Error) => setStatus(err.message, true));
    queue = next;
    return next;
  }

  function take(files: File[]): void {
    try {
      chosen = sortFiles(files, chosen);
    } catch (err) {
      setStatus((err as Error).message, true);
      return;
    }
    showFiles();
    void schedule();
  }

  filesInput.addEventListener('change', () => take(Array.from(filesInput.files ?? [])));
  folderInput.addEventListener('change', () => take(Array.from(folderInput.files ?? [])));
  photoInput.addEventListener('change', () => take(Array.from(photoInput.files ?? [])));
  newMask.addEventListener('click', () => {
    seed += 1;
    void schedule();
  });
  dropZone(drop, (dropped) =>
    take(
      dropped.map(({ file, inFolder }) => {
        if (inFolder) Object.defineProperty(file, 'fromFolder', { value: true });
        return file;
      }),
    ),
  );

  const api = {
    /** What the section shows. */
    state: (): CheckpointState => JSON.parse(JSON.stringify(state)) as CheckpointState,
    /** Resolves when no load or reconstruction is pending. */
    idle: async (): Promise<void> => {
      for (let q = queue; ; q = queue) {
        await q;
        if (q === queue) return;
      }
    },
    /** The panel names, left to right. */
    panels: (): ReconstructionRow[] => [...PANELS],
  };
  (window as unknown as { __maeCheckpoint: typeof api }).__maeCheckpoint = api;
}

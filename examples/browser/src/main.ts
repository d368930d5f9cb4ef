/** The page: controls → {@link Demo} → canvas; plus `window.__mae` for the end-to-end tests. */
import { BACKENDS, Demo, type BackendName, type Rendered } from './demo';
import { FMNIST_CLASSES } from './model';
import { maxThreads, planWasmThreads, requestedThreads, wasmThreads } from './threads';
import { $ } from './dom';
void import('./ownImages').then((m) => m.mountOwnImages()); // the "train on your own images" panel, a chunk loaded after the demo

const backendSelect = $<HTMLSelectElement>('backend');
const ratioInput = $<HTMLInputElement>('mask-ratio');
const ratioOutput = $<HTMLOutputElement>('mask-ratio-value');
const newMaskButton = $<HTMLButtonElement>('new-mask');
const imagesSelect = $<HTMLSelectElement>('images');
const canvas = $<HTMLCanvasElement>('grid');
const status = $<HTMLDivElement>('status');

const ROWS = ['original', 'masked input', 'reconstruction', 'reconstruction + visible'];
const PER_PAGE = 8;

// Before any backend starts: the wasm backend takes its thread count once.
const threadPlan = planWasmThreads(requestedThreads());
const threadsSelect = $<HTMLSelectElement>('threads');

const demo = new Demo();
let seed = 0;
let last: Rendered | null = null;
let dirty = false;
let running: Promise<void> | null = null;
const forwardTimes: number[] = [];

function setStatus(text: string, error = false): void {
  status.textContent = text;
  status.classList.toggle('error', error);
}

function indices(): number[] {
  const first = Number(imagesSelect.value);
  return Array.from({ length: Math.min(PER_PAGE, demo.numImages - first) }, (_, k) => first + k);
}

function draw(r: Rendered): void {
  const { picture } = r;
  canvas.width = picture.width;
  canvas.height = picture.height;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(picture.data), picture.width, picture.height), 0, 0);
  // Labels aligned with the tiles: 4 rows, one column per image (the grid has equal gaps around tiles).
  const gap = 2;
  const tileH = (picture.height - gap) / ROWS.length;
  const tileW = (picture.width - gap) / r.indices.length;
  $('row-labels').replaceChildren(
    ...ROWS.map((name, i) => {
      const d = document.createElement('div');
      d.textContent = name;
      d.style.height = `${tileH}px`;
      if (i === 0) d.style.marginTop = `${gap / 2}px`;
      return d;
    }),
  );
  $('col-labels').replaceChildren(
    ...r.indices.map((i) => {
      const d = document.createElement('div');
      d.textContent = `#${i} ${FMNIST_CLASSES[demo.labels[i]]}`;
      d.style.width = `${tileW}px`;
      return d;
    }),
  );
  forwardTimes.push(r.forwardMs);
  if (forwardTimes.length > 5) forwardTimes.shift();
  const median = [...forwardTimes].sort((a, b) => a - b)[Math.floor(forwardTimes.length / 2)];
  $('forward-ms').textContent = `${r.forwardMs.toFixed(1)} ms`;
  $('forward-median').textContent = `(${r.indices.length} images; median ${median.toFixed(1)} ms over the last ${forwardTimes.length})`;
  $('backend-name').textContent = r.backend;
  showThreads();
  $('masked-count').textContent = `${r.maskedCount} of ${r.numPatches}`;
  $('loss').textContent = r.loss.toFixed(4);
}

/** Renders now, or once more after the render in flight (slider drags coalesce). */
function requestRender(): Promise<void> {
  dirty = true;
  if (!running) {
    running = (async () => {
      while (dirty) {
        dirty = false;
        try {
          last = await demo.render(indices(), seed, Number(ratioInput.value));
          draw(last);
          setStatus(`Mask seed ${last.seed}, ratio ${last.maskRatio.toFixed(2)}.`);
        } catch (err) {
          setStatus(`Forward failed: ${(err as Error).message}`, true);
        }
      }
      running = null;
    })();
  }
  return running;
}

let switching: Promise<void> | null = null;

/** Resolves when no backend switch or forward pass is pending. */
async function idle(): Promise<void> {
  while (switching || running) await (switching ?? running)?.catch(() => undefined);
}

function switchBackend(name: BackendName): Promise<void> {
  const run = (switching ?? Promise.resolve()).catch(() => undefined).then(() => doSwitch(name));
  const tracked = run.finally(() => {
    if (switching === tracked) switching = null;
  });
  tracked.catch(() => undefined); // the caller handles the error through `run`
  switching = tracked;
  return run;
}

async function doSwitch(name: BackendName): Promise<void> {
  const previous = last?.backend;
  setStatus(`Starting ${name}…`);
  forwardTimes.length = 0;
  try {
    await demo.useBackend(name);
  } catch (err) {
    setStatus(`Backend ${name} failed: ${(err as Error).message}`, true);
    if (previous && previous !== name) {
      backendSelect.value = previous;
      await demo.useBackend(previous as BackendName);
    }
    throw err;
  }
  await requestRender();
}

ratioInput.addEventListener('input', () => {
  ratioOutput.textContent = Number(ratioInput.value).toFixed(2);
  void requestRender();
});
newMaskButton.addEventListener('click', () => {
  seed += 1;
  void requestRender();
});
imagesSelect.addEventListener('change', () => void requestRender());
backendSelect.addEventListener('change', () => void switchBackend(backendSelect.value as BackendName).catch(() => undefined));

function showThreads(): void {
  const running = wasmThreads();
  $('threads-count').textContent = running === undefined ? `${threadPlan.planned} (wasm not started)` : String(running);
  const isolation = threadPlan.isolated ? 'cross-origin isolated' : 'not cross-origin isolated';
  $('threads-note').textContent = `(asked ${threadPlan.requested}; ${threadPlan.cores} logical cores; ${isolation}${threadPlan.note ? `; ${threadPlan.note}` : ''})`;
}

for (let n = 1; n <= Math.max(maxThreads(), threadPlan.planned); n++) threadsSelect.add(new Option(String(n), String(n)));
threadsSelect.value = String(threadPlan.planned);
threadsSelect.addEventListener('change', () => {
  // the wasm backend cannot change its pool once started: reload on wasm with the new count
  const params = new URLSearchParams(location.search);
  params.set('threads', threadsSelect.value);
  params.set('backend', 'wasm');
  location.search = params.toString();
});
showThreads();

if (!('gpu' in navigator)) {
  const option = backendSelect.querySelector<HTMLOptionElement>('option[value="webgpu"]');
  if (option) {
    option.disabled = true;
    option.textContent = 'webgpu (not available)';
  }
}

/** `?backend=wasm` picks the first backend; defaults to the select's (webgl). */
function initialBackend(): BackendName {
  const asked = new URLSearchParams(location.search).get('backend');
  return (BACKENDS as readonly string[]).includes(asked ?? '') ? (asked as BackendName) : (backendSelect.value as BackendName);
}

async function start(): Promise<void> {
  await demo.load();
  const first = initialBackend();
  backendSelect.value = first;
  try {
    await switchBackend(first);
  } catch (err) {
    if (first === 'webgl') throw err;
    backendSelect.value = 'webgl';
    await switchBackend('webgl');
  }
  describeModel();
}

const blocks = (n: number): string => `${n} block${n === 1 ? '' : 's'}`;

function describeModel(): void {
  const c = demo.config;
  if (!c) return;
  const [h, w] = c.imgSize;
  const l = (h / c.patchSize) * (w / c.patchSize);
  $('model-desc').textContent =
    `A tiny MAE pre-trained on Fashion-MNIST: ${h}×${w} images in ${c.patchSize}×${c.patchSize} patches (L = ${l}), ` +
    `encoder ${c.embedDim} wide with ${blocks(c.depth)}, decoder ${c.decoderEmbedDim} wide with ${blocks(c.decoderDepth)}.`;
  $('note').textContent = c.normPixLoss
    ? 'This model predicts per-patch normalised pixels (normPixLoss). The figure de-normalises each prediction with the mean ' +
      'patch mean and variance of the visible patches of the same image (what is known at inference; see docs/visualisation.md). ' +
      'The loss is in per-patch normalised units.'
    : `The loss is the mean squared error over the removed patches, in normalised pixel units ((x/255 − ${demo.spec.mean.toFixed(3)}) / ${demo.spec.std.toFixed(3)}).`;
}

const ready = start();
ready.catch((err: Error) => setStatus(`Failed to start: ${err.message}`, true));

/** The test API of the end-to-end suite. */
const api = {
  /** Resolves once the weights are loaded and the first figure is drawn. */
  ready,
  /** Backends offered by the page. */
  backends: [...BACKENDS],
  /** The active tfjs backend of the last figure. */
  backend: (): string | undefined => last?.backend,
  /** Switches backend (as the select does) and waits for the new figure. */
  setBackend: async (name: BackendName): Promise<string> => {
    backendSelect.value = name;
    await switchBackend(name);
    return last!.backend;
  },
  /** The loss of test image `index` alone, mask drawn from `noiseSeed`. */
  lossFor: (index: number, noiseSeed: number, maskRatio = 0.75): Promise<number> => demo.lossFor(index, noiseSeed, maskRatio),
  /** Patches removed per image in the figure on screen. */
  maskedCount: (): number | undefined => last?.maskedCount,
  /** What the figure on screen came from. */
  last: () => (last ? { ...last, picture: { width: last.picture.width, height: last.picture.height } } : null),
  /** Resolves when no forward pass is pending. */
  idle,
  /** Threads of the wasm backend (`undefined` before it started), and what the page asked for. */
  threads: () => ({ running: wasmThreads(), ...threadPlan }),
};
(window as unknown as { __mae: typeof api }).__mae = api;
void import('./checkpoint').then((m) => m.mountCheckpoint({ ready, idle })); // "bring your own checkpoint" section

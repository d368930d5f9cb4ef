/**
 * End-to-end test of the page's "bring your own checkpoint" section
 * (`npm run test:browser`). In Node it makes MAEs with random (seeded)
 * weights and writes them as users get them:
 *
 * - wasm: a ViT-B/16 MAE as an official-layout `.pth` (`{'model': state_dict}`,
 *   official names; the test-only torch zip writer of test/io/torchBuilders.ts):
 *   config inferred from names and shapes;
 * - webgl: an HF folder, `model.safetensors` with HF names and no stored
 *   config, plus `config.json` (`toHFConfig`): config from config.json. A
 *   small ViT (192 wide) at 224 px: ViT-B's forward pass takes minutes in
 *   SwiftShader's webgl;
 * - an encoder-only `.pth` (as mae_pretrain_vit_*.pth), a corrupt `.pth` and a text file;
 *
 * plus a 224 × 224 PNG photo. Per backend it serves the built page on
 * 127.0.0.1, gives the files to the page's inputs (`setInputFiles`) and
 * checks: load progress reached 100 % (every byte of the file read), the
 * model found (family, parameters, where its config came from), the backend,
 * four 224 × 224 panels equal (±2 levels) to those Node computes on wasm with
 * the same functions, a reconstruction panel that is not blank, and the loss
 * (relative 1e-4). On wasm it also checks the messages for the encoder-only
 * file, the corrupt file and the text file, each naming the file.
 *
 * Screenshots: `test-output/browser/checkpoint-<backend>.png`.
 * Environment: as demo.e2e.ts (`CHROMIUM_PATH`, `MAE_E2E_SKIP_BUILD=1`,
 * `MAE_E2E_BACKENDS=wasm`), plus `MAE_E2E_CKPT_DIR` to keep the generated
 * files in a folder of yours (default: a temporary folder, removed after).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { MaskedAutoencoder, maeVitBasePatch16, modelConfigOf, stateDict, toHFConfig, writeSafetensors, type RgbaImage } from '../../../src';
import { Pickle, makeCheckpoint } from '../../../test/io/torchBuilders';
import { IMAGENET_MEAN, IMAGENET_STD, INPUT_SIZE, PANELS, photoTensor, reconstruct } from '../src/checkpointModel';
import type { CheckpointState } from '../src/checkpoint';
import { CHROMIUM, DIST, SHOTS, buildDemo, canvasPixels, launch } from './chromium';
import { serveStatic, type StaticServer } from './serve';

const BACKENDS = (process.env.MAE_E2E_BACKENDS?.split(',') ?? ['wasm', 'webgl']).filter((b) => b === 'wasm' || b === 'webgl');
/** The page's first figure: mask seed 0 at ratio 0.75. */
const SEED = 0;
const MASK_RATIO = 0.75;
const LOSS_RTOL = 1e-4;

// (`window.__mae`, the page's own test API, is declared in demo.e2e.ts.)
declare global {
  interface Window {
    __maeCheckpoint: { state(): CheckpointState; idle(): Promise<void> };
  }
}

let server: StaticServer;
let dir: string;
/** What one backend's case gives the page, and what Node drew from the same weights. */
interface Case {
  /** The files for `#ckpt-files` (weights last). */
  weights: string[];
  /** The model line the page must show. */
  description: string;
  expected: { panels: Record<string, RgbaImage>; loss: number };
}
const cases: Partial<Record<(typeof BACKENDS)[number], Case>> = {};
const files = { encoderPth: '', brokenPth: '', notes: '', photo: '' };
let picture: RgbaImage;

/** An official-layout torch zip: `{'model': OrderedDict(name → float32 tensor)}`, as the MAE releases. */
async function writeOfficialPth(path: string, tensors: Record<string, tf.Tensor>): Promise<void> {
  const storages: Record<string, Uint8Array> = {};
  const entries: [string, (p: Pickle) => unknown][] = [];
  for (const [k, [name, t]] of Object.entries(tensors).entries()) {
    const data = (await t.data()) as Float32Array;
    storages[String(k)] = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    entries.push([name, (p) => p.tensor({ key: String(k), numel: t.size, size: t.shape })]);
  }
  const pickle = new Pickle().proto().global('collections', 'OrderedDict').op(')').op('R').mark().str('model').stateDict(entries).op('u').stop().bytes();
  await writeFile(path, makeCheckpoint(pickle, storages));
}

/** A 224 × 224 opaque RGBA photo: colour gradients with a few discs (something a reconstruction must work at). */
function photo(): RgbaImage {
  const size = INPUT_SIZE;
  const data = new Uint8ClampedArray(size * size * 4);
  const discs = [[60, 70, 40, [230, 40, 40]], [160, 120, 50, [30, 200, 60]], [100, 180, 30, [40, 60, 220]]] as const;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let rgb = [x, y, 255 - ((x + y) >> 1)];
      for (const [cx, cy, r, c] of discs) if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) rgb = [...c];
      data.set([...rgb, 255], 4 * (y * size + x));
    }
  }
  return { data, width: size, height: size };
}

/** Node's panels of `model` on the photo, with the page's own functions. */
async function nodePanels(model: MaskedAutoencoder): Promise<Case['expected']> {
  const norm = { mean: IMAGENET_MEAN, std: IMAGENET_STD };
  const img = photoTensor(picture.data, INPUT_SIZE, norm);
  try {
    const r = await reconstruct(model, img, SEED, MASK_RATIO, norm);
    return { panels: r.panels, loss: r.loss };
  } finally {
    img.dispose();
  }
}

/** The wasm case: a ViT-B/16 MAE as an official `.pth` (config inferred from names and shapes). */
async function officialPthCase(): Promise<Case> {
  const path = join(dir, 'mae_visualize_vit_base_random.pth');
  const model: MaskedAutoencoder = maeVitBasePatch16({ seed: 16 });
  try {
    const official = stateDict(model.stateEntries());
    try {
      await writeOfficialPth(path, official);
    } finally {
      tf.dispose(Object.values(official));
    }
    const description = 'ViT-B/16 MAE at 224×224 px, 112 M parameters; config inferred from names and shapes';
    return { weights: [path], description, expected: await nodePanels(model) };
  } finally {
    model.dispose();
  }
}

/**
 * The webgl case: an HF folder, `model.safetensors` with HF names and no
 * stored config, plus `config.json` (`toHFConfig`). ViT-B's forward takes
 * minutes in SwiftShader's webgl, so this one is a small ViT (192 wide, 4
 * blocks; decoder 128 wide, 2 blocks) at 224 px, patch 16.
 */
async function hfFolderCase(): Promise<Case> {
  await mkdir(join(dir, 'vit-mae-small'), { recursive: true });
  const weights = join(dir, 'vit-mae-small', 'model.safetensors');
  const config = join(dir, 'vit-mae-small', 'config.json');
  const model = new MaskedAutoencoder({ imgSize: 224, patchSize: 16, embedDim: 192, depth: 4, numHeads: 3, decoderEmbedDim: 128, decoderDepth: 2, decoderNumHeads: 4, seed: 16 });
  try {
    const hf = stateDict(model.stateEntries(), { naming: 'hf' });
    try {
      await writeFile(weights, await writeSafetensors(hf, { format: 'pt' })); // no stored config: config.json decides
    } finally {
      tf.dispose(Object.values(hf));
    }
    await writeFile(config, JSON.stringify(toHFConfig(modelConfigOf(model)), null, 2));
    const description = 'ViT-Ti/16 MAE at 224×224 px, 2.5 M parameters; config from config.json';
    return { weights: [config, weights], description, expected: await nodePanels(model) };
  } finally {
    model.dispose();
  }
}

/** The photo, the files that cannot reconstruct, and each backend's case. */
async function makeFiles(): Promise<void> {
  await tf.setBackend('wasm');
  dir = process.env.MAE_E2E_CKPT_DIR ?? (await mkdtemp(join(tmpdir(), 'tfjs-mae-ckpt-')));
  await mkdir(dir, { recursive: true });
  picture = photo();
  files.photo = join(dir, 'photo.png');
  await writeFile(files.photo, PNG.sync.write({ width: picture.width, height: picture.height, data: Buffer.from(picture.data) } as PNG));
  // An encoder-only file as mae_pretrain_vit_*.pth (small: only its header is read).
  files.encoderPth = join(dir, 'mae_pretrain_vit_small_random.pth');
  const encoder = new MaskedAutoencoder({ imgSize: 224, patchSize: 16, embedDim: 384, depth: 1, numHeads: 6, decoderEmbedDim: 64, decoderDepth: 1, decoderNumHeads: 4, seed: 1 });
  try {
    const dict = stateDict(encoder.stateEntries());
    try {
      await writeOfficialPth(files.encoderPth, Object.fromEntries(Object.entries(dict).filter(([n]) => !/^(decoder_|mask_token$)/.test(n))));
    } finally {
      tf.dispose(Object.values(dict));
    }
  } finally {
    encoder.dispose();
  }
  files.brokenPth = join(dir, 'broken.pth');
  await writeFile(files.brokenPth, new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5, 6, 7, 8])); // a zip signature, then nothing
  files.notes = join(dir, 'notes.txt');
  await writeFile(files.notes, 'not weights\n');
  if (BACKENDS.includes('wasm')) cases.wasm = await officialPthCase();
  if (BACKENDS.includes('webgl')) cases.webgl = await hfFolderCase();
}

/** Standard deviation of the red, green and blue values of a picture. */
function std(px: { data: ArrayLike<number> }): number {
  const values: number[] = [];
  for (let i = 0; i < px.data.length; i++) if (i % 4 !== 3) values.push(px.data[i]);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

/** Gives files to input `#id` and waits until the section has finished with them. */
async function give(page: Page, id: string, paths: string[]): Promise<CheckpointState> {
  await page.setInputFiles(`#${id}`, paths);
  await page.evaluate(() => window.__maeCheckpoint.idle());
  return page.evaluate(() => window.__maeCheckpoint.state());
}

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/ensure-chromium.sh (apt-get install chromium)`);
  const t0 = Date.now();
  await buildDemo();
  const t1 = Date.now();
  await makeFiles();
  console.log(`# page built in ${((t1 - t0) / 1000).toFixed(1)} s; files and Node's panels made in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  server = await serveStatic(DIST);
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  await server?.close();
  if (dir && process.env.MAE_E2E_CKPT_DIR === undefined) await rm(dir, { recursive: true, force: true });
});

for (const backend of BACKENDS) {
  const what = backend === 'wasm' ? 'ViT-B/16 official .pth' : 'small ViT HF folder (model.safetensors + config.json)';
  test(`bring your own checkpoint on ${backend}: ${what}`, async (t) => {
    const c = cases[backend]!;
    const t0 = Date.now();
    const lap = (what: string) => t.diagnostic(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const { page, close } = await launch([], { width: 1100, height: 1400 });
    try {
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${server.url}?backend=${backend}`);
      await page.evaluate(() => window.__mae.ready);
      await page.waitForFunction(() => window.__maeCheckpoint !== undefined);
      assert.equal(await page.evaluate(() => window.__mae.backend()), backend);
      lap('page ready');

      const size = (await stat(c.weights[c.weights.length - 1])).size;
      let state = await give(page, 'ckpt-files', c.weights);
      assert.equal(state.error, undefined, `loading failed: ${state.error}`);
      lap(`checkpoint loaded (${(size / 1e6).toFixed(1)} MB, page says ${((state.loadMs ?? NaN) / 1000).toFixed(1)} s)`);
      // Progress: done, over the whole file, shown as 100 %.
      assert.equal(state.progress.done, true);
      assert.equal(state.progress.total, size);
      t.diagnostic(`bytes read: ${state.progress.loaded} of ${size}`);
      assert.ok(state.progress.loaded >= size, `read ${state.progress.loaded} of ${size} bytes`); // every byte (a .pth's zip directory twice)
      assert.equal(await page.evaluate(() => (document.getElementById('ckpt-progress') as HTMLProgressElement).position), 1);
      assert.match((await page.textContent('#ckpt-progress-text')) ?? '', /^100 %/);
      // The model found, and where its config came from; the backend.
      t.diagnostic(`model: ${state.description}`);
      assert.equal(state.description, c.description);
      assert.equal(await page.textContent('#ckpt-model'), state.description);
      assert.equal(await page.textContent('#ckpt-backend'), backend);

      state = await give(page, 'ckpt-photo', [files.photo]);
      assert.equal(state.error, undefined, `reconstruction failed: ${state.error}`);
      lap(`panels drawn (forward ${((state.last?.forwardMs ?? NaN) / 1000).toFixed(2)} s)`);
      assert.deepEqual(state.last?.panelSizes, PANELS.map(() => [INPUT_SIZE, INPUT_SIZE]));
      assert.equal(state.backend, backend);
      assert.equal(state.last?.maskedCount, 147); // 196 − trunc(196 · 0.25)
      const rel = Math.abs((state.last?.loss ?? NaN) - c.expected.loss) / Math.abs(c.expected.loss);
      t.diagnostic(`loss ${state.last?.loss} vs Node ${c.expected.loss} (rel ${rel.toExponential(2)})`);
      assert.ok(rel <= LOSS_RTOL, `loss ${state.last?.loss} differs from Node's ${c.expected.loss}`);
      for (const row of PANELS) {
        const px = await canvasPixels(page, `ckpt-${row}`);
        assert.equal(px.width, INPUT_SIZE);
        assert.equal(px.height, INPUT_SIZE);
        const want = c.expected.panels[row].data;
        let worst = 0;
        let off = 0;
        for (let i = 0; i < px.data.length; i++) {
          const d = Math.abs(px.data[i] - want[i]);
          worst = Math.max(worst, d);
          if (d > 2) off++;
        }
        t.diagnostic(`${row}: max |Δ| ${worst} levels vs Node, ${off} values off by > 2; std ${std(px).toFixed(1)}`);
        assert.equal(off, 0, `${row} panel differs from Node's: ${off} values off by more than 2 levels (max ${worst})`);
        if (row === 'reconstruction') assert.ok(std(px) > 10, `the reconstruction panel looks blank (std ${std(px)})`);
      }
      await page.locator('#ckpt').screenshot({ path: join(SHOTS, `checkpoint-${backend}.png`) });

      if (backend === 'wasm') {
        // Files that cannot reconstruct: said in the page, naming the file.
        state = await give(page, 'ckpt-files', [files.encoderPth]);
        assert.match(state.error ?? '', /^mae_pretrain_vit_small_random\.pth holds an MAE encoder only .*it has no decoder/);
        state = await give(page, 'ckpt-files', [files.brokenPth]);
        assert.match(state.error ?? '', /^broken\.pth: /);
        t.diagnostic(`corrupt file: ${state.error}`);
        state = await give(page, 'ckpt-files', [files.notes]);
        assert.match(state.error ?? '', /^notes\.txt: not a checkpoint/);
      }
      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
      lap('done');
    } finally {
      await close();
    }
  });
}

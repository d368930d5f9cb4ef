/**
 * End-to-end test of the browser demo (`npm run test:browser`): builds the
 * page with Vite, serves `dist/` on 127.0.0.1, drives Debian's Chromium
 * headless through playwright-core (never a downloaded browser) and checks,
 * per backend (webgl, wasm, cpu; webgpu when Chromium starts it with
 * `--enable-unsafe-webgpu`, otherwise skipped with the reason):
 *
 * - the figure on the canvas equals, pixel for pixel (±2 levels), the one Node
 *   computes with the same weights, images and mask seed on the cpu backend;
 * - the loss of a fixed image with fixed mask noise equals Node's to 1e-4;
 * - the mask-ratio slider changes the number of masked patches; "New mask"
 *   draws another mask; the backend select switches backend (wasm case);
 * - the page is cross-origin isolated, and `?threads=2` runs wasm on 2
 *   threads (the same losses as Node's).
 *
 * Screenshots: `test-output/browser/<backend>.png`.
 * Environment: `CHROMIUM_PATH` (default `/usr/bin/chromium`),
 * `MAE_E2E_SKIP_BUILD=1` to reuse an existing `examples/browser/dist`,
 * `MAE_E2E_BACKENDS=webgl,wasm` to run some backends only.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { lenKeepFor } from '../../../src';
import { readIdx } from '../../../src/data/idx';
import type { RgbaImage } from '../../../src/viz/reconstruction';
import * as fmnist from '../../common/fashionMnist';
import { FMNIST_MEAN, FMNIST_STD, buildModel, figure, imageBatch, lossOf, type DemoModelSpec } from '../src/model';
import type { MaskedAutoencoder } from '../../../src';
import { serveStatic, type StaticServer } from './serve';
import { CHROMIUM, DIST, REPO, buildDemo, launch } from './chromium';

const SHOTS = join(REPO, 'test-output', 'browser');
const ALL_BACKENDS = ['webgl', 'wasm', 'cpu', 'webgpu'] as const;
const BACKENDS = (process.env.MAE_E2E_BACKENDS?.split(',') ?? ALL_BACKENDS).filter((b) => b !== '');

/** The figure the page draws first: images 0–7, mask seed 0, ratio 0.75 (its defaults). */
const FIGURE = { indices: [0, 1, 2, 3, 4, 5, 6, 7], seed: 0, maskRatio: 0.75 };
/** Fixed image + fixed noise cases of the loss check. */
const LOSS_CASES = [
  { index: 3, seed: 1234, maskRatio: 0.75 },
  { index: 12, seed: 7, maskRatio: 0.5 },
];
const LOSS_ATOL = 1e-4;

type MaeApi = {
  ready: Promise<void>;
  backend(): string | undefined;
  lossFor(index: number, seed: number, maskRatio?: number): Promise<number>;
  maskedCount(): number | undefined;
  last(): { seed: number; maskRatio: number; numPatches: number; forwardMs: number; backend: string } | null;
  idle(): Promise<void>;
  threads(): { running?: number; requested: number; planned: number; cores: number; isolated: boolean; note: string };
};
declare global {
  interface Window {
    __mae: MaeApi;
  }
}

let server: StaticServer;
let numPatches = 0;
let expectedLosses: number[] = [];
let expectedFigure: RgbaImage;

/** The expected numbers, from the built files (the bytes the page fetches), on Node's cpu backend. */
async function expectations(): Promise<void> {
  await tf.setBackend('cpu');
  const weights = new Uint8Array(await readFile(join(DIST, 'weights', 'mae-fmnist-tiny.safetensors')));
  const pixels = (await readIdx(new Uint8Array(await readFile(join(DIST, 'data', 'fmnist-test-16-images.idx'))))).data as Uint8Array;
  const { model, spec } = buildModel(weights);
  try {
    numPatches = model.numPatches;
    expectedLosses = [];
    for (const c of LOSS_CASES) expectedLosses.push(await lossOf(model, pixels, c.index, c.seed, c.maskRatio, spec));
    expectedFigure = await nodeFigure(model, pixels, spec);
  } finally {
    model.dispose();
  }
}

async function nodeFigure(model: MaskedAutoencoder, pixels: Uint8Array, spec: DemoModelSpec): Promise<RgbaImage> {
  const imgs = imageBatch(pixels, FIGURE.indices, spec);
  const out = model.forward(imgs, { seed: FIGURE.seed, maskRatio: FIGURE.maskRatio });
  try {
    return await figure(model, imgs, out.pred, out.mask, spec);
  } finally {
    tf.dispose([imgs, out.loss, out.pred, out.mask, out.idsRestore, out.idsKeep, out.latent]);
  }
}

/** The canvas pixels (RGBA) of the page's figure. */
async function canvasPixels(page: Page): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { width, height, base64 } = await page.evaluate(() => {
    const c = document.getElementById('grid') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let binary = '';
    for (let i = 0; i < d.length; i += 0x8000) binary += String.fromCharCode(...d.subarray(i, i + 0x8000));
    return { width: c.width, height: c.height, base64: btoa(binary) };
  });
  return { width, height, data: new Uint8Array(Buffer.from(base64, 'base64')) };
}

/** Standard deviation of the grey values inside the tiles (gaps excluded) of figure row `row` (of 4). */
function rowStd(px: { width: number; height: number; data: ArrayLike<number> }, row: number): number {
  const gap = 2;
  const rowPitch = (px.height - gap) / 4; // tile height + gap
  const colPitch = (px.width - gap) / FIGURE.indices.length; // tile width + gap
  const values: number[] = [];
  for (let y = gap + row * rowPitch; y < (row + 1) * rowPitch; y++) {
    for (let x = gap; x < px.width; x++) {
      if ((x - gap) % colPitch < colPitch - gap) values.push(px.data[4 * (y * px.width + x)]);
    }
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/ensure-chromium.sh (apt-get install chromium)`);
  await buildDemo();
  await expectations();
  server = await serveStatic(DIST);
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  await server?.close();
});

test('the page and Node agree on the Fashion-MNIST statistics', () => {
  assert.equal(FMNIST_MEAN, fmnist.FMNIST_MEAN);
  assert.equal(FMNIST_STD, fmnist.FMNIST_STD);
});

for (const backend of BACKENDS) {
  test(`demo on ${backend}`, async (t) => {
    const t0 = Date.now();
    const lap = (what: string) => t.diagnostic(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const { page, close } = await launch(backend === 'webgpu' ? ['--enable-unsafe-webgpu'] : []);
    try {
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      // The wasm case starts on the default backend and switches with the select, as a user would.
      const viaSelect = backend === 'wasm';
      await page.goto(viaSelect ? server.url : `${server.url}?backend=${backend}`);
      await page.evaluate(() => window.__mae.ready);
      if (viaSelect) {
        await page.selectOption('#backend', backend);
        await page.waitForFunction((b) => window.__mae.backend() === b, backend);
        await page.evaluate(() => window.__mae.idle());
      }
      lap('page ready');
      const active = await page.evaluate(() => window.__mae.backend());
      if (backend === 'webgpu' && active !== 'webgpu') {
        const why = await page.textContent('#status');
        t.skip(`webgpu did not start in this Chromium (${why?.trim()}); page fell back to ${active}`);
        return;
      }
      assert.equal(active, backend);

      // 1. The figure: the same pixels as Node's, and not blank.
      const px = await canvasPixels(page);
      assert.equal(px.width, expectedFigure.width);
      assert.equal(px.height, expectedFigure.height);
      let worst = 0;
      let off = 0;
      for (let i = 0; i < px.data.length; i++) {
        const d = Math.abs(px.data[i] - expectedFigure.data[i]);
        worst = Math.max(worst, d);
        if (d > 2) off++;
      }
      t.diagnostic(`figure ${px.width}×${px.height}: max |Δ| ${worst} levels, ${off} values off by > 2`);
      assert.equal(off, 0, `figure differs from Node's: ${off} values off by more than 2 levels (max ${worst})`);
      const stds = [0, 1, 2, 3].map((r) => rowStd(px, r));
      t.diagnostic(`row std (grey levels): ${stds.map((s) => s.toFixed(1)).join(', ')}`);
      assert.ok(stds[2] > 10, `reconstruction row looks blank (std ${stds[2]})`);
      await page.screenshot({ path: join(SHOTS, `${backend}.png`), fullPage: true });

      lap('figure checked');
      // 2. The loss on a fixed image with fixed noise equals Node's.
      for (let k = 0; k < LOSS_CASES.length; k++) {
        const c = LOSS_CASES[k];
        const got = await page.evaluate(([i, s, r]) => window.__mae.lossFor(i, s, r), [c.index, c.seed, c.maskRatio] as const);
        const diff = Math.abs(got - expectedLosses[k]);
        t.diagnostic(`loss image ${c.index} seed ${c.seed} ratio ${c.maskRatio}: ${got} vs Node ${expectedLosses[k]} (|Δ| ${diff.toExponential(2)})`);
        assert.ok(diff <= LOSS_ATOL, `loss ${got} differs from Node's ${expectedLosses[k]} by ${diff} > ${LOSS_ATOL}`);
      }

      lap('losses checked');
      // 3. The slider changes the number of masked patches.
      assert.equal(await page.evaluate(() => window.__mae.maskedCount()), numPatches - lenKeepFor(numPatches, 0.75));
      for (const ratio of [0.5, 0.9, 0]) {
        await page.locator('#mask-ratio').fill(String(ratio));
        await page.evaluate(() => window.__mae.idle());
        const expected = numPatches - lenKeepFor(numPatches, ratio);
        assert.equal(await page.evaluate(() => window.__mae.maskedCount()), expected, `masked patches at ratio ${ratio}`);
        assert.equal(await page.textContent('#masked-count'), `${expected} of ${numPatches}`);
      }
      await page.locator('#mask-ratio').fill('0.75');
      await page.evaluate(() => window.__mae.idle());

      lap('slider checked');
      // 4. "New mask" draws another mask.
      const before = await canvasPixels(page);
      await page.click('#new-mask');
      await page.evaluate(() => window.__mae.idle());
      assert.equal((await page.evaluate(() => window.__mae.last()))?.seed, 1);
      const afterClick = await canvasPixels(page);
      assert.ok(!Buffer.from(afterClick.data).equals(Buffer.from(before.data)), 'the figure did not change after "New mask"');
      const ms = (await page.evaluate(() => window.__mae.last()))?.forwardMs ?? NaN;
      t.diagnostic(`forward of 8 images on ${backend}: ${ms.toFixed(1)} ms (${await page.textContent('#forward-ms')})`);
      assert.ok(Number.isFinite(ms) && ms > 0);
      await page.screenshot({ path: join(SHOTS, `${backend}-new-mask.png`), fullPage: true });

      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
    } finally {
      await close();
    }
  });
}

if (BACKENDS.includes('wasm')) {
  test('wasm on 2 threads in a cross-origin isolated page', async (t) => {
    const { page, close } = await launch([]);
    try {
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${server.url}?backend=wasm&threads=2`);
      await page.evaluate(() => window.__mae.ready);
      assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'the page is not cross-origin isolated');
      assert.equal(await page.evaluate(() => window.__mae.backend()), 'wasm');
      const threads = await page.evaluate(() => window.__mae.threads());
      t.diagnostic(`threads: ${JSON.stringify(threads)}; shown: ${await page.textContent('#threads-count')}`);
      assert.equal(threads.running, Math.min(2, threads.cores), 'wasm threads running');
      for (let k = 0; k < LOSS_CASES.length; k++) {
        const c = LOSS_CASES[k];
        const got = await page.evaluate(([i, s, r]) => window.__mae.lossFor(i, s, r), [c.index, c.seed, c.maskRatio] as const);
        assert.ok(Math.abs(got - expectedLosses[k]) <= LOSS_ATOL, `loss ${got} on ${threads.running} threads differs from Node's ${expectedLosses[k]}`);
      }
      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
    } finally {
      await close();
    }
  });
}

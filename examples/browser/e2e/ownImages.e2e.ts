/**
 * End-to-end test of the demo's "train on your own images" panel (part of
 * `npm run test:browser`): writes a folder of 24 small PNG and JPEG images in
 * two class subfolders, plus a broken PNG, an empty JPEG and a text file;
 * picks it with the panel's `<input webkitdirectory>` through playwright's
 * `setInputFiles` (plus a PNG header claiming 100000 × 100000 pixels);
 * pre-trains a few steps in headless Chromium on each
 * backend; and checks that the loss curve has a point per step, that
 * reconstructions were drawn, that the bad files are named in the page, and
 * that "Download weights" gives a safetensors file whose metadata carries
 * the model config, from which the library rebuilds the model in Node.
 *
 * Environment: `MAE_E2E_OWN_BACKENDS` (default `wasm`; `wasm,webgl` adds
 * webgl, whose SwiftShader shader compiles take over a minute for the 6
 * steps on this 2-core machine), plus those of demo.e2e.ts
 * (`CHROMIUM_PATH`, `MAE_E2E_SKIP_BUILD=1`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { MaskedAutoencoder, parseSafetensors, readStoredConfig } from '../../../src';
import { serveStatic, type StaticServer } from './serve';
import { CHROMIUM, REPO, buildDemo, launch } from './chromium';

const SHOTS = join(REPO, 'test-output', 'browser');
const BACKENDS = (process.env.MAE_E2E_OWN_BACKENDS ?? 'wasm').split(',').filter((b) => b !== '');
const PER_CLASS = 12;
const BATCH = 8;
const EPOCHS = 2;
/** The images, the broken PNG and the bomb (both sniff as PNG: found bad when decoded). */
const LISTED = 2 * PER_CLASS + 2;

type OwnState = {
  listed: number;
  classes: string[];
  bad: { path: string; reason: string; kind: string }[];
  losses: number[];
  reconstructions: number;
  read: number;
  training: boolean;
  backend: string;
};
declare global {
  interface Window {
    __maeOwn: { state(): OwnState; idle(): Promise<void> };
  }
}

let server: StaticServer;
let folder: string;

/** `size × size` RGB: class 0 a disc on a gradient, class 1 stripes, both varied by `k`. */
function picture(cls: number, k: number, width: number, height: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const on = cls === 0 ? (x - width / 2) ** 2 + (y - height / 2) ** 2 < (width / (3 + (k % 3))) ** 2 : Math.floor((x + y + k) / (4 + (k % 4))) % 2 === 0;
      const at = 3 * (y * width + x);
      px[at] = on ? 220 : (x * 255) / width;
      px[at + 1] = on ? 40 + 10 * k : (y * 255) / height;
      px[at + 2] = cls === 0 ? 90 : 200;
    }
  }
  return px;
}

/** A PNG signature and an IHDR claiming 100000 × 100000 RGB pixels: a decompression bomb. */
function bombPng(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(100000, 0);
  ihdr.writeUInt32BE(100000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const body = Buffer.concat([Buffer.from('IHDR', 'ascii'), ihdr]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), len, body, crc]);
}

/** The folder: `shapes/disc/*.png|jpg`, `shapes/stripes/*`, and `disc/broken.png` (PNG signature, then garbage), `stripes/bomb.png`, `stripes/empty.jpg`, `stripes/notes.txt`. */
async function writeFolder(root: string): Promise<void> {
  const classes = ['disc', 'stripes'];
  for (const [cls, name] of classes.entries()) {
    await mkdir(join(root, name), { recursive: true });
    for (let k = 0; k < PER_CLASS; k++) {
      const width = 40 + 4 * k;
      const height = 48 + 3 * ((k * 5) % 7);
      const img = sharp(picture(cls, k, width, height), { raw: { width, height, channels: 3 } });
      if (k % 2 === 0) await img.png().toFile(join(root, name, `${k}.png`));
      else await img.jpeg({ quality: 90 }).toFile(join(root, name, `${k}.jpg`));
    }
  }
  await writeFile(join(root, 'disc', 'broken.png'), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200, 7)]));
  await writeFile(join(root, 'stripes', 'bomb.png'), bombPng());
  await writeFile(join(root, 'stripes', 'empty.jpg'), Buffer.alloc(0));
  await writeFile(join(root, 'stripes', 'notes.txt'), 'not an image\n');
}

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/ensure-chromium.sh (apt-get install chromium)`);
  await tf.setBackend('cpu');
  const tmp = await mkdtemp(join(tmpdir(), 'tfjs-mae-own-'));
  folder = join(tmp, 'shapes');
  await writeFolder(folder);
  await buildDemo();
  server = await serveStatic(join(REPO, 'examples', 'browser', 'dist'));
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  await server?.close();
  if (folder) await rm(join(folder, '..'), { recursive: true, force: true });
});

for (const backend of BACKENDS) {
  test(`train on your own images on ${backend}`, async (t) => {
    const t0 = Date.now();
    const lap = (what: string) => t.diagnostic(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const { page, close } = await launch(backend === 'webgpu' ? ['--enable-unsafe-webgpu'] : []);
    try {
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${server.url}?backend=${backend}`);
      await page.evaluate(() => window.__mae.ready);
      assert.equal(await page.evaluate(() => window.__mae.backend()), backend);
      await page.waitForFunction(() => window.__maeOwn !== undefined);
      lap('page ready');

      // Pick the folder: a directory input takes the folder itself.
      await page.locator('#own-folder').setInputFiles(folder);
      await page.waitForFunction(() => window.__maeOwn.state().listed > 0);
      const listed = await page.evaluate(() => window.__maeOwn.state());
      t.diagnostic(`listed: ${listed.listed} images, classes ${listed.classes.join(', ')}; bad: ${JSON.stringify(listed.bad)}`);
      // every image, broken.png and bomb.png (their first bytes are PNG's: found bad when decoded); not the .txt nor the empty file
      assert.equal(listed.listed, LISTED);
      assert.deepEqual(listed.classes, ['disc', 'stripes']);
      assert.deepEqual(
        listed.bad.map((b) => [b.path, b.kind]),
        [['shapes/stripes/empty.jpg', 'empty']],
      );
      assert.match((await page.textContent('#own-files')) ?? '', /26 images in 2 classes \(disc, stripes\)/);

      // Train a few steps on the page's backend.
      await page.locator('#own-batch').fill(String(BATCH));
      await page.locator('#own-epochs').fill(String(EPOCHS));
      await page.click('#own-train');
      await page.waitForFunction(() => window.__maeOwn.state().training);
      await page.evaluate(() => window.__maeOwn.idle());
      lap('trained');
      const s = await page.evaluate(() => window.__maeOwn.state());
      const status = (await page.textContent('#own-status')) ?? '';
      t.diagnostic(`status: ${status}`);
      t.diagnostic(`losses: ${s.losses.map((l) => l.toFixed(4)).join(', ')}; reconstructions ${s.reconstructions}; read ${s.read}`);
      const steps = EPOCHS * Math.floor(LISTED / BATCH);
      assert.equal(s.backend, backend);
      assert.equal(s.losses.length, steps, `one loss point per step (${status})`);
      assert.ok(s.losses.every((l) => Number.isFinite(l) && l > 0), 'finite losses');
      // drawn before training, every 5 steps, and after: the canvas holds a 4-row figure
      assert.equal(s.reconstructions, 2 + Math.floor(steps / 5));
      const recon = await page.evaluate(() => {
        const c = document.getElementById('own-recon') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let sum = 0;
        let sq = 0;
        for (let i = 0; i < d.length; i += 4) {
          sum += d[i];
          sq += d[i] * d[i];
        }
        const n = d.length / 4;
        return { width: c.width, height: c.height, std: Math.sqrt(sq / n - (sum / n) ** 2) };
      });
      t.diagnostic(`reconstruction figure ${recon.width}×${recon.height}, red std ${recon.std.toFixed(1)}`);
      assert.ok(recon.width > 32 * 8 && recon.height > 32 * 4, 'the figure has 8 columns and 4 rows of 32 px tiles');
      assert.ok(recon.std > 10, 'the figure is not blank');
      const lossPixels = await page.evaluate(() => (document.getElementById('own-loss') as HTMLCanvasElement).width);
      assert.equal(lossPixels, 480, 'the loss curve is drawn');
      // The broken PNG is found when decoded, and named in the page.
      assert.ok(s.bad.some((b) => b.path === 'shapes/disc/broken.png' && b.kind === 'corrupt'), `broken.png reported: ${JSON.stringify(s.bad)}`);
      const badText = (await page.textContent('#own-bad')) ?? '';
      assert.match(badText, /shapes\/disc\/broken\.png: corrupt or truncated/);
      assert.match(badText, /shapes\/stripes\/empty\.jpg: empty file/);
      assert.ok(s.bad.some((b) => b.path === 'shapes/stripes/bomb.png' && b.kind === 'too-many-pixels'), `bomb.png refused: ${JSON.stringify(s.bad)}`);
      assert.match(badText, /shapes\/stripes\/bomb\.png: too many pixels: 100000×100000/);
      assert.doesNotMatch(badText, /notes\.txt/);
      assert.ok(s.read >= steps * BATCH, `images decoded: ${s.read}`);
      await page.screenshot({ path: join(SHOTS, `own-images-${backend}.png`), fullPage: true });

      // Download the weights: safetensors with the config in the metadata, which rebuilds the model.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#own-download')]);
      const file = await download.path();
      const bytes = new Uint8Array(await readFile(file));
      t.diagnostic(`downloaded ${download.suggestedFilename()}: ${bytes.length} bytes`);
      assert.equal(download.suggestedFilename(), 'mae-own-images-32px.safetensors');
      const parsed = parseSafetensors(bytes);
      const stored = readStoredConfig(parsed.metadata, download.suggestedFilename());
      assert.equal(stored?.className, 'MaskedAutoencoder');
      assert.deepEqual(
        [stored?.config.imgSize, stored?.config.patchSize, stored?.config.inChans],
        [[32, 32], 4, 3],
      );
      const recipe = JSON.parse(parsed.metadata.recipe) as { steps: number; backend: string };
      assert.deepEqual([recipe.steps, recipe.backend], [steps, backend]);
      const mae = await MaskedAutoencoder.fromPretrained(bytes);
      try {
        assert.deepEqual(mae.config.imgSize, [32, 32]);
        assert.equal(mae.config.patchSize, 4);
      } finally {
        mae.dispose();
      }
      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
      lap('checked');
    } finally {
      await close();
    }
  });
}

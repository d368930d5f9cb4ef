/**
 * "Bring your own checkpoint" by hand, with a file of yours, in headless
 * Chromium: serves the built page (`npm run build:browser` first), gives it
 * the weights (and a photo) and prints what the page shows, the load time
 * split into phases, the forward time and the peak RSS of Chromium.
 *
 *   npx tsx examples/browser/e2e/checkpointByHand.ts /work/bigfiles/mae_visualize_vit_large.pth [photo.png|jpg] [wasm|webgl|webgpu|cpu]
 *
 * Without a photo it draws a 640 × 480 test picture. Screenshot:
 * `test-output/browser/checkpoint-by-hand-<backend>.png`.
 */
import { execSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { CheckpointState } from '../src/checkpoint';
import { DIST, SHOTS, launch } from './chromium';
import { serveStatic } from './serve';

const [weights, photoArg, backend = 'wasm'] = process.argv.slice(2);
if (!weights) throw new Error('usage: checkpointByHand.ts WEIGHTS [PHOTO] [BACKEND]');

/** Peak summed RSS (KiB) of Chromium's processes: the children of this process (and theirs), sampled every 0.5 s. */
function rssSampler(): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    const rows = execSync('ps -eo pid=,ppid=,rss=').toString().trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    const tree = new Set([process.pid]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, ppid] of rows) if (!tree.has(pid) && tree.has(ppid)) grew = tree.add(pid) !== undefined;
    }
    tree.delete(process.pid);
    peak = Math.max(peak, rows.filter(([pid]) => tree.has(pid)).reduce((a, [, , rss]) => a + rss, 0));
  }, 500);
  return { stop: () => (clearInterval(timer), peak) };
}

const dir = await mkdtemp(join(tmpdir(), 'tfjs-mae-byo-'));
let photo = photoArg;
if (!photo) {
  const [w, h] = [640, 480];
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const disc = (x - 320) ** 2 + (y - 240) ** 2 < 150 ** 2;
      data.set([disc ? 220 : (x * 255) / w, disc ? 60 : (y * 255) / h, 128, 255], 4 * (y * w + x));
    }
  }
  photo = join(dir, 'test-picture-640x480.png');
  await writeFile(photo, PNG.sync.write({ width: w, height: h, data } as PNG));
}
const server = await serveStatic(DIST);
const rss = rssSampler();
const { page, close } = await launch(backend === 'webgpu' ? ['--enable-unsafe-webgpu'] : [], { width: 1100, height: 1400 });
try {
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${server.url}?backend=${backend}`);
  await page.evaluate(() => (window as unknown as { __mae: { ready: Promise<void> } }).__mae.ready);
  await page.waitForFunction(() => (window as unknown as { __maeCheckpoint?: unknown }).__maeCheckpoint !== undefined);
  const idle = () => page.evaluate(() => (window as unknown as { __maeCheckpoint: { idle(): Promise<void> } }).__maeCheckpoint.idle());
  for (const [input, file] of [['#ckpt-files', weights], ['#ckpt-photo', photo]]) {
    const t0 = Date.now();
    await page.setInputFiles(input, [file]);
    await idle();
    console.log(`${file}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const state = await page.evaluate(() => (window as unknown as { __maeCheckpoint: { state(): CheckpointState } }).__maeCheckpoint.state());
  console.log(JSON.stringify(state, null, 2));
  for (const id of ['ckpt-progress-text', 'ckpt-model', 'ckpt-backend', 'ckpt-status']) console.log(`#${id}: ${await page.textContent(`#${id}`)}`);
  await mkdir(SHOTS, { recursive: true });
  await page.locator('#ckpt').screenshot({ path: join(SHOTS, `checkpoint-by-hand-${backend}.png`) });
} finally {
  await close();
  console.log(`peak RSS of Chromium's processes: ${(rss.stop() / 1024).toFixed(0)} MiB`);
  await server.close();
  await rm(dir, { recursive: true, force: true });
}

/**
 * The data-pipeline measurement (issue 14 §5): images/s of decoding plus the
 * pre-training augmentation alone (an image folder through
 * `imageFolderSource`), and the same training step fed from that folder
 * against fed from tensors, alternating, in one process; the share of the
 * step spent waiting for data should be ≤ 5 %.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { imageFolderSource, listImageFolder } from '../src/node/index';
import { MASK_RATIO, type BenchConfig } from './configs';
import { maeOptimizer, median, trainStep, withForeignLoad, type TimingOptions } from './measure';
import { buildVariant } from './models';

/** What {@link measureData} reports. */
export interface DataResult {
  /** Image files read. */
  files: number;
  /** Decoding + RandomResizedCrop + flip + normalisation, images/s, with nothing else running. */
  decodeImagesPerSec: number;
  /** Median step fed from a tensor already in memory (s). */
  stepSecTensors: number;
  /** Median step fed from the folder, waiting for the batch included (s). */
  stepSecFolder: number;
  /** Median wait for the next batch of the folder (s). */
  waitSec: number;
  /** Sum of the waits over the sum of the folder-fed steps. */
  waitFraction: number;
  /** Cores kept busy by other processes during the steps. */
  foreignCores: number;
}

/** `n` synthetic 640×480 JPEG photos (smooth random gradients + noise, q90) in a new temporary folder. */
async function syntheticPhotos(n: number): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tfjs-mae-bench-photos-'));
  const w = 640;
  const h = 480;
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let k = 0; k < n; k++) {
    const a = [rand(), rand(), rand()].map((v) => v * 0.6);
    const b = [rand(), rand(), rand()].map((v) => v * 0.6);
    const px = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
      px[(y * w + x) * 3 + c] = Math.min(255, Math.max(0, a[c] * x * 0.5 + b[c] * y * 0.5 + 40 * rand()));
    }
    await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(path.join(dir, `${String(k).padStart(4, '0')}.jpg`));
  }
  return dir;
}

/**
 * Decoding throughput, then `warmup + steps` pairs of training steps of the
 * `'mae'` variant of `cfg` at `batch`: one fed from a fixed tensor, one fed
 * from the folder (the await for its next batch timed apart).
 *
 * @param dataDir a folder of images to read; defaults to synthetic 640×480 JPEGs
 */
export async function measureData(cfg: BenchConfig, batch: number, { warmup = 2, steps = 5, dataDir }: TimingOptions & { dataDir?: string } = {}): Promise<DataResult> {
  const pairs = warmup + steps;
  const tmp = dataDir === undefined ? await syntheticPhotos(batch * (pairs + 1)) : undefined;
  try {
    const listing = await listImageFolder(dataDir ?? tmp!, { labels: 'none' });
    const source = imageFolderSource(listing, { batchSize: batch, size: cfg.imgSize, channels: cfg.inChans === 1 ? 1 : 3, seed: 0 });
    if (source.batchesPerEpoch < pairs) throw new Error(`${listing.root}: ${listing.paths.length} images make ${source.batchesPerEpoch} batches of ${batch}; need ${pairs}`);

    // 1. The pipeline alone: one epoch, nothing else running.
    let images = 0;
    const t0 = performance.now();
    for await (const b of source.batches(0, 0)) {
      images += b.images.shape[0];
      tf.dispose([b.images, b.labels]);
    }
    const decodeImagesPerSec = images / ((performance.now() - t0) / 1000);

    // 2. The step fed from tensors and from the folder, alternating.
    const model = buildVariant('mae', cfg, MASK_RATIO);
    const opt = maeOptimizer(model);
    const fixed = tf.randomUniform([batch, cfg.imgSize, cfg.imgSize, cfg.inChans], 0, 1, 'float32', 7) as tf.Tensor4D;
    const it = source.batches(1, 0)[Symbol.asyncIterator]();
    const tensorSec: number[] = [];
    const folderSec: number[] = [];
    const waitSec: number[] = [];
    try {
      const step = async (imgs: tf.Tensor4D) => {
        const loss = trainStep(model, opt, imgs);
        await loss.data();
        loss.dispose();
      };
      const { foreignCores } = await withForeignLoad(async () => {
        for (let i = 0; i < pairs; i++) {
          let t = performance.now();
          await step(fixed);
          const tensorStep = (performance.now() - t) / 1000;
          t = performance.now();
          const r = await it.next();
          const wait = (performance.now() - t) / 1000;
          try {
            await step(r.value.images);
          } finally {
            tf.dispose([r.value.images, r.value.labels]);
          }
          if (i >= warmup) {
            tensorSec.push(tensorStep);
            folderSec.push((performance.now() - t) / 1000);
            waitSec.push(wait);
          }
        }
      });
      return {
        files: listing.paths.length,
        decodeImagesPerSec,
        stepSecTensors: median(tensorSec),
        stepSecFolder: median(folderSec),
        waitSec: median(waitSec),
        waitFraction: waitSec.reduce((a, b) => a + b, 0) / folderSec.reduce((a, b) => a + b, 0),
        foreignCores,
      };
    } finally {
      await it.return?.(undefined);
      opt.dispose();
      model.dispose();
      fixed.dispose();
    }
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

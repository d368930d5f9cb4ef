import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers the gradients in Node
import sharp, { type Sharp } from 'sharp';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError, MaskedAutoencoder, ViTEncoder, extractPooledFeatures, pretrain, sampleCropBoxes, sampleFlips, type TrainingCheckpoint } from 'tfjs-mae';
import {
  centreCropBox,
  evalResizeShape,
  imageFolderSource,
  imageFolderStats,
  listImageFolder,
  sampleSeed,
  splitImageFolder,
  type BadImageFile,
  type ImageFolderBatch,
} from '../../src/node/index';

let dir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(path.join(tmpdir(), 'tfjs-mae-folder-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A `w × h` image of one colour, as raw RGB. */
const uniform = (w: number, h: number, rgb: [number, number, number]) =>
  sharp(Buffer.from(new Uint8Array(w * h * 3).map((_, i) => rgb[i % 3])), { raw: { width: w, height: h, channels: 3 } });

/** 250 × 200 RGB: R = x, G = y, B = 100 (linear, so bicubic resampling keeps it linear away from borders). */
function gradient(): Sharp {
  const w = 250;
  const h = 200;
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set([x, y, 100], (y * w + x) * 3);
  return sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 3 } });
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid PNG header claiming 100000 × 100000 RGB pixels, with a few bytes of data: a decompression bomb. */
function bombPng(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(100000, 0);
  ihdr.writeUInt32BE(100000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Colours of the good files of the labelled folder, by relative path. */
const colours: Record<string, [number, number, number]> = {};

async function makeLabelledFolder(root: string): Promise<void> {
  const put = async (rel: string, img: Sharp, colour?: [number, number, number]) => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    await img.toFile(path.join(root, rel));
    if (colour) colours[rel] = colour;
  };
  // cat: PNG 8-bit RGB, JPEG with an upper-case extension, WebP, a nested JPEG, RGBA PNG
  await put('cat/a.png', uniform(40, 30, [200, 10, 10]).png(), [200, 10, 10]);
  await put('cat/B.JPG', uniform(30, 40, [10, 200, 10]).jpeg({ quality: 100 }), [10, 200, 10]);
  await put('cat/c.webp', uniform(50, 50, [10, 10, 200]).webp({ lossless: true }), [10, 10, 200]);
  await put('cat/deep/er/d.jpeg', uniform(64, 48, [120, 120, 0]).jpeg({ quality: 100 }), [120, 120, 0]);
  await put('cat/rgba.png', uniform(20, 20, [0, 90, 180]).ensureAlpha(0.5).png(), [0, 90, 180]);
  // dog: grey 8-bit, grey 16-bit, palette PNG, a WebP named .png (content wins)
  await put('dog/grey8.png', uniform(32, 32, [77, 77, 77]).toColourspace('b-w').png(), [77, 77, 77]);
  await put('dog/grey16.png', uniform(32, 32, [150, 150, 150]).toColourspace('grey16').png(), [150, 150, 150]);
  await put('dog/palette.png', uniform(32, 32, [255, 128, 0]).png({ palette: true, colours: 4 }), [255, 128, 0]);
  await put('dog/webp-named.png', uniform(32, 32, [60, 0, 60]).webp({ lossless: true }), [60, 0, 60]);
  // bad files
  const jpeg = await uniform(64, 64, [1, 2, 3]).jpeg().toBuffer();
  writeFileSync(path.join(root, 'dog/truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  writeFileSync(path.join(root, 'dog/empty.png'), Buffer.alloc(0));
  writeFileSync(path.join(root, 'cat/text.jpg'), 'not an image at all');
  writeFileSync(path.join(root, 'cat/bomb.png'), bombPng());
  const png = await uniform(16, 16, [5, 5, 5]).png().toBuffer();
  writeFileSync(path.join(root, 'cat/corrupt.png'), Buffer.concat([png.subarray(0, 40), Buffer.alloc(200, 0xab)]));
  // ignored silently
  writeFileSync(path.join(root, 'cat/notes.txt'), 'hello');
  writeFileSync(path.join(root, 'dog/.DS_Store'), Buffer.from([0, 0, 0, 1, 0x42, 0x75, 0x64, 0x31]));
  writeFileSync(path.join(root, 'root-level.png'), png); // not in a class folder: ignored, as torchvision does
  mkdirSync(path.join(root, '.hidden'));
  writeFileSync(path.join(root, '.hidden/x.png'), png);
}

const GOOD = 9;

describe('listImageFolder', () => {
  let root: string;
  beforeAll(async () => {
    root = path.join(dir, 'labelled');
    await makeLabelledFolder(root);
  });

  it('lists images by content, recursively, classes sorted, labels by first-level folder; bad names reported, others ignored', async () => {
    const bad: BadImageFile[] = [];
    const l = await listImageFolder(root, { onBadFile: (f) => void bad.push(f) });
    expect(l.root).toBe(root);
    expect(l.classes).toEqual(['cat', 'dog']);
    expect(l.classToIndex).toEqual({ cat: 0, dog: 1 });
    // bomb.png, corrupt.png and truncated.jpg have image magic: listed now, rejected at decoding
    expect(l.paths).toEqual([
      'cat/B.JPG', 'cat/a.png', 'cat/bomb.png', 'cat/c.webp', 'cat/corrupt.png', 'cat/rgba.png', 'cat/deep/er/d.jpeg',
      'dog/grey16.png', 'dog/grey8.png', 'dog/palette.png', 'dog/truncated.jpg', 'dog/webp-named.png',
    ]);
    expect(Array.from(l.labels!)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    expect(bad.map((b) => [path.relative(root, b.path), b.kind])).toEqual([
      ['cat/text.jpg', 'not-an-image'],
      ['dog/empty.png', 'empty'],
    ]);
    expect(l.skipped).toEqual(bad);
  });

  it('a folder without subfolders is unlabelled; labels: none lists everything; strict stops naming the file', async () => {
    const flat = path.join(dir, 'flat');
    mkdirSync(flat);
    await uniform(8, 8, [1, 1, 1]).png().toFile(path.join(flat, 'one.png'));
    writeFileSync(path.join(flat, 'readme.txt'), 'x');
    const l = await listImageFolder(flat);
    expect(l).toMatchObject({ paths: ['one.png'], classes: [], classToIndex: {} });
    expect(l.labels).toBeUndefined();
    const all = await listImageFolder(root, { labels: 'none', onBadFile: () => {} });
    expect(all.paths).toHaveLength(13); // + root-level.png
    await expect(listImageFolder(root, { strict: true })).rejects.toThrow(DataError);
    await expect(listImageFolder(root, { strict: true })).rejects.toThrow(`${path.join(root, 'cat/text.jpg')}: not an image`);
    await expect(listImageFolder(path.join(dir, 'missing'))).rejects.toThrow(/no such folder/);
  });

  it('splits: train/ and val/ as given (val with the training classes), else a seeded split', async () => {
    const tv = path.join(dir, 'tv');
    for (const rel of ['train/a/1.png', 'train/a/2.png', 'train/b/3.png', 'val/b/4.png']) {
      mkdirSync(path.dirname(path.join(tv, rel)), { recursive: true });
      await uniform(8, 8, [9, 9, 9]).png().toFile(path.join(tv, rel));
    }
    const given = await splitImageFolder(tv);
    expect(given.train.paths).toEqual(['a/1.png', 'a/2.png', 'b/3.png']);
    expect(Array.from(given.val!.labels!)).toEqual([1]); // b is class 1 of the training set
    const s1 = await splitImageFolder(root, { valSplit: 0.25, seed: 3, onBadFile: () => {} });
    const s2 = await splitImageFolder(root, { valSplit: 0.25, seed: 3, onBadFile: () => {} });
    expect(s1.val!.paths).toHaveLength(3);
    expect(s1.train.paths).toHaveLength(9);
    expect(s2).toEqual(s1);
    expect([...s1.train.paths, ...s1.val!.paths].sort()).toEqual([...(await listImageFolder(root, { onBadFile: () => {} })).paths].sort());
    const s3 = await splitImageFolder(root, { valSplit: 0.25, seed: 4, onBadFile: () => {} });
    expect(s3.val!.paths).not.toEqual(s1.val!.paths);
  });
});

async function collect(batches: AsyncIterable<ImageFolderBatch>) {
  const out: { images: Float32Array; indices: number[]; labels?: number[]; shape: number[] }[] = [];
  for await (const b of batches) {
    out.push({ images: (await b.images.data()) as Float32Array, indices: Array.from(b.indices), labels: b.labels && Array.from(await b.labels.data()), shape: b.images.shape });
    tf.dispose([b.images, b.labels]);
  }
  return out;
}

describe('imageFolderSource', () => {
  let root: string;
  beforeAll(() => {
    root = path.join(dir, 'labelled');
  });
  const quiet = { onBadFile: () => {} };

  it('eval: every format decodes to its colour (grey expanded, alpha dropped, 16-bit scaled); bad files skipped and named once', async () => {
    const listing = await listImageFolder(root, quiet);
    const bad: BadImageFile[] = [];
    const before = tf.memory().numTensors;
    const src = imageFolderSource(listing, { batchSize: 5, size: 8, transform: 'eval', mean: [0, 0, 0], std: [1, 1, 1], onBadFile: (f) => void bad.push(f) });
    const got = await collect(src);
    expect(tf.memory().numTensors).toBe(before);
    const rows = got.flatMap((b) => b.indices.map((index, k) => ({ index, label: b.labels![k], px: b.images.subarray(k * 192, (k + 1) * 192) })));
    expect(rows).toHaveLength(GOOD);
    for (const r of rows) {
      const rel = listing.paths[r.index];
      const colour = colours[rel];
      expect(colour, rel).toBeDefined();
      expect(r.label).toBe(listing.labels![r.index]);
      for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) expect(Math.abs(r.px[p * 3 + c] * 255 - colour[c]), `${rel} channel ${c}`).toBeLessThanOrEqual(2.01);
    }
    // reported as found: batches decode concurrently, so the order may vary
    expect(bad.map((b) => [path.relative(root, b.path), b.kind]).sort()).toEqual([
      ['cat/bomb.png', 'too-many-pixels'],
      ['cat/corrupt.png', 'corrupt'],
      ['dog/truncated.jpg', 'corrupt'],
    ]);
    expect(bad.find((b) => b.kind === 'too-many-pixels')!.reason).toMatch(/100000×100000 = 10000000000 > maxPixels 89478485/);
    const summary = src.summary();
    expect(summary).toMatchObject({ listed: 12, read: GOOD, skipped: 5, reasons: { 'not-an-image': 1, empty: 1, 'too-many-pixels': 1, corrupt: 2 } });
    // A second epoch reports nothing new.
    await collect(src.batches(1, 0));
    expect(bad).toHaveLength(3);
    expect(src.summary().read).toBe(2 * GOOD);
  });

  it('eval pixels: resize of the shorter side to floor(size / 0.875), bicubic, then the centre crop, as computed independently', async () => {
    const g = path.join(dir, 'gradient');
    mkdirSync(g);
    await gradient().png().toFile(path.join(g, 'g.png'));
    const listing = await listImageFolder(g);
    const size = 64;
    // torchvision: Resize(73) of 250×200 → 91×73 (w×h); CenterCrop(64): top round(4.5) = 4, left round(13.5) = 14
    expect(evalResizeShape(200, 250, size)).toEqual([73, 91]);
    expect(centreCropBox(73, 91, size)).toEqual({ top: 4, left: 14, height: 64, width: 64 });
    const [b] = await collect(imageFolderSource(listing, { batchSize: 1, size, transform: 'eval', mean: [0, 0, 0], std: [1, 1, 1] }));
    expect(b.shape).toEqual([1, 64, 64, 3]);
    let worst = 0;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const sx = (j + 14 + 0.5) * (250 / 91) - 0.5; // half-pixel centres; the gradient is R = x, G = y
        const sy = (i + 4 + 0.5) * (200 / 73) - 0.5;
        const at = (i * size + j) * 3;
        worst = Math.max(worst, Math.abs(b.images[at] * 255 - sx), Math.abs(b.images[at + 1] * 255 - sy), Math.abs(b.images[at + 2] * 255 - 100));
      }
    }
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('train pixels: the crop of sampleCropBoxes and the flip of sampleFlips, seeded by (seed, epoch, position), resized bicubic', async () => {
    const listing = await listImageFolder(path.join(dir, 'gradient'));
    const size = 32;
    const seed = 11;
    const src = imageFolderSource(listing, { batchSize: 1, size, seed, mean: [0, 0, 0], std: [1, 1, 1] });
    const flips: number[] = [];
    for (let epoch = 0; epoch < 6; epoch++) {
      const [b] = await collect(src.batches(epoch, 0));
      const s = sampleSeed(seed, epoch, 0);
      const [box] = sampleCropBoxes(1, 200, 250, { scale: [0.2, 1], ratio: [3 / 4, 4 / 3], seed: s });
      const flip = sampleFlips(1, { p: 0.5, seed: s })[0];
      flips.push(flip);
      let worst = 0;
      let bias = 0;
      let count = 0;
      for (let i = 3; i < size - 3; i++) {
        for (let j = 3; j < size - 3; j++) {
          const jj = flip ? size - 1 - j : j;
          const sx = box.left + (jj + 0.5) * (box.width / size) - 0.5;
          const sy = box.top + (i + 0.5) * (box.height / size) - 0.5;
          const at = (i * size + j) * 3;
          const ex = b.images[at] * 255 - sx;
          const ey = b.images[at + 1] * 255 - sy;
          worst = Math.max(worst, Math.abs(ex), Math.abs(ey));
          bias += ex + ey;
          count += 2;
        }
      }
      // uint8 rounding (0.5), libvips' fixed-point kernel, and for factors above 4 libvips' integer
      // pre-shrink, which moves the sample positions by up to half a source pixel (measured: 0.52 at
      // 139 → 32). A crop box off by one pixel, or the wrong pixel-centre convention, shifts by ≥ 1.
      const what = `epoch ${epoch} box ${JSON.stringify(box)} flip ${flip}`;
      expect(worst, what).toBeLessThanOrEqual(1.5);
      expect(Math.abs(bias / count), what).toBeLessThan(0.75);
    }
    expect(new Set(flips).size).toBe(2); // both cases seen
  });

  it('normalises per channel, (x / 255 − mean[c]) / std[c], ImageNet by default', async () => {
    const listing = await listImageFolder(path.join(dir, 'flat'));
    const [b] = await collect(imageFolderSource(listing, { batchSize: 1, size: 4, transform: 'eval' }));
    const want = [0, 1, 2].map((c) => (1 / 255 - [0.485, 0.456, 0.406][c]) / [0.229, 0.224, 0.225][c]);
    for (let c = 0; c < 3; c++) expect(b.images[c]).toBeCloseTo(want[c], 5);
    const [g] = await collect(imageFolderSource(listing, { batchSize: 1, size: 4, transform: 'eval', channels: 1 }));
    expect(g.shape).toEqual([1, 4, 4, 1]);
    expect(g.images[0]).toBeCloseTo((1 / 255 - 0.5) / 0.5, 5);
  });

  it('train: same seed same batches, a resume from (epoch, startBatch) sees the same batches, bad slots filled by the next good file', async () => {
    const listing = await listImageFolder(root, quiet);
    const opts = { batchSize: 4, size: 8, seed: 5, ...quiet };
    const a = imageFolderSource(listing, opts);
    expect(a.batchesPerEpoch).toBe(3);
    const before = tf.memory().numTensors;
    const e1 = await collect(a.batches(1, 0));
    const again = await collect(imageFolderSource(listing, opts).batches(1, 0));
    expect(again).toEqual(e1);
    const resumed = await collect(imageFolderSource(listing, opts).batches(1, 2));
    expect(resumed).toEqual(e1.slice(2));
    expect(tf.memory().numTensors).toBe(before);
    // every batch full; bad files never appear; each row labelled as its file
    const bad = new Set(['cat/bomb.png', 'cat/corrupt.png', 'dog/truncated.jpg']);
    for (const b of e1) {
      expect(b.shape).toEqual([4, 8, 8, 3]);
      expect(b.indices.every((i) => !bad.has(listing.paths[i]))).toBe(true);
      expect(b.labels).toEqual(b.indices.map((i) => listing.labels![i]));
    }
    const e2 = await collect(a.batches(2, 0));
    expect(e2.map((b) => b.indices)).not.toEqual(e1.map((b) => b.indices)); // another epoch, another order
    expect(a.summary().skipped).toBe(5);
  });

  it('strict: the epoch stops at the first bad file with a DataError naming it; breaking out early leaks nothing', async () => {
    const listing = await listImageFolder(root, quiet);
    const src = imageFolderSource(listing, { batchSize: 12, size: 8, transform: 'eval', strict: true });
    await expect(collect(src)).rejects.toThrow(new RegExp(`${path.join(root, 'cat/bomb.png')}: too many pixels|${path.join(root, 'cat/corrupt.png')}: corrupt|truncated.jpg: corrupt`));
    const before = tf.memory().numTensors;
    const it = imageFolderSource(listing, { batchSize: 2, size: 8, ...quiet })[Symbol.asyncIterator]();
    const first = await it.next();
    tf.dispose([first.value.images, first.value.labels]);
    await it.return?.(undefined);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad options at once, naming them', async () => {
    const listing = await listImageFolder(root, quiet);
    expect(() => imageFolderSource(listing, { batchSize: 0, size: 8 })).toThrow(/batchSize/);
    expect(() => imageFolderSource(listing, { batchSize: 2, size: 8, channels: 2 as never })).toThrow(/channels: expected 1 or 3/);
    expect(() => imageFolderSource(listing, { batchSize: 2, size: 8, mean: [0.5] })).toThrow(/mean: expected 3 numbers/);
    expect(() => imageFolderSource(listing, { batchSize: 2, size: 8, scale: [0.5, 0.1] })).toThrow(/scale/);
    expect(() => imageFolderSource(listing, { batchSize: 99, size: 8 })).toThrow(/batchSize: expected at most the 12 images/);
  });

  it('imageFolderStats: per-channel mean and std of a folder', async () => {
    const listing = await listImageFolder(path.join(dir, 'gradient'));
    const { mean, std } = await imageFolderStats(listing, { size: 64 });
    // The centre crop of the gradient: B = 100 everywhere, R and G spread.
    expect(mean[2]).toBeCloseTo(100 / 255, 3);
    expect(std[2]).toBeLessThan(1e-3);
    expect(std[0]).toBeGreaterThan(0.1);
  });
});

describe('an image folder as the data of pretrain and extractFeatures', () => {
  const tiny = () =>
    new MaskedAutoencoder({ imgSize: 8, patchSize: 4, inChans: 3, embedDim: 8, depth: 1, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 7 });

  for (const backend of ['cpu', 'wasm']) {
    it(`pre-trains from the folder and resumes bit for bit; features carry labels and file indices (${backend})`, async () => {
      await tf.setBackend(backend);
      try {
        const listing = await listImageFolder(path.join(dir, 'labelled'), { onBadFile: () => {} });
        const source = () => imageFolderSource(listing, { batchSize: 3, size: 8, seed: 1, onBadFile: () => {} });
        const run = async (o: object) => {
          const m = tiny();
          try {
            return await pretrain(m, source(), { epochs: 2, lr: 1e-3, progress: false, ...o });
          } finally {
            m.dispose();
          }
        };
        const before = tf.memory().numTensors;
        const full = await run({});
        expect(full.losses).toHaveLength(8);
        let ckpt: TrainingCheckpoint | undefined;
        await run({ stopAfterEpoch: 1, save: (c: TrainingCheckpoint) => void (ckpt = c) });
        expect((await run({ resume: ckpt })).losses).toEqual(full.losses.slice(4));
        expect(tf.memory().numTensors).toBe(before);

        const encoder = new ViTEncoder({ imgSize: 8, patchSize: 4, inChans: 3, embedDim: 8, depth: 1, numHeads: 2, seed: 3 });
        const f = await extractPooledFeatures(encoder, imageFolderSource(listing, { batchSize: 4, size: 8, transform: 'eval', onBadFile: () => {} }), { pools: ['mean'] });
        expect(f.mean!.shape).toEqual([GOOD, 8]);
        expect(Array.from(await f.labels!.data())).toEqual(Array.from(f.indices!, (i) => listing.labels![i]));
        tf.dispose([f.mean!, f.labels!]);
        encoder.dispose();
      } finally {
        await tf.setBackend('cpu');
      }
    });
  }
});


/**
 * The flags a small-image recipe needs (docs/results.md's Fashion-MNIST
 * recipe from PNG files): --no-aug / --crop-pct (images fed as they are),
 * --mean / --std (numbers or auto), stored in the checkpoint's recipe and
 * taken from there by linprobe; --threads.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../src/cli/backend';
import { openImageFolder } from '../../src/cli/data';
import { parseChannelValues } from '../../src/cli/normalisation';
import { encodeSafetensors, parseSafetensors } from '../../src/io/safetensors';
import { encodePng } from '../../src/node/png';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint';
import { run } from './run';

const TINY = JSON.stringify({ embedDim: 32, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 });
const SIZE = 16;
let dir: string;
/** Every written file's grey pixels, by path. */
const pixels = new Map<string, Uint8Array>();

/** `perClass` grey 16 px PNGs (stored RGBA with R = G = B) in `root/<class>/`. */
function writeGreyFolder(root: string, perClass: number, offset: number): void {
  ['a', 'b'].forEach((cls, c) => {
    fs.mkdirSync(path.join(root, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const grey = Uint8Array.from({ length: SIZE * SIZE }, (_, p) => (c === 0 ? (p * 7 + i * 13 + offset) % 256 : ((p % SIZE) * 16 + i * 5 + offset) % 256));
      const data = new Uint8ClampedArray(SIZE * SIZE * 4);
      grey.forEach((v, p) => data.set([v, v, v, 255], p * 4));
      const file = path.join(root, cls, `${i}.png`);
      fs.writeFileSync(file, encodePng({ data, width: SIZE, height: SIZE }));
      pixels.set(file, grey);
    }
  });
}

const pretrainArgs = (data: string, out: string) => [
  'pretrain', data, '--model', 'mae_vit_tiny_patch4', '--model-config', TINY, '--input-size', String(SIZE), '--in-chans', '1',
  '--batch-size', '4', '--epochs', '1', '--warmup-epochs', '0.5', '--lr', '1.5e-3', '--backend', 'cpu', '--output-dir', out,
];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-recipe-flags-'));
  writeGreyFolder(path.join(dir, 'data', 'train'), 5, 0);
  writeGreyFolder(path.join(dir, 'data', 'val'), 3, 101);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('--mean / --std values', () => {
  it('one number for every channel, one per channel, or auto; anything else is a usage error naming the flag', () => {
    expect(parseChannelValues('mean', undefined, 3)).toBeUndefined();
    expect(parseChannelValues('mean', '0.5', 3)).toEqual([0.5, 0.5, 0.5]);
    expect(parseChannelValues('std', '0.229, 0.224,0.225', 3)).toEqual([0.229, 0.224, 0.225]);
    expect(parseChannelValues('mean', 'auto', 1)).toBe('auto');
    expect(() => parseChannelValues('mean', '1,2', 1)).toThrow(/^--mean: expected 1 or 1 comma-separated numbers \(one per channel\) or auto, got "1,2"$/);
    expect(() => parseChannelValues('mean', '0.5,,0.5', 3)).toThrow(/^--mean: expected 1 or 3 comma-separated numbers/);
    expect(() => parseChannelValues('std', 'x', 3)).toThrow(/^--std: expected 1 or 3/);
    expect(() => parseChannelValues('std', '0.5,0,0.5', 3)).toThrow(/^--std: expected numbers > 0, got "0.5,0,0.5"$/);
  });
});

describe('training batches without augmentation', () => {
  it('are the files as they are, normalised, in a seeded order, the last partial batch dropped', async () => {
    const data = await openImageFolder(path.join(dir, 'data', 'train'), { inputSize: SIZE, inChans: 1, mean: [0.25], std: [0.5], cropPct: 1 });
    const source = data.trainSource(4, 0, false);
    expect(source.batchesPerEpoch).toBe(2); // 10 images, batch 4
    const before = tf.memory().numTensors;
    const orders: number[][] = [];
    for (const epoch of [0, 1]) {
      const order: number[] = [];
      for await (const batch of source.batches(epoch, 0)) {
        expect(batch.images.shape).toEqual([4, SIZE, SIZE, 1]);
        const x = await batch.images.data();
        batch.indices.forEach((index, r) => {
          const grey = pixels.get(path.join(data.listing.root, data.listing.paths[index]))!;
          const want = Array.from(grey, (v) => (v / 255 - 0.25) / 0.5);
          const got = Array.from(x.subarray(r * SIZE * SIZE, (r + 1) * SIZE * SIZE));
          for (let p = 0; p < got.length; p++) expect(got[p]).toBeCloseTo(want[p], 6);
        });
        order.push(...batch.indices);
        tf.dispose([batch.images, batch.labels]);
      }
      orders.push(order);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(orders[0]).toHaveLength(8);
    expect(orders[0]).not.toEqual(orders[1]);
  });
});

describe('tfjs-mae pretrain --no-aug --crop-pct --mean --std, then linprobe', () => {
  it('stores the transform and the normalisation in the recipe; linprobe takes them from the weights', async () => {
    const out = path.join(dir, 'run');
    const r = await run(...pretrainArgs(path.join(dir, 'data', 'train'), out), '--no-aug', '--crop-pct', '1', '--mean', '0.2860406', '--std', '0.3530242');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('transform: no augmentation (resize to 16 / 1, centre crop); normalisation (x − [0.2860406]) / [0.3530242]');
    expect(r.out.some((l) => /^model: .* 1 channels, .* 1 epochs × 2 steps$/.test(l))).toBe(true);
    const ckpt = decodeCheckpoint(new Uint8Array(fs.readFileSync(path.join(out, 'checkpoint-0.safetensors'))));
    expect(ckpt).toMatchObject({ step: 2, stepsPerEpoch: 2 });
    const recipe = JSON.parse(parseSafetensors(ckpt.weights).metadata.recipe);
    expect(recipe).toMatchObject({ aug: false, cropPct: 1, mean: [0.2860406], std: [0.3530242], warmupEpochs: 0.5, lr: 0.0015, inChans: 1 });

    const probe = await run('linprobe', path.join(dir, 'data'), '--weights', path.join(out, 'checkpoint-0.safetensors'), '--epochs', '2', '--batch-size', '4', '--backend', 'cpu', '--output-dir', path.join(dir, 'probe'));
    expect(probe.err).toEqual([]);
    expect(probe.code).toBe(0);
    expect(probe.out).toContain("transform (the weights' recipe): resize to 16 / 1, centre crop; normalisation (x − [0.2860406]) / [0.3530242]");
    expect(probe.out.some((l) => /^top-1 \d+\.\d\d% on 6 val images/.test(l))).toBe(true);
  });

  it('a resume keeps the stored transform and normalisation; a checkpoint from before the flags resumes with the augmentation', async () => {
    const from = path.join(dir, 'run', 'checkpoint-0.safetensors');
    const resumed = path.join(dir, 'resumed');
    fs.mkdirSync(resumed);
    fs.copyFileSync(from, path.join(resumed, 'checkpoint-0.safetensors'));
    const r = await run('pretrain', path.join(dir, 'data', 'train'), '--resume', 'auto', '--epochs', '2', '--output-dir', resumed, '--backend', 'cpu');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('transform: no augmentation (resize to 16 / 1, centre crop); normalisation (x − [0.2860406]) / [0.3530242]');

    const old = path.join(dir, 'old');
    fs.mkdirSync(old);
    const ckpt = decodeCheckpoint(new Uint8Array(fs.readFileSync(from)));
    const weights = parseSafetensors(ckpt.weights);
    const { aug: _a, cropPct: _c, ...recipe } = JSON.parse(weights.metadata.recipe);
    void _a;
    void _c;
    const bytes = encodeCheckpoint({ ...ckpt, weights: encodeSafetensors(weights.tensors, { ...weights.metadata, recipe: JSON.stringify(recipe) }) });
    fs.writeFileSync(path.join(old, 'checkpoint-0.safetensors'), bytes);
    const o = await run('pretrain', path.join(dir, 'data', 'train'), '--resume', 'auto', '--epochs', '2', '--output-dir', old, '--backend', 'cpu');
    expect(o.err).toEqual([]);
    expect(o.code).toBe(0);
    expect(o.out).toContain('transform: RandomResizedCrop (scale 0.2–1) + horizontal flip; normalisation (x − [0.2860406]) / [0.3530242]');
  });

  it('the default is the official augmentation and the 0.875 crop, stored as such', async () => {
    const out = path.join(dir, 'aug');
    const r = await run(...pretrainArgs(path.join(dir, 'data', 'train'), out));
    expect(r.code).toBe(0);
    expect(r.out).toContain('transform: RandomResizedCrop (scale 0.2–1) + horizontal flip; normalisation (x − [0.5]) / [0.5]');
    const ckpt = decodeCheckpoint(new Uint8Array(fs.readFileSync(path.join(out, 'checkpoint-0.safetensors'))));
    expect(JSON.parse(parseSafetensors(ckpt.weights).metadata.recipe)).toMatchObject({ aug: true, cropPct: 0.875, mean: [0.5], std: [0.5] });
  });

  it('--mean auto --std auto measure the folder (after the evaluation transform) and print what they found', async () => {
    const out = path.join(dir, 'auto');
    const r = await run(...pretrainArgs(path.join(dir, 'data', 'train'), out), '--no-aug', '--crop-pct', '1', '--mean', 'auto', '--std', 'auto');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const all = [...pixels].filter(([file]) => file.includes(`${path.sep}train${path.sep}`)).flatMap(([, grey]) => Array.from(grey, (v) => v / 255));
    const mean = all.reduce((a, b) => a + b, 0) / all.length;
    const std = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length);
    expect(r.out.some((l) => l.startsWith(`measured on 10 images (`) && l.endsWith(`--mean ${mean.toFixed(7)} --std ${std.toFixed(7)}`))).toBe(true);
    const recipe = JSON.parse(parseSafetensors(decodeCheckpoint(new Uint8Array(fs.readFileSync(path.join(out, 'checkpoint-0.safetensors')))).weights).metadata.recipe);
    expect(recipe.mean[0]).toBeCloseTo(mean, 6);
    expect(recipe.std[0]).toBeCloseTo(std, 6);
  });

  it('a bad --mean is a usage error before any training', async () => {
    const r = await run(...pretrainArgs(path.join(dir, 'data', 'train'), path.join(dir, 'bad')), '--mean', '0.5,0.5');
    expect(r.code).toBe(2);
    expect(r.err[0]).toBe('tfjs-mae: --mean: expected 1 or 1 comma-separated numbers (one per channel) or auto, got "0.5,0.5"');
  });
});

describe('--threads', () => {
  it('prints the wasm thread count in effect; other backends say they ignore it', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    expect(await setupBackend('wasm', { threads: 1, io })).toBe('wasm');
    expect(await setupBackend('cpu', { threads: 2, io })).toBe('cpu');
    expect(lines).toEqual(['backend wasm: 1 thread', 'note: --threads 2 is for the wasm backend; cpu ignores it']);
  });
});

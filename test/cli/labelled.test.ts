/**
 * `finetune` and `linprobe` on labelled folders: `--val-split` of one folder
 * of classes (seeded, saved in dataset.json with the class → index map), and
 * `finetune --resume` continuing a run bit-exactly.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '../../src/train/checkpoint';
import { parseSafetensors } from '../../src/io/safetensors';
import { useLabelledFolder, writeImageFolder } from '../helpers/labelledFolder';
import { run } from './run';

const labelled = useLabelledFolder('labelled');
/** One folder of 3 class subfolders (no train/ or val/). */
let classes: string;

beforeAll(() => {
  classes = path.join(labelled.dir, 'classes');
  writeImageFolder(classes, { classes: ['cat', 'dog', 'eel'], perClass: 4, size: 16 });
});

const dataset = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'dataset.json'), 'utf8'));

describe('--val-split', () => {
  it('holds out a seeded fraction of a folder of classes; dataset.json keeps the class → index map and the split', async () => {
    const probe = (out: string, seed: string) =>
      run('linprobe', classes, '--weights', labelled.weights, '--val-split', '0.25', '--seed', seed, '--epochs', '1', '--batch-size', '4', '--backend', 'cpu', '--output-dir', path.join(labelled.dir, out));
    const r = await probe('split0', '0');
    expect(r.err).toEqual([]);
    expect(r.out).toContain('data: 9 train, 3 val images, 3 classes (--val-split 0.25 (seed 0))');
    const d = dataset(path.join(labelled.dir, 'split0'));
    expect(d).toMatchObject({ split: 'val-split', valSplit: 0.25, seed: 0, classToIndex: { cat: 0, dog: 1, eel: 2 } });
    expect([d.train.count, d.val.count]).toEqual([9, 3]);
    const files = [...d.train.files, ...d.val.files];
    expect(new Set(files.map((f: [string, number]) => f[0])).size).toBe(12); // every image on exactly one side
    for (const [file, label] of files) expect(label).toBe(d.classToIndex[file.split('/')[0]]);
    // The same seed gives the same split; the run does not depend on anything else.
    await probe('split0b', '0');
    expect(dataset(path.join(labelled.dir, 'split0b')).val.files).toEqual(d.val.files);
    const other = await Promise.all(['1', '2', '3'].map(async (seed) => (await probe(`split${seed}`, seed), dataset(path.join(labelled.dir, `split${seed}`)).val.files)));
    expect(other.some((v) => JSON.stringify(v) !== JSON.stringify(d.val.files))).toBe(true);
  });

  it('train/ and val/ are used as given (and saved); --val-split then is a usage error', async () => {
    const out = path.join(labelled.dir, 'given');
    const r = await run('linprobe', labelled.data, '--weights', labelled.weights, '--epochs', '1', '--batch-size', '4', '--backend', 'cpu', '--output-dir', out);
    expect(r.code).toBe(0);
    expect(dataset(out)).toMatchObject({ split: 'folders', classToIndex: { a: 0, b: 1 }, train: { count: 8 }, val: { count: 4 } });
    const bad = await run('finetune', labelled.data, '--weights', labelled.weights, '--val-split', '0.1', '--backend', 'cpu', '--output-dir', path.join(labelled.dir, 'x'));
    expect(bad.code).toBe(2);
    expect(bad.err[0]).toMatch(/^tfjs-mae: --val-split 0\.1: ".*data" has train\/ and val\/ already/);
  });
});

describe('tfjs-mae finetune --resume', () => {
  const common = () => ['finetune', labelled.data, '--weights', labelled.weights, '--epochs', '2', '--warmup-epochs', '1', '--batch-size', '4', '--mixup', '0.8', '--cutmix', '1.0', '--save-every', '1', '--backend', 'cpu'];

  it('a run stopped after epoch 1 and resumed with --resume auto ends with the weights of an uninterrupted one', async () => {
    const full = path.join(labelled.dir, 'ft-full');
    const a = await run(...common(), '--output-dir', full);
    expect(a.err).toEqual([]);
    expect(fs.readdirSync(full).sort()).toEqual(['checkpoint-0.safetensors', 'checkpoint-1.safetensors', 'checkpoint-best.safetensors', 'dataset.json', 'log.txt']);
    const ckpt = decodeCheckpoint(new Uint8Array(fs.readFileSync(path.join(full, 'checkpoint-1.safetensors'))));
    expect(ckpt).toMatchObject({ step: 4, epoch: 2, seed: 0, stepsPerEpoch: 2 });
    const meta = parseSafetensors(ckpt.weights).metadata;
    expect(JSON.parse(meta.config).className).toBe('MAEViTClassifier');
    expect(JSON.parse(meta.recipe)).toMatchObject({ task: 'finetune', epochs: 2, batchSize: 4, classes: ['a', 'b'], weights: path.resolve(labelled.weights) });

    // As if killed during epoch 2: the checkpoint of epoch 0 is the newest.
    const part = path.join(labelled.dir, 'ft-part');
    expect((await run(...common(), '--output-dir', part)).code).toBe(0);
    fs.rmSync(path.join(part, 'checkpoint-1.safetensors'));
    // --resume auto alone: the recipe (weights, epochs, batch size, mixup, ...) comes from the checkpoint.
    const r = await run('finetune', labelled.data, '--resume', 'auto', '--output-dir', part, '--backend', 'cpu');
    expect(r.err).toEqual([]);
    expect(r.out[0]).toBe(`resuming from ${path.join(part, 'checkpoint-0.safetensors')}`);
    expect(r.out.filter((l) => /^\[finetune\] epoch \d\/2 train_loss/.test(l))).toEqual([expect.stringMatching(/^\[finetune\] epoch 2\/2 /)]);
    expect(fs.readFileSync(path.join(part, 'checkpoint-1.safetensors')).equals(fs.readFileSync(path.join(full, 'checkpoint-1.safetensors')))).toBe(true);
    const epochs = (out: string) => fs.readFileSync(path.join(out, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(epochs(part)).toEqual(epochs(full));
  });

  it('refuses a checkpoint of another command, and a flag that changes the classifier', async () => {
    const pretrainLike = path.join(labelled.dir, 'not-a-checkpoint.safetensors');
    fs.copyFileSync(labelled.weights, pretrainLike);
    const a = await run(...common(), '--resume', pretrainLike, '--output-dir', path.join(labelled.dir, 'y'));
    expect(a.code).toBe(1);
    expect(a.err[0]).toMatch(/--resume ".*not-a-checkpoint\.safetensors": .*expected a checkpoint-<epoch>\.safetensors written by tfjs-mae finetune/);
    const b = await run('finetune', labelled.data, '--resume', path.join(labelled.dir, 'ft-full', 'checkpoint-0.safetensors'), '--cls-token', '--output-dir', path.join(labelled.dir, 'z'), '--backend', 'cpu');
    expect(b.code).toBe(2);
    expect(b.err[0]).toMatch(/--cls-token true contradicts .*checkpoint-0\.safetensors, trained with false/);
  });
});

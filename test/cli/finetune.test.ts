/** `tfjs-mae finetune` and `linprobe` on a tiny train/val folder: top-1 per epoch, best checkpoint, log.txt. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTrainVal } from './imageFolder';
import { run, writeTinyWeights } from './run';
import type { ViTClassifier } from '../../src/classify/ViTClassifier';
import { openImageFolder } from '../../src/cli/data';
import { loadModel } from '../../src/cli/model';
import { evaluateClassifier } from '../../src/eval/finetune';
import { decodeNpy } from '../../src/node/npy';

let dir: string;
let data: string;
let weights: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-finetune-'));
  data = path.join(dir, 'data');
  writeTrainVal(data);
  weights = path.join(dir, 'tiny.safetensors');
  await writeTinyWeights(weights, 1);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('tfjs-mae finetune', () => {
  it('prints top-1 per epoch, keeps the best classifier, writes log.txt', async () => {
    const out = path.join(dir, 'ft');
    const r = await run('finetune', data, '--weights', weights, '--epochs', '2', '--warmup-epochs', '1', '--batch-size', '4', '--mixup', '0.8', '--cutmix', '1.0', '--backend', 'cpu', '--output-dir', out);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.filter((l) => /^\[finetune\] epoch \d\/2 train_loss \d+\.\d{4} top-1 \d+\.\d{2}% \(best/.test(l))).toHaveLength(2);
    const log = fs.readFileSync(path.join(out, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((l) => l.epoch)).toEqual([0, 1]);
    expect(log[1]).toHaveProperty('test_acc1');
    // The best checkpoint is a classifier file the other commands read.
    const inspect = await run('inspect', path.join(out, 'checkpoint-best.safetensors'));
    expect(inspect.out.join('\n')).toContain('"className":"MAEViTClassifier"');
    expect(inspect.out.join('\n')).toContain('head.weight\tF32\t[2, 32]');
  });
});

describe('tfjs-mae linprobe', () => {
  it('extracts features once, prints top-1 per epoch, logs it, keeps the best probe as a classifier file', async () => {
    const out = path.join(dir, 'lp');
    const r = await run('linprobe', data, '--weights', weights, '--epochs', '3', '--batch-size', '4', '--optimizer', 'lars', '--backend', 'cpu', '--output-dir', out);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('features of train: [8, 32] in ' + r.out.find((l) => l.startsWith('features of train'))!.split(' in ')[1]);
    expect(r.out.filter((l) => /^\[linprobe\] epoch \d\/3 train_loss \d+\.\d{4} test_loss \d+\.\d{4} top-1 \d+\.\d{2}% \(best \d+\.\d{2}%/.test(l))).toHaveLength(3);
    expect(r.out.at(-1)).toMatch(/^top-1 \d+\.\d{2}% on 4 val images \(train \d+\.\d{2}%\); best \d+\.\d{2}%: .*checkpoint-best\.safetensors$/);
    // One line per epoch with main_linprobe.py's keys (2 classes: no top-5).
    const log = fs.readFileSync(path.join(out, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((l) => l.epoch)).toEqual([0, 1, 2]);
    for (const l of log) expect(Object.keys(l).sort()).toEqual(['epoch', 'max_accuracy', 'n_parameters', 'test_acc1', 'test_loss', 'train_loss']);
    expect(log[2].max_accuracy).toBe(Math.max(...log.map((l) => l.test_acc1)));
    // The best probe is a classifier (encoder + mean-after-norm pooling + BN + Linear) that the other commands read...
    const inspect = (await run('inspect', path.join(out, 'checkpoint-best.safetensors'))).out.join('\n');
    expect(inspect).toContain('"className":"MAEViTClassifier"');
    expect(inspect).toContain('"head":"linprobe"');
    expect(inspect).toContain('"normBeforePool":true');
    // ...whose features are the probe's (embed of the MAE, --pool mean) and whose top-1 on val is the best epoch's.
    const a = await run('embed', path.join(data, 'val'), '--weights', weights, '--out', path.join(dir, 'mae.npy'), '--backend', 'cpu');
    const b = await run('embed', path.join(data, 'val'), '--weights', path.join(out, 'checkpoint-best.safetensors'), '--out', path.join(dir, 'best.npy'), '--backend', 'cpu');
    expect([a.code, b.code]).toEqual([0, 0]);
    const [fa, fb] = [decodeNpy(fs.readFileSync(path.join(dir, 'mae.npy'))), decodeNpy(fs.readFileSync(path.join(dir, 'best.npy')))];
    expect(fb.shape).toEqual(fa.shape);
    expect(Math.max(...Array.from(fa.data as Float32Array, (v, i) => Math.abs(v - (fb.data as Float32Array)[i])))).toBeLessThan(1e-5);
    const loaded = await loadModel(path.join(out, 'checkpoint-best.safetensors'));
    const set = await openImageFolder(path.join(data, 'val'), { inputSize: 16, inChans: 3 });
    const top1 = await evaluateClassifier(loaded.model as ViTClassifier, set.evalSource(4), undefined, { batchSize: 4 });
    loaded.model.dispose();
    expect(100 * top1).toBeCloseTo(log[2].max_accuracy, 6);
  });

  it('without train/ and val/ says what the folder needs', async () => {
    const r = await run('linprobe', path.join(data, 'train'), '--weights', weights, '--backend', 'cpu', '--output-dir', path.join(dir, 'x'));
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/needs train\/ and val\/ subfolders, each with one subfolder per class/);
  });
});

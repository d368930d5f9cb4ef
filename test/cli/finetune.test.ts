/** `tfjs-mae finetune` and `linprobe` on a tiny train/val folder: top-1 per epoch, best checkpoint, log.txt. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImageFolder } from './imageFolder';
import { run, writeTinyWeights } from './run';

let dir: string;
let data: string;
let weights: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-finetune-'));
  data = path.join(dir, 'data');
  writeImageFolder(path.join(data, 'train'), { classes: ['a', 'b'], perClass: 4, size: 16 });
  writeImageFolder(path.join(data, 'val'), { classes: ['a', 'b'], perClass: 2, size: 16 });
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
  it('extracts features once and prints the top-1', async () => {
    const out = path.join(dir, 'lp');
    const r = await run('linprobe', data, '--weights', weights, '--epochs', '3', '--batch-size', '4', '--optimizer', 'lars', '--backend', 'cpu', '--output-dir', out);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('features of train: [8, 32] in ' + r.out.find((l) => l.startsWith('features of train'))!.split(' in ')[1]);
    expect(r.out.at(-1)).toMatch(/^top-1 \d+\.\d{2}% on 4 val images \(train \d+\.\d{2}%\)$/);
    expect(fs.readFileSync(path.join(out, 'log.txt'), 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it('without train/ and val/ says what the folder needs', async () => {
    const r = await run('linprobe', path.join(data, 'train'), '--weights', weights, '--backend', 'cpu', '--output-dir', path.join(dir, 'x'));
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/needs train\/ and val\/ subfolders, each with one subfolder per class/);
  });
});

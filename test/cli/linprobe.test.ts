/**
 * The official main_linprobe.py flags of `tfjs-mae linprobe`: --blr (lr = blr
 * × batch × accum / 256), --warmup-epochs and --min-lr (warmup + half-cycle
 * cosine per step), --accum-iter, checkpoints and an exact --resume; each
 * validated naming the flag and stored in the recipe. The defaults stay the
 * reference recipe's (AdamW, constant lr 1e-3).
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../src/io/safetensors';
import { decodeCheckpoint } from '../../src/train/checkpoint';
import { warmupCosineEpochs } from '../../src/train/schedule';
import { useLabelledFolder } from '../helpers/labelledFolder';
import { run } from './run';

const labelled = useLabelledFolder('linprobe');
/** 8 training images in micro-batches of 2, 2 per step: 2 steps per epoch. */
const official = (out: string) => [
  'linprobe', labelled.data, '--weights', labelled.weights, '--optimizer', 'lars', '--blr', '0.05', '--min-lr', '1e-4', '--warmup-epochs', '1',
  '--epochs', '3', '--batch-size', '2', '--accum-iter', '2', '--save-every', '1', '--backend', 'cpu', '--output-dir', out,
];
const readLog = (out: string) => fs.readFileSync(path.join(out, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('tfjs-mae linprobe: the official flags', () => {
  it('--blr, --accum-iter, --warmup-epochs, --min-lr: the lr of every step is the official schedule; the recipe keeps them', async () => {
    const out = path.join(labelled.dir, 'full');
    const r = await run(...official(out));
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const lr = (0.05 * 2 * 2) / 256;
    expect(r.out).toContain(`lars: lr ${lr.toExponential(3)} = blr 0.05 × batch 2 × accum 2 / 256; 1 warmup epoch, then half-cycle cosine to 0.0001 per step; 3 epochs × 2 steps`);
    // train_lr of each epoch = the mean over its steps of util/lr_sched.py's lr (per step, fractional epochs).
    const schedule = warmupCosineEpochs({ baseLr: lr, minLr: 1e-4, warmupEpochs: 1, epochs: 3, stepsPerEpoch: 2 });
    const log = readLog(out);
    expect(log.map((l) => l.epoch)).toEqual([0, 1, 2]);
    log.forEach((l, e) => expect(l.train_lr).toBeCloseTo((schedule(2 * e) + schedule(2 * e + 1)) / 2, 12));
    expect(log[0].train_lr).toBeCloseTo(lr / 4, 12); // steps 0 and 1 of a 2-step warmup: 0 and lr / 2
    for (const l of log) expect(Object.keys(l).sort()).toEqual(['epoch', 'max_accuracy', 'n_parameters', 'test_acc1', 'test_loss', 'train_loss', 'train_lr']);
    expect(fs.readdirSync(out).filter((n) => n.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-0.safetensors', 'checkpoint-1.safetensors', 'checkpoint-2.safetensors', 'checkpoint-best.safetensors']);
    const ckpt = decodeCheckpoint(new Uint8Array(fs.readFileSync(path.join(out, 'checkpoint-2.safetensors'))));
    expect(ckpt).toMatchObject({ step: 6, epoch: 3, seed: 0, stepsPerEpoch: 2, accumSteps: 2 });
    expect(Object.keys(ckpt.optimizer.params).sort()).toEqual(['1.bias', '1.weight']); // the LARS momentum buffers
    const recipe = JSON.parse(parseSafetensors(ckpt.weights).metadata.recipe);
    expect(recipe).toMatchObject({ task: 'linprobe', optimizer: 'lars', blr: 0.05, minLr: 1e-4, warmupEpochs: 1, accumIter: 2, batchSize: 2, epochs: 3, lr: null, resolvedLr: lr });
    const best = JSON.parse(parseSafetensors(new Uint8Array(fs.readFileSync(path.join(out, 'checkpoint-best.safetensors')))).metadata.recipe);
    expect(best).toMatchObject({ accumIter: 2, blr: 0.05, warmupEpochs: 1 });
  });

  it('--resume auto after a crash continues exactly: the next checkpoints, checkpoint-best and log.txt are those of the uninterrupted run', async () => {
    const full = path.join(labelled.dir, 'full');
    const part = path.join(labelled.dir, 'part');
    expect((await run(...official(part))).code).toBe(0);
    // As if killed during epoch 2: checkpoint-0 is the newest.
    for (const n of ['checkpoint-1.safetensors', 'checkpoint-2.safetensors']) fs.rmSync(path.join(part, n));
    const r = await run('linprobe', labelled.data, '--resume', 'auto', '--save-every', '1', '--output-dir', part, '--backend', 'cpu');
    expect(r.err).toEqual([]);
    expect(r.out[0]).toBe(`resuming from ${path.join(part, 'checkpoint-0.safetensors')}`);
    expect(r.out.filter((l) => l.startsWith('[linprobe] epoch'))).toEqual([expect.stringMatching(/^\[linprobe\] epoch 2\/3 /), expect.stringMatching(/^\[linprobe\] epoch 3\/3 /)]);
    for (const n of ['checkpoint-1.safetensors', 'checkpoint-2.safetensors', 'checkpoint-best.safetensors']) {
      expect(fs.readFileSync(path.join(part, n)).equals(fs.readFileSync(path.join(full, n)))).toBe(true);
    }
    expect(readLog(part)).toEqual(readLog(full));
    // Another optimiser cannot continue the state; a checkpoint of another command is named as such.
    const other = await run('linprobe', labelled.data, '--resume', path.join(full, 'checkpoint-0.safetensors'), '--optimizer', 'adamw', '--output-dir', path.join(labelled.dir, 'x'), '--backend', 'cpu');
    expect(other.code).toBe(2);
    expect(other.err[0]).toMatch(/--optimizer adamw contradicts .*checkpoint-0\.safetensors, trained with "lars"/);
    const ft = path.join(labelled.dir, 'ft');
    expect((await run('finetune', labelled.data, '--weights', labelled.weights, '--epochs', '1', '--warmup-epochs', '0', '--batch-size', '4', '--backend', 'cpu', '--output-dir', ft)).code).toBe(0);
    const wrong = await run('linprobe', labelled.data, '--resume', path.join(ft, 'checkpoint-0.safetensors'), '--output-dir', path.join(labelled.dir, 'y'), '--backend', 'cpu');
    expect(wrong.code).toBe(1);
    expect(wrong.err[0]).toMatch(/--resume ".*checkpoint-0\.safetensors": a checkpoint of tfjs-mae finetune \(expected a checkpoint-<epoch>\.safetensors written by tfjs-mae linprobe\)/);
  });

  it('the defaults stay the reference recipe: AdamW at a constant lr 1e-3 whatever the batch', async () => {
    const out = path.join(labelled.dir, 'defaults');
    const r = await run('linprobe', labelled.data, '--weights', labelled.weights, '--epochs', '2', '--batch-size', '4', '--backend', 'cpu', '--output-dir', out);
    expect(r.code).toBe(0);
    expect(r.out).toContain('adamw: lr 0.001 (the AdamW reference recipe; --blr or --lr set it); constant; 2 epochs × 2 steps');
    expect(readLog(out).map((l) => l.train_lr)).toEqual([0.001, 0.001]);
  });

  it('a warmup as long as the run is allowed, as officially: the lr rises to the last step, and says so', async () => {
    const out = path.join(labelled.dir, 'long-warmup');
    const r = await run('linprobe', labelled.data, '--weights', labelled.weights, '--backend', 'cpu', '--output-dir', out, '--warmup-epochs', '3', '--epochs', '2', '--blr', '0.1');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('note: --warmup-epochs 3 ≥ --epochs 2: the warmup never ends, the lr rises linearly to the last step (as the official lr_sched.py)');
    const lrs = readLog(out).map((l) => l.train_lr as number);
    expect(lrs[1]).toBeGreaterThan(lrs[0]);
  });

  it('bad values name the flag and the value', async () => {
    const bad = async (...extra: string[]) => (await run('linprobe', labelled.data, '--weights', labelled.weights, '--backend', 'cpu', '--output-dir', path.join(labelled.dir, 'bad'), ...extra)).err[0];
    expect(await bad('--blr', '-1')).toBe('tfjs-mae: --blr must be a number ≥ 0, got "-1"');
    expect(await bad('--accum-iter', '0')).toBe('tfjs-mae: --accum-iter must be a positive integer, got "0"');
    expect(await bad('--min-lr', 'x')).toBe('tfjs-mae: --min-lr must be a number ≥ 0, got "x"');
    expect(await bad('--batch-size', '4', '--accum-iter', '3')).toBe('tfjs-mae: --batch-size 4 × --accum-iter 3 is more than the 8 training images');
    expect(await bad('--save-every', '0')).toBe('tfjs-mae: --save-every must be a positive integer, got "0"');
  });
});

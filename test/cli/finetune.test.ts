/** `tfjs-mae finetune` and `linprobe` on a tiny train/val folder: top-1 per epoch, best checkpoint, log.txt. */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useLabelledFolder } from '../helpers/labelledFolder';
import { run } from './run';
import type { ViTClassifier } from '../../src/classify/ViTClassifier';
import { openImageFolder } from '../../src/cli/data';
import { loadModel } from '../../src/cli/model';
import { trainedNormalisation } from '../../src/cli/weightsFlags';
import { evaluateClassifier, evaluateClassifierMetrics } from '../../src/eval/finetune';
import { decodeNpy } from '../../src/node/npy';

const labelled = useLabelledFolder('finetune');

describe('tfjs-mae finetune', () => {
  it('prints top-1 per epoch, keeps the best classifier, writes log.txt', async () => {
    const out = path.join(labelled.dir, 'ft');
    const r = await run('finetune', labelled.data, '--weights', labelled.weights, '--epochs', '2', '--warmup-epochs', '1', '--batch-size', '4', '--mixup', '0.8', '--cutmix', '1.0', '--backend', 'cpu', '--output-dir', out);
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

  it('--epochs 1 with the default --warmup-epochs 5 runs (the first thing a user tries), with a note', async () => {
    const out = path.join(labelled.dir, 'one-epoch');
    const r = await run('finetune', labelled.data, '--weights', labelled.weights, '--epochs', '1', '--batch-size', '4', '--backend', 'cpu', '--output-dir', out);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('note: --warmup-epochs 5 ≥ --epochs 1: the warmup never ends, the lr rises linearly to the last step (as the official lr_sched.py)');
  });
});

describe('tfjs-mae finetune --eval', () => {
  it('prints top-1, top-5 and the loss on val of checkpoint-best or of a --resume checkpoint, as main_finetune.py --eval', async () => {
    const out = path.join(labelled.dir, 'ft'); // the run of the test above
    const log = fs.readFileSync(path.join(out, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const best = path.join(out, 'checkpoint-best.safetensors');
    const r = await run('finetune', labelled.data, '--weights', best, '--eval', '--batch-size', '3', '--backend', 'cpu', '--output-dir', path.join(labelled.dir, 'ft-eval'));
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const loaded = await loadModel(best);
    const set = await openImageFolder(path.join(labelled.data, 'val'), { ...trainedNormalisation(loaded), inputSize: 16, inChans: 3 });
    const m = await evaluateClassifierMetrics(loaded.model as ViTClassifier, set.evalSource(3), undefined, { batchSize: 3 });
    loaded.model.dispose();
    expect(r.out.slice(-2)).toEqual([`* Acc@1 ${(100 * m.acc1).toFixed(3)} Acc@5 n/a (2 classes) loss ${m.loss.toFixed(3)}`, `Accuracy of the network on the 4 test images: ${(100 * m.acc1).toFixed(1)}%`]);
    expect(100 * m.acc1).toBeCloseTo(Math.max(...log.map((l) => l.max_accuracy)), 6);
    // The checkpoint of the last epoch (its recipe gives --weights): that epoch's top-1 and loss.
    const last = await run('finetune', labelled.data, '--resume', path.join(out, 'checkpoint-1.safetensors'), '--eval', '--backend', 'cpu', '--output-dir', path.join(labelled.dir, 'ft-eval2'));
    expect(last.err).toEqual([]);
    expect(last.out.at(-2)).toBe(`* Acc@1 ${log[1].test_acc1.toFixed(3)} Acc@5 n/a (2 classes) loss ${log[1].test_loss.toFixed(3)}`);
    // Pre-trained weights are no classifier to evaluate.
    const mae = await run('finetune', labelled.data, '--weights', labelled.weights, '--eval', '--backend', 'cpu', '--output-dir', path.join(labelled.dir, 'ft-eval3'));
    expect(mae.code).toBe(2);
    expect(mae.err[0]).toMatch(/^tfjs-mae: --eval needs a classifier: --weights .*tiny\.safetensors is an MAE; give --weights OUTPUT_DIR\/checkpoint-best\.safetensors or --resume a checkpoint of finetune$/);
  });
});

describe('tfjs-mae linprobe', () => {
  it('counts the val images it scored: a corrupt one is named and not counted', async () => {
    const data = path.join(labelled.dir, 'with-corrupt');
    fs.cpSync(labelled.data, data, { recursive: true });
    fs.writeFileSync(path.join(data, 'val', 'a', 'broken.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]));
    const r = await run('linprobe', data, '--weights', labelled.weights, '--epochs', '1', '--batch-size', '4', '--backend', 'cpu', '--output-dir', path.join(labelled.dir, 'lp-corrupt'));
    expect(r.code).toBe(0);
    expect(r.out.filter((l) => /^skipped .*broken\.png: corrupt or truncated/.test(l))).toHaveLength(1);
    expect(r.out.at(-1)).toMatch(/^top-1 \d+\.\d{2}% on 4 val images/); // 5 files, 4 images
  });

  it('extracts features once, prints top-1 per epoch, logs it, keeps the best probe as a classifier file', async () => {
    const out = path.join(labelled.dir, 'lp');
    const r = await run('linprobe', labelled.data, '--weights', labelled.weights, '--epochs', '3', '--batch-size', '4', '--optimizer', 'lars', '--backend', 'cpu', '--output-dir', out);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('features of train: [8, 32] in ' + r.out.find((l) => l.startsWith('features of train'))!.split(' in ')[1]);
    expect(r.out.filter((l) => /^\[linprobe\] epoch \d\/3 train_loss \d+\.\d{4} test_loss \d+\.\d{4} top-1 \d+\.\d{2}% \(best \d+\.\d{2}%/.test(l))).toHaveLength(3);
    expect(r.out.at(-1)).toMatch(/^top-1 \d+\.\d{2}% on 4 val images \(train \d+\.\d{2}%\); best \d+\.\d{2}%: .*checkpoint-best\.safetensors$/);
    // One line per epoch with main_linprobe.py's keys (2 classes: no top-5).
    const log = fs.readFileSync(path.join(out, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((l) => l.epoch)).toEqual([0, 1, 2]);
    for (const l of log) expect(Object.keys(l).sort()).toEqual(['epoch', 'max_accuracy', 'n_parameters', 'test_acc1', 'test_loss', 'train_loss', 'train_lr']);
    expect(log[2].max_accuracy).toBe(Math.max(...log.map((l) => l.test_acc1)));
    // The best probe is a classifier (encoder + mean-after-norm pooling + BN + Linear) that the other commands read...
    const inspect = (await run('inspect', path.join(out, 'checkpoint-best.safetensors'))).out.join('\n');
    expect(inspect).toContain('"className":"MAEViTClassifier"');
    expect(inspect).toContain('"head":"linprobe"');
    expect(inspect).toContain('"normBeforePool":true');
    // ...whose features are the probe's (embed of the MAE, --pool mean) and whose top-1 on val is the best epoch's.
    const a = await run('embed', path.join(labelled.data, 'val'), '--weights', labelled.weights, '--out', path.join(labelled.dir, 'mae.npy'), '--backend', 'cpu');
    const b = await run('embed', path.join(labelled.data, 'val'), '--weights', path.join(out, 'checkpoint-best.safetensors'), '--out', path.join(labelled.dir, 'best.npy'), '--backend', 'cpu');
    expect([a.code, b.code]).toEqual([0, 0]);
    const [fa, fb] = [decodeNpy(fs.readFileSync(path.join(labelled.dir, 'mae.npy'))), decodeNpy(fs.readFileSync(path.join(labelled.dir, 'best.npy')))];
    expect(fb.shape).toEqual(fa.shape);
    expect(Math.max(...Array.from(fa.data as Float32Array, (v, i) => Math.abs(v - (fb.data as Float32Array)[i])))).toBeLessThan(1e-5);
    const loaded = await loadModel(path.join(out, 'checkpoint-best.safetensors'));
    const set = await openImageFolder(path.join(labelled.data, 'val'), { inputSize: 16, inChans: 3 });
    const top1 = await evaluateClassifier(loaded.model as ViTClassifier, set.evalSource(4), undefined, { batchSize: 4 });
    loaded.model.dispose();
    expect(100 * top1).toBeCloseTo(log[2].max_accuracy, 6);
  });

  it('without train/ and val/ says what the folder needs', async () => {
    const r = await run('linprobe', path.join(labelled.data, 'train'), '--weights', labelled.weights, '--backend', 'cpu', '--output-dir', path.join(labelled.dir, 'x'));
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/needs train\/ and val\/ subfolders, each with one subfolder per class/);
  });

  it('refuses a classifier file from its header (the finetune run above wrote one)', async () => {
    const best = path.join(labelled.dir, 'ft', 'checkpoint-best.safetensors');
    const r = await run('linprobe', labelled.data, '--weights', best, '--backend', 'cpu', '--output-dir', path.join(labelled.dir, 'lp-classifier'));
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`tfjs-mae: ${best} holds a classifier: linprobe needs pre-trained encoder weights (an MAE or encoder file)`]);
  });

  it('names a mistyped DATA_DIR before reading the weights (here: a weights path that does not exist either)', async () => {
    for (const command of ['linprobe', 'finetune']) {
      const typo = path.join(labelled.dir, 'typo');
      const r = await run(command, typo, '--weights', path.join(labelled.dir, 'no-such.pth'), '--backend', 'cpu', '--output-dir', path.join(labelled.dir, 'x2'));
      expect(r.code).toBe(1);
      expect(r.err).toEqual([`tfjs-mae: ${JSON.stringify(typo)} is not a folder of images`]);
      expect(r.out).toEqual([]); // not even the backend was set up
    }
  });
});

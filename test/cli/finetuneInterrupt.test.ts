/**
 * `tfjs-mae finetune` stopped by Ctrl-C, as `pretrain` (interrupt.test.ts;
 * the same handler, whose real-signal path that test covers): a checkpoint of
 * the steps done is saved atomically at the next step boundary, the run exits
 * 130 naming it, and `--resume auto` ends with the checkpoints of an
 * uninterrupted run, byte for byte.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '../../src/train/checkpoint';
import { useLabelledFolder } from '../helpers/labelledFolder';
import { run, runCtrlCAt } from './run';

const labelled = useLabelledFolder('finetune-interrupt');
/** 8 training images, batch 2: 4 steps per epoch, 8 in all. */
const args = (out: string) => ['finetune', labelled.data, '--weights', labelled.weights, '--epochs', '2', '--warmup-epochs', '1', '--batch-size', '2', '--save-every', '1', '--backend', 'cpu', '--output-dir', out];

describe('finetune interrupted', () => {
  it('Ctrl-C saves checkpoint-interrupted and exits 130; --resume auto ends byte-identical', async () => {
    const full = path.join(labelled.dir, 'full');
    expect((await run(...args(full))).code).toBe(0);
    const part = path.join(labelled.dir, 'part');

    // Ctrl-C while step 2 of epoch 1 is reported: the run stops after it.
    const stopped = await runCtrlCAt(/epoch 1\/2 step 2\/8/, ...args(part));
    expect(stopped.code).toBe(130);
    const interrupted = path.join(part, 'checkpoint-interrupted.safetensors');
    expect(stopped.err).toEqual(['tfjs-mae: interrupted; saving a checkpoint after this step (Ctrl-C again to quit without saving)']);
    expect(stopped.out.slice(-2)).toEqual([`saved ${interrupted} (step 2/8)`, `interrupted at step 2/8; continue with --resume auto (or --resume ${interrupted})`]);
    expect(fs.readdirSync(part).filter((n) => n.startsWith('checkpoint-'))).toEqual(['checkpoint-interrupted.safetensors']);
    expect(decodeCheckpoint(new Uint8Array(fs.readFileSync(interrupted)))).toMatchObject({ step: 2, epoch: 0, stepsPerEpoch: 4 });
    expect(fs.existsSync(path.join(part, 'log.txt'))).toBe(false); // no epoch finished

    const r = await run('finetune', labelled.data, '--resume', 'auto', '--save-every', '1', '--output-dir', part, '--backend', 'cpu');
    expect(r.err).toEqual([]);
    expect(r.out[0]).toBe(`resuming from ${interrupted}`);
    for (const name of ['checkpoint-0.safetensors', 'checkpoint-1.safetensors']) {
      expect(fs.readFileSync(path.join(part, name)).equals(fs.readFileSync(path.join(full, name)))).toBe(true);
    }
  });
});

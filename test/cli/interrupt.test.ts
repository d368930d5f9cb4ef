/**
 * `tfjs-mae pretrain` interrupted: Ctrl-C saves and exits 130 (at an exact
 * point, right after an epoch's checkpoint: the race that once gave one file
 * where two were expected; and from a real signal to a separate process,
 * wherever it lands), a `kill -9` at any moment leaves a loadable checkpoint,
 * and `--resume auto` finishes with the same weights as an uninterrupted run,
 * byte for byte.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { isAtomicTemp } from '../../src/node/atomicFile';
import { decodeCheckpoint } from '../../src/train/checkpoint';
import { writeImageFolder } from '../helpers/labelledFolder';
import { runCtrlCAt, startCli, waitFor } from './run';

const TINY = JSON.stringify({ embedDim: 32, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 });
let dir: string;
let data: string;
/** 8 images, batch 2: 4 steps per epoch, 16 in all. */
const args = (out: string) => ['pretrain', data, '--model', 'mae_vit_tiny_patch4', '--model-config', TINY, '--input-size', '16', '--batch-size', '2', '--backend', 'cpu', '--lr', '1e-3', '--epochs', '4', '--save-every', '1', '--output-dir', out];
const quiet = { out: () => undefined, err: () => undefined };
const checkpoints = (out: string) => fs.readdirSync(out).filter((n) => /^checkpoint-.*\.safetensors$/.test(n)).sort();
const stepOf = (file: string) => decodeCheckpoint(new Uint8Array(fs.readFileSync(file))).step;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-interrupt-'));
  data = path.join(dir, 'images');
  writeImageFolder(data, { classes: [], perClass: 8, size: 16 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('pretrain interrupted', () => {
  it('Ctrl-C saves and exits 130 (also right at an epoch end); kill -9 leaves loadable checkpoints; --resume auto ends byte-identical', async () => {
    const full = path.join(dir, 'full');
    expect(await main(args(full), quiet)).toBe(0);
    const part = path.join(dir, 'part');

    // Ctrl-C just after checkpoint-0 was written, before the first step of epoch 2: the run stops at
    // step 4, which checkpoint-0 holds (saved again, the same bytes); no other file.
    const first = await runCtrlCAt(/^saved .*checkpoint-0\.safetensors/, ...args(part));
    expect(first.code).toBe(130);
    const ckpt0 = path.join(part, 'checkpoint-0.safetensors');
    expect(first.err).toEqual(['tfjs-mae: interrupted; saving a checkpoint after this step (Ctrl-C again to quit without saving)']);
    expect(first.out.at(-1)).toBe(`interrupted at step 4/16; continue with --resume auto (or --resume ${ckpt0})`);
    expect(checkpoints(part)).toEqual(['checkpoint-0.safetensors']);
    expect(fs.readFileSync(ckpt0).equals(fs.readFileSync(path.join(full, 'checkpoint-0.safetensors')))).toBe(true);

    // A real Ctrl-C from outside, once the resumed run has stepped: wherever it lands, the file the
    // last line names holds that step, and the checkpoints are those of the epochs done plus it.
    const second = startCli([...args(part), '--resume', 'auto']);
    await waitFor(() => /epoch 2\/4 step +5\/16/.test(second.output()), 'the first step of the resumed run');
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(130);
    const [, stepText, named] = /interrupted at step (\d+)\/16; continue with --resume auto \(or --resume (.*)\)/.exec(second.output()) ?? [];
    const step = Number(stepText);
    expect(step).toBeGreaterThanOrEqual(5);
    expect(stepOf(named)).toBe(step);
    const done = Math.floor(step / 4);
    const expected = [...Array.from({ length: done }, (_, e) => `checkpoint-${e}.safetensors`), ...(step % 4 === 0 ? [] : ['checkpoint-interrupted.safetensors'])];
    expect(checkpoints(part)).toEqual(expected.sort());
    expect(path.basename(named)).toBe(step % 4 === 0 ? `checkpoint-${done - 1}.safetensors` : 'checkpoint-interrupted.safetensors');

    // kill -9 while the next resumed run steps.
    const third = startCli([...args(part), '--resume', 'auto']);
    await waitFor(() => new RegExp(`step +${step + 1}/16`).test(third.output()), 'the first step of the third run');
    third.child.kill('SIGKILL');
    expect(await third.exit).toBe('SIGKILL');
    for (const name of fs.readdirSync(part).filter((n) => n.endsWith('.safetensors'))) {
      expect(() => decodeCheckpoint(new Uint8Array(fs.readFileSync(path.join(part, name))))).not.toThrow();
    }

    expect(await main([...args(part), '--resume', 'auto'], quiet)).toBe(0);
    const a = fs.readFileSync(path.join(full, 'checkpoint-3.safetensors'));
    const b = fs.readFileSync(path.join(part, 'checkpoint-3.safetensors'));
    expect(b.equals(a)).toBe(true);
    expect(fs.readdirSync(part).filter(isAtomicTemp).length).toBeLessThanOrEqual(1); // at most the one a kill -9 interrupted
    const epochs = fs.readFileSync(path.join(part, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
    expect(epochs).toEqual([0, 1, 2, 3]);
  });
});

/**
 * The wasm pre-flight of `pretrain` and `finetune`: a run that cannot fit the
 * heap (here a limit lowered with TFJS_MAE_WASM_HEAP_LIMIT) is refused before
 * any step, naming the model, the estimate, the limit and the flags to
 * change, and leaves no tensor behind.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WASM_HEAP_LIMIT_ENV } from '../../src/cli/memory';
import { writeImageFolder, writeTrainVal, writeTinyWeights } from '../helpers/labelledFolder';
import { run } from './run';

const TINY = JSON.stringify({ embedDim: 32, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 });
let dir: string;
let images: string;
let labelled: string;
let weights: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-memory-'));
  images = path.join(dir, 'images');
  writeImageFolder(images, { perClass: 4, size: 16 });
  labelled = path.join(dir, 'labelled');
  writeTrainVal(labelled);
  weights = path.join(dir, 'tiny.safetensors');
  await tf.setBackend('cpu');
  await writeTinyWeights(weights, 1);
});
afterEach(() => {
  delete process.env[WASM_HEAP_LIMIT_ENV];
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the wasm pre-flight of the training commands', () => {
  const refusal = (command: string) =>
    new RegExp(
      `^tfjs-mae: ${command} --batch-size 4 does not fit the wasm backend: ViT-32d×1/4 (MAE|encoder) at 16×16 px, [\\d.]+ k parameters, train at batch 4 needs an estimated [\\d.]+ MiB more .* ` +
        `but the wasm heap holds at most [\\d.]+ MiB and [\\d.]+ MiB is in use \\(${WASM_HEAP_LIMIT_ENV}=\\d+\\); use (--batch-size \\d+ or less \\(with --accum-iter to keep the effective batch\\)|a smaller model), or --backend tensorflow \\(tfjs-node\\) or cpu$`,
    );

  it('pretrain: refused before any step, no tensor left', async () => {
    const before = tf.memory().numTensors;
    process.env[WASM_HEAP_LIMIT_ENV] = '1000';
    const out = path.join(dir, 'pre');
    const r = await run('pretrain', images, '--model', 'mae_vit_tiny_patch4', '--model-config', TINY, '--input-size', '16', '--batch-size', '4', '--epochs', '1', '--backend', 'wasm', '--output-dir', out);
    expect(tf.getBackend()).toBe('wasm');
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(refusal('pretrain'));
    expect(r.out.some((l) => l.startsWith('[pretrain]'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'log.txt'))).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('finetune: refused before any step, no tensor left; the default limit lets the same run through', async () => {
    const before = tf.memory().numTensors;
    process.env[WASM_HEAP_LIMIT_ENV] = '1000';
    const args = ['finetune', labelled, '--weights', weights, '--batch-size', '4', '--epochs', '1', '--warmup-epochs', '0', '--backend', 'wasm', '--output-dir', path.join(dir, 'ft')];
    const r = await run(...args);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(refusal('finetune'));
    expect(r.out.some((l) => l.startsWith('[finetune]'))).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    delete process.env[WASM_HEAP_LIMIT_ENV];
    const ok = await run(...args);
    expect(ok.err).toEqual([]);
    expect(ok.code).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a bad TFJS_MAE_WASM_HEAP_LIMIT is named', async () => {
    process.env[WASM_HEAP_LIMIT_ENV] = 'lots';
    const r = await run('pretrain', images, '--model', 'mae_vit_tiny_patch4', '--model-config', TINY, '--input-size', '16', '--batch-size', '4', '--epochs', '1', '--backend', 'wasm', '--output-dir', path.join(dir, 'bad'));
    expect(r.code).toBe(1);
    expect(r.err[0]).toBe(`tfjs-mae: ${WASM_HEAP_LIMIT_ENV}: expected a number of bytes (an integer >= 1), got "lots"`);
  });
});

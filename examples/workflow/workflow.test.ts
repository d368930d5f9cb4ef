/**
 * The "Train, probe, fine-tune" guide's script, run small (128 training
 * images, 2 + 1 epochs, a 16-wide encoder) on wasm; and every code block the
 * guide quotes from it is in it.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { trainProbeFinetune } from './workflow';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

const squash = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean).join('\n');

describe('examples/workflow (docs/train-probe-finetune.md)', () => {
  it("the guide's code blocks are the script's code", () => {
    const guide = readFileSync(new URL('../../docs/train-probe-finetune.md', import.meta.url), 'utf8');
    const script = squash(readFileSync(new URL('./workflow.ts', import.meta.url), 'utf8'));
    const blocks = [...guide.matchAll(/<!-- from workflow\.ts -->\n```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    for (const block of blocks) expect(script, block).toContain(squash(block));
  });

  it('pre-trains (the loss falls), probes and fine-tunes, leaking no tensor', async () => {
    const before = tf.memory().numTensors;
    const r = await trainProbeFinetune({ trainImages: 128, testImages: 64, pretrainEpochs: 2, finetuneEpochs: 1, embedDim: 16, depth: 1 });
    expect(tf.memory().numTensors).toBe(before);
    console.log(`workflow (tiny): ${JSON.stringify(r)}`);
    expect(r.pretrainLoss[1]).toBeLessThan(r.pretrainLoss[0]);
    for (const acc of [r.probeAccuracy, r.finetuneAccuracy]) {
      expect(acc).toBeGreaterThanOrEqual(0);
      expect(acc).toBeLessThanOrEqual(1);
    }
  }, 600_000);
});

/**
 * The benchmark's "encoder w/ [M]" model (bench/models.ts) on a toy config:
 * official names, every parameter receives a gradient, and one full AdamW
 * training step leaks no tensor. No timing here.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BenchConfig } from '../../bench/configs';
import { maeOptimizer, trainStep } from '../../bench/measure';
import { MaskTokensMAE, buildMae } from '../../bench/models';

const toy: BenchConfig = {
  imgSize: 8, patchSize: 4, inChans: 3, embedDim: 8, depth: 1, numHeads: 2,
  decoderEmbedDim: 4, decoderDepth: 1, decoderNumHeads: 1, mlpRatio: 2,
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('MaskTokensMAE (bench)', () => {
  it('has the official names, encoder_mask_token [1, 1, D] instead of mask_token [1, 1, Dd]', () => {
    const mt = new MaskTokensMAE(toy, 0.75);
    const mae = buildMae(toy, 0.75);
    try {
      const names = mt.params.map((p) => p.name);
      expect(names).toContain('encoder_mask_token');
      expect(names).not.toContain('mask_token');
      const maeNames = mae.params.map((p) => p.name).filter((n) => n !== 'mask_token');
      expect(names.filter((n) => n !== 'encoder_mask_token').sort()).toEqual(maeNames.sort());
      const size = (ps: { variable: tf.Variable }[]) => ps.reduce((s, p) => s + p.variable.size, 0);
      expect(size(mt.params)).toBe(size(mae.params) - toy.decoderEmbedDim + toy.embedDim);
    } finally {
      mt.dispose();
      mae.dispose();
    }
  });

  it('gives every parameter a finite, non-zero gradient', async () => {
    const mt = new MaskTokensMAE(toy, 0.75);
    const imgs = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const vars = mt.params.map((p) => p.variable);
    const { value, grads } = tf.variableGrads(() => mt.loss(imgs), vars);
    try {
      expect(Number.isFinite((await value.data())[0])).toBe(true);
      for (const p of mt.params) {
        const g = grads[p.variable.name];
        expect(g, p.name).toBeDefined();
        const norm = (await tf.tidy(() => tf.sum(tf.abs(g))).data())[0];
        expect(Number.isFinite(norm) && norm > 0, `${p.name} |grad| = ${norm}`).toBe(true);
      }
    } finally {
      tf.dispose([value, imgs, ...Object.values(grads)]);
      mt.dispose();
    }
  });

  it('runs a full AdamW step (both variants) without leaking tensors', async () => {
    for (const model of [new MaskTokensMAE(toy, 0.75), buildMae(toy, 0.75)]) {
      const opt = maeOptimizer(model);
      const imgs = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
      tf.dispose(trainStep(model, opt, imgs)); // creates the AdamW moments
      const before = tf.memory().numTensors;
      const loss = trainStep(model, opt, imgs);
      await loss.data();
      loss.dispose();
      expect(tf.memory().numTensors).toBe(before);
      opt.dispose();
      model.dispose();
      imgs.dispose();
    }
  });
});

describe('bench models leave no tensor behind', () => {
  // `npm run bench -- --threads 1,2` rebuilds wasm between blocks, which useWasmThreads refuses while tensors exist
  it('building and disposing either variant leaves tf.memory() as it was', () => {
    const before = tf.memory().numTensors;
    new MaskTokensMAE(toy, 0.75).dispose();
    buildMae(toy, 0.75).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

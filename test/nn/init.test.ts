/**
 * Deferred initialisation (the build a load runs under): weights start as
 * zeros, their initial values are recorded, and `initialize()` draws exactly
 * what an immediate build draws (seeded draws are stateless), skipping the
 * weights written in between; cpu and wasm.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type MAELayer, MaskedAutoencoder, ViTClassifier, maeVitTinyPatch4 } from '../../src';
import { deferInit, deferredInit, initWeight } from '../../src/nn/init';
import { describeBackends } from '../../src/testing';

async function valuesOf(model: MAELayer): Promise<number[][]> {
  return Promise.all(model.weights.map(async (w) => Array.from(await w.read().data())));
}

describeBackends(['cpu', 'wasm'], (backend) => {
  const builds: Array<[string, () => MAELayer]> = [
    ['MaskedAutoencoder', () => maeVitTinyPatch4({ seed: 12 })],
    ['ViTClassifier (timm re-init of every Linear)', () => new ViTClassifier({ imgSize: 16, patchSize: 4, inChans: 1, embedDim: 32, depth: 2, numHeads: 2, numClasses: 3, seed: 13 })],
    ['ViTClassifier with a linear-probe head', () => new ViTClassifier({ imgSize: 16, patchSize: 4, inChans: 1, embedDim: 32, depth: 1, numHeads: 2, numClasses: 3, head: 'linprobe', globalPool: false, seed: 14 })],
  ];
  for (const [what, build] of builds) {
    it(`${what}: zeros until initialize(), then bit-identical to an immediate build; no extra tensors [${backend}]`, async () => {
      const eager = build();
      const before = tf.memory().numTensors;
      const [deferred, pending] = deferInit(build);
      expect(tf.memory().numTensors - before).toBe(eager.weights.length);
      expect(deferredInit()).toBeUndefined();
      const zeros = (await valuesOf(deferred)).filter((v) => v.every((x) => x === 0)).length;
      expect(zeros).toBe(deferred.weights.length);
      const n = pending.size;
      expect(pending.initialize()).toBe(n);
      expect(await valuesOf(deferred)).toEqual(await valuesOf(eager));
      expect(tf.memory().numTensors - before).toBe(eager.weights.length);
      eager.dispose();
      deferred.dispose();
    });
  }

  it(`a weight written before initialize() keeps its value; the others are drawn [${backend}]`, async () => {
    const eager = maeVitTinyPatch4({ seed: 15 });
    const [mae, pending] = deferInit(() => maeVitTinyPatch4({ seed: 15 }));
    const n = pending.size;
    const cls = mae.encoder.clsToken;
    tf.tidy(() => void cls.write(tf.fill(cls.shape as number[], 7)));
    expect(pending.initialize()).toBe(n - 1);
    expect(Array.from(await cls.read().data()).every((x) => x === 7)).toBe(true);
    const [a, b] = [await valuesOf(mae), await valuesOf(eager)];
    const i = mae.weights.indexOf(cls);
    expect(a.filter((_, j) => j !== i)).toEqual(b.filter((_, j) => j !== i));
    expect(pending.initialize()).toBe(0); // once
    [mae, eager].forEach((m) => m.dispose());
  });
}, { describe, beforeAll });

describe('initWeight', () => {
  it('writes at once outside deferInit; inside, the last draw recorded wins', async () => {
    const mae = new MaskedAutoencoder({ imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 1 });
    const token = mae.encoder.clsToken;
    initWeight(token, () => tf.fill(token.shape as number[], 2));
    expect(Array.from(await token.read().data())).toEqual(new Array(8).fill(2));
    const [, pending] = deferInit(() => {
      initWeight(token, () => tf.fill(token.shape as number[], 3));
      initWeight(token, () => tf.fill(token.shape as number[], 4));
    });
    expect(Array.from(await token.read().data())).toEqual(new Array(8).fill(2)); // recorded, not written
    expect(pending.initialize()).toBe(1);
    expect(Array.from(await token.read().data())).toEqual(new Array(8).fill(4));
    mae.dispose();
  });
});

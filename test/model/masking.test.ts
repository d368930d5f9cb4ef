/**
 * MaskedAutoencoder with a masking strategy by config: the choice survives
 * getConfig / fromConfig, the strategy is what masks, external idsKeep, and
 * per-block outputs through the whole model without leaks.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MaskedAutoencoder } from '../../src';
import { BlockMasking } from '../../src/mask/BlockMasking';
import { outputTensors } from '../../src/model/MaskedAutoencoder';
import { expectNoLeaks, expectTensorsClose } from '../../src/testing';

const tiny = {
  imgSize: 8, patchSize: 2, inChans: 1, embedDim: 8, depth: 1, numHeads: 2,
  decoderEmbedDim: 8, decoderDepth: 2, decoderNumHeads: 2, seed: 1,
} as const; // grid 4×4, L = 16

let imgs: tf.Tensor4D;
beforeAll(async () => {
  await tf.setBackend('cpu');
  imgs = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
});
afterAll(() => imgs.dispose());

describe('MaskedAutoencoder masking', () => {
  it('{ type: "block", ... } survives getConfig → JSON → fromConfig: same config, masks and loss', async () => {
    const m = new MaskedAutoencoder({ ...tiny, maskRatio: 0.5, masking: { type: 'block', minNumPatches: 4 } });
    m.ensureBuilt();
    const config = JSON.parse(JSON.stringify(m.getConfig()));
    expect(config.masking).toEqual({ type: 'block', minNumPatches: 4, maxNumPatches: null, minAspect: 0.3, maxAspect: 1 / 0.3, maxAttempts: 10 });
    delete config.name;
    const [ctor, fromConfig] = serialization.SerializationMap.getMap().classNameMap[MaskedAutoencoder.className];
    const copy = fromConfig(ctor, config) as unknown as MaskedAutoencoder;
    copy.ensureBuilt();
    copy.setWeights(m.getWeights());
    expect(copy.encoder.masking).toBeInstanceOf(BlockMasking);
    expect(copy.config.masking).toEqual(m.config.masking);
    const a = m.forward(imgs, { seed: 5 });
    const b = copy.forward(imgs, { seed: 5 });
    await expectTensorsClose(b.mask, a.mask, { atol: 0, name: 'mask' });
    await expectTensorsClose(b.loss, a.loss, { atol: 0, name: 'loss' });
    // the block strategy masks: exactly half, and the same masks as BlockMasking itself
    const ref = new BlockMasking({ minNumPatches: 4 }).sample(2, [4, 4], { maskRatio: 0.5, seed: 5 });
    await expectTensorsClose(a.mask, ref.mask, { atol: 0, name: 'mask = BlockMasking' });
    expect((await tf.sum(a.mask, 1).array()) as number[]).toEqual([8, 8]);
    tf.dispose([...outputTensors(a), ...outputTensors(b), ref.idsKeep, ref.idsRestore, ref.mask]);
    m.dispose();
    copy.dispose();
  });

  it('the default config says { type: "random" } and reproduces the default masks', async () => {
    const m = new MaskedAutoencoder(tiny);
    expect(m.getConfig().masking).toEqual({ type: 'random' });
    const copy = new MaskedAutoencoder({ ...tiny, masking: { type: 'random' } });
    const a = m.forward(imgs, { seed: 9 });
    const b = copy.forward(imgs, { seed: 9 });
    await expectTensorsClose(b.idsKeep, a.idsKeep, { atol: 0 });
    tf.dispose([...outputTensors(a), ...outputTensors(b)]);
    m.dispose();
    copy.dispose();
  });

  it('grid: 0.75 keeps the top-left patch of each 2×2 cell; other ratios fail at construction', async () => {
    const m = new MaskedAutoencoder({ ...tiny, masking: 'grid' });
    const out = m.forward(imgs);
    expect(await out.idsKeep.array()).toEqual([[0, 2, 8, 10], [0, 2, 8, 10]]);
    tf.dispose(outputTensors(out));
    m.dispose();
    expect(() => new MaskedAutoencoder({ ...tiny, masking: 'grid', maskRatio: 0.6 })).toThrow(MAEConfigError);
  });

  it('external idsKeep and maskRatio 0 through the whole model', async () => {
    const m = new MaskedAutoencoder(tiny);
    const ids = tf.tensor2d([[0, 5, 10, 15], [3, 6, 9, 12]], [2, 4], 'int32');
    const out = m.forward(imgs, { idsKeep: ids });
    expect(out.latent.shape).toEqual([2, 5, 8]);
    expect(((await tf.sum(out.mask, 1).array()) as number[])).toEqual([12, 12]);
    const none = m.forward(imgs, { maskRatio: 0 });
    expect((await none.loss.data())[0]).toBe(0); // nothing removed: nothing to reconstruct
    tf.dispose([ids, ...outputTensors(out), ...outputTensors(none)]);
    m.dispose();
  });

  it('per-block outputs of encoder and decoder on request; loss() and forward + dispose leak nothing', async () => {
    const m = new MaskedAutoencoder(tiny);
    const opts = { seed: 1, outputHiddenStates: true, outputAttentions: true };
    const out = m.forward(imgs, opts);
    expect(out.hiddenStates!.map((t) => t.shape)).toEqual([[2, 5, 8]]);
    expect(out.attentions!.map((t) => t.shape)).toEqual([[2, 2, 5, 5]]);
    expect(out.decoderHiddenStates!.map((t) => t.shape)).toEqual([[2, 17, 8], [2, 17, 8]]);
    expect(out.decoderAttentions!.map((t) => t.shape)).toEqual([[2, 2, 17, 17], [2, 2, 17, 17]]);
    tf.dispose(outputTensors(out));
    const plain = m.forward(imgs, { seed: 1 });
    expect(Object.keys(plain).sort()).toEqual(['idsKeep', 'idsRestore', 'latent', 'loss', 'mask', 'pred']);
    tf.dispose(outputTensors(plain));
    await expectNoLeaks(() => {
      tf.dispose(m.loss(imgs, opts));
      tf.dispose(outputTensors(m.forward(imgs, opts)));
      const { value, grads } = tf.variableGrads(() => m.loss(imgs, opts));
      tf.dispose([value, ...Object.values(grads)]);
    });
    m.dispose();
  });
});

/**
 * The encoder through its public interface: masking strategies by config
 * (and through serialisation), no masking, externally given idsKeep,
 * per-block hidden states and attention maps, and leaks. cpu and wasm.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError, ViTEncoder } from '../../src';
import { BlockMasking } from '../../src/mask/BlockMasking';
import { GridMasking } from '../../src/mask/GridMasking';
import type { EncoderOutput } from '../../src/encode/ViTEncoder';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';

const tiny = { imgSize: 8, patchSize: 2, inChans: 1, embedDim: 8, depth: 2, numHeads: 2, seed: 1 } as const; // grid 4×4, L = 16

function all(out: EncoderOutput): tf.Tensor[] {
  return [out.latent, out.mask, out.idsRestore, out.idsKeep, ...(out.hiddenStates ?? []), ...(out.attentions ?? [])];
}

/** A copy through getConfig → JSON → fromConfig, with the same weights. */
function roundTrip(enc: ViTEncoder): ViTEncoder {
  enc.ensureBuilt();
  const config = JSON.parse(JSON.stringify(enc.getConfig()));
  delete config.name;
  const [ctor, fromConfig] = serialization.SerializationMap.getMap().classNameMap[ViTEncoder.className];
  const copy = fromConfig(ctor, config) as unknown as ViTEncoder;
  copy.ensureBuilt();
  copy.setWeights(enc.getWeights());
  return copy;
}

describeBackends(['cpu', 'wasm'], (backend) => {
  let imgs: tf.Tensor4D;
  beforeAll(() => {
    imgs = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
  });
  afterAll(() => imgs.dispose());

  describe(`masking by config [${backend}]`, () => {
    it('block and grid configs survive getConfig / fromConfig and give the same outputs', async () => {
      for (const masking of [{ type: 'block', minNumPatches: 4, maxAspect: 2 }, 'grid', 'random'] as const) {
        const enc = new ViTEncoder({ ...tiny, masking });
        const copy = roundTrip(enc);
        expect(copy.getConfig().masking).toEqual(enc.getConfig().masking);
        expect(copy.masking.constructor).toBe(enc.masking.constructor);
        const a = enc.forward(imgs, { seed: 3 });
        const b = copy.forward(imgs, { seed: 3 });
        for (const k of ['idsKeep', 'idsRestore', 'mask', 'latent'] as const) {
          await expectTensorsClose(b[k], a[k], { atol: 0, name: `${JSON.stringify(masking)} ${k}` });
        }
        tf.dispose([...all(a), ...all(b)]);
        enc.dispose();
        copy.dispose();
      }
    });

    it('the configured strategy chooses the patches (block: same masks as BlockMasking itself)', async () => {
      const enc = new ViTEncoder({ ...tiny, maskRatio: 0.5, masking: { type: 'block', minNumPatches: 4 } });
      const out = enc.forward(imgs, { seed: 11 });
      const ref = new BlockMasking({ minNumPatches: 4 }).sample(2, [4, 4], { maskRatio: 0.5, seed: 11 });
      await expectTensorsClose(out.idsKeep, ref.idsKeep, { atol: 0, name: 'idsKeep' });
      await expectTensorsClose(out.mask, ref.mask, { atol: 0, name: 'mask' });
      expect(out.latent.shape).toEqual([2, 1 + 8, 8]);
      tf.dispose([...all(out), ref.idsKeep, ref.idsRestore, ref.mask]);
      enc.dispose();
    });

    it('a ratio the strategy cannot realise fails at construction', () => {
      expect(() => new ViTEncoder({ ...tiny, masking: 'grid', maskRatio: 0.5 })).toThrow(MAEConfigError);
      expect(() => new ViTEncoder({ ...tiny, masking: 'grid', maskRatio: 0.5 })).toThrow(/GridMasking needs maskRatio/);
      expect(() => new ViTEncoder({ ...tiny, masking: 'nope' })).toThrow(/masking type must be one of/);
      expect(() => new ViTEncoder({ ...tiny, maskRatio: 0.95 })).toThrow(/keeps Math.trunc\(16 \* \(1 - 0.95\)\) = 0 of 16/);
    });
  });

  describe(`no masking and external idsKeep [${backend}]`, () => {
    let enc: ViTEncoder;
    beforeAll(() => {
      enc = new ViTEncoder(tiny);
    });
    afterAll(() => enc.dispose());

    it('maskRatio 0 keeps every patch in patch order, for every strategy, = forwardFeatures', async () => {
      const features = enc.forwardFeatures(imgs);
      expect(features.shape).toEqual([2, 17, 8]);
      for (const masking of ['random', 'block', 'grid'] as const) {
        const e = new ViTEncoder({ ...tiny, masking });
        e.ensureBuilt();
        e.setWeights(enc.getWeights());
        const out = e.forward(imgs, { maskRatio: 0 });
        expect(Array.from(await out.idsKeep.data())).toEqual([...Array(16).keys(), ...Array(16).keys()]);
        expect(Array.from(await out.mask.data()).every((m) => m === 0)).toBe(true);
        await expectTensorsClose(out.latent, features, { atol: 0, name: `${masking} latent` });
        tf.dispose(all(out));
        e.dispose();
      }
      features.dispose();
    });

    it('given the idsKeep of a random draw, reproduces its latent exactly (any order)', async () => {
      const noise = tf.randomUniform([2, 16], 0, 1, 'float32', 5);
      const a = enc.forward(imgs, { noise });
      const b = enc.forward(imgs, { idsKeep: a.idsKeep });
      await expectTensorsClose(b.idsKeep, a.idsKeep, { atol: 0, name: 'idsKeep' });
      await expectTensorsClose(b.mask, a.mask, { atol: 0, name: 'mask' });
      await expectTensorsClose(b.latent, a.latent, { atol: 0, name: 'latent' });
      tf.dispose([noise, ...all(a), ...all(b)]);
    });

    it('given the grid ids, equals the grid strategy (patch order, idsRestore too)', async () => {
      const g = new ViTEncoder({ ...tiny, masking: 'grid' });
      g.ensureBuilt();
      g.setWeights(enc.getWeights());
      const ids = tf.tensor2d([[0, 2, 8, 10], [0, 2, 8, 10]], [2, 4], 'int32');
      const a = g.forward(imgs);
      const b = enc.forward(imgs, { idsKeep: ids });
      for (const k of ['idsKeep', 'idsRestore', 'mask', 'latent'] as const) await expectTensorsClose(b[k], a[k], { atol: 0, name: k });
      tf.dispose([ids, ...all(a), ...all(b)]);
      g.dispose();
    });

    it('idsKeep: gradients reach the weights; bad ids are typed errors; nothing leaks', async () => {
      const ids = tf.tensor2d([[3, 1], [0, 15]], [2, 2], 'int32');
      const noise = tf.zeros([2, 16]);
      const oneRow = tf.tensor2d([[1]], [1, 1], 'int32');
      const tooMany = tf.zeros([2, 17], 'int32');
      const vars = enc.trainableWeights.map((w) => w.read() as tf.Variable);
      await expectNoLeaks(() => {
        const { value, grads } = tf.variableGrads(() => {
          const out = enc.forward(imgs, { idsKeep: ids });
          tf.dispose([out.mask, out.idsRestore, out.idsKeep]);
          return tf.sum(tf.square(out.latent)) as tf.Scalar;
        }, vars);
        expect(Object.keys(grads).length).toBe(vars.length);
        tf.dispose([value, ...Object.values(grads)]);
        expect(() => enc.forward(imgs, { idsKeep: oneRow })).toThrow(MAEInputError);
        expect(() => enc.forward(imgs, { idsKeep: oneRow })).toThrow(/idsKeep must have N = 2 rows \(the batch\), got shape \[1, 1\]/);
        expect(() => enc.forward(imgs, { idsKeep: ids, noise })).toThrow(/either idsKeep or noise/);
        expect(() => enc.forward(imgs, { idsKeep: tooMany })).toThrow(/idsKeep must be int32 \[N, K\] with 1 ≤ K ≤ L = 16, got int32 \[2, 17\]/);
      }, 'idsKeep forward + backward and errors');
      tf.dispose([ids, noise, oneRow, tooMany]);
    });
  });

  describe(`hidden states and attention maps [${backend}]`, () => {
    let enc: ViTEncoder;
    beforeAll(() => {
      enc = new ViTEncoder(tiny);
    });
    afterAll(() => enc.dispose());

    it('one per block, chained: h[i] = block_i(h[i−1]), latent = norm(h[last]); attention rows sum to 1', async () => {
      const plain = enc.forward(imgs, { seed: 2 });
      const out = enc.forward(imgs, { seed: 2, outputHiddenStates: true, outputAttentions: true });
      const h = out.hiddenStates!;
      const att = out.attentions!;
      expect(h.length).toBe(2);
      expect(att.length).toBe(2);
      expect(h[0].shape).toEqual([2, 5, 8]); // 1 + lenKeep 4
      expect(att[0].shape).toEqual([2, 2, 5, 5]);
      await expectTensorsClose(out.latent, plain.latent, { atol: 0, name: 'latent with and without outputs' });
      const second = enc.blocks[1].call(h[0]);
      const normed = enc.norm.call(h[1]);
      await expectTensorsClose(second, h[1], { atol: 1e-6, name: 'hiddenStates[1]' });
      await expectTensorsClose(normed, out.latent, { atol: 1e-6, name: 'latent = norm(hiddenStates[1])' });
      for (const a of att) {
        const rows = tf.sum(a, -1);
        await expectTensorsClose(rows, tf.onesLike(rows), { atol: 1e-6, name: 'attention row sums' });
        expect((await tf.min(a).data())[0]).toBeGreaterThanOrEqual(0);
        tf.dispose(rows);
      }
      tf.dispose([second, normed, ...all(plain), ...all(out)]);
    });

    it('no leak: without the flags only the 4 outputs exist; with them 4 + 2·depth, all freed by dispose', async () => {
      await expectNoLeaks(() => {
        const before = tf.memory().numTensors;
        const plain = enc.forward(imgs, { seed: 1 });
        expect(plain.hiddenStates).toBeUndefined();
        expect(plain.attentions).toBeUndefined();
        expect(tf.memory().numTensors - before).toBe(4);
        tf.dispose(all(plain));
        const full = enc.forward(imgs, { seed: 1, outputHiddenStates: true, outputAttentions: true });
        expect(tf.memory().numTensors - before).toBe(4 + 2 * 2);
        tf.dispose(all(full));
      });
    });

    it('no leak when a block throws half-way with the flags set', async () => {
      const block = enc.blocks[1];
      const original = block.call.bind(block);
      block.call = () => {
        throw new Error('boom');
      };
      try {
        await expectNoLeaks(() => {
          expect(() => enc.forward(imgs, { seed: 1, outputHiddenStates: true, outputAttentions: true })).toThrow('boom');
        });
      } finally {
        block.call = original;
      }
    });
  });
}, { describe, beforeAll });

describe('strategy objects', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  it('an encoder takes a strategy object and serialises it by its config', () => {
    const enc = new ViTEncoder({ ...tiny, masking: new GridMasking() });
    expect(enc.getConfig().masking).toEqual({ type: 'grid' });
    const bare = new ViTEncoder({ ...tiny, masking: { sample: () => { throw new Error('unused'); }, lenKeep: () => 4 } });
    expect(() => bare.getConfig()).toThrow(/has no toConfig\(\)/);
  });
});

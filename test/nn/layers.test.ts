/**
 * Every layer: eager `apply`, `getConfig` → `fromConfig` round trip with
 * identical outputs, no leaks, and the official structure (names, counts).
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAEConfigError } from '../../src/errors';
import {
  Attention,
  LayerNorm,
  Linear,
  MAEDecoder,
  MaskedAutoencoder,
  Mlp,
  PatchEmbed,
  RandomMasking,
  TransformerBlock,
  ViTEncoder,
  type MAELayer,
} from '../../src';
import { expectNoLeaks, expectTensorsClose } from '../../src/testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const imgs = () => tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);

interface Case {
  make: () => MAELayer;
  input: () => tf.Tensor | tf.Tensor[];
  kwargs?: () => Record<string, unknown>;
}

const cases: Record<string, Case> = {
  Linear: { make: () => new Linear({ inFeatures: 6, units: 5, seed: 1 }), input: () => tf.randomNormal([2, 3, 6], 0, 1, 'float32', 2) },
  LayerNorm: { make: () => new LayerNorm({ dim: 6 }), input: () => tf.randomNormal([2, 3, 6], 0, 1, 'float32', 2) },
  Attention: { make: () => new Attention({ dim: 8, numHeads: 2, seed: 1 }), input: () => tf.randomNormal([2, 5, 8], 0, 1, 'float32', 2) },
  Mlp: { make: () => new Mlp({ dim: 8, hidden: 12, seed: 1 }), input: () => tf.randomNormal([2, 5, 8], 0, 1, 'float32', 2) },
  TransformerBlock: { make: () => new TransformerBlock({ dim: 8, numHeads: 2, seed: 1 }), input: () => tf.randomNormal([2, 5, 8], 0, 1, 'float32', 2) },
  PatchEmbed: { make: () => new PatchEmbed({ imgSize: 8, patchSize: 4, embedDim: 8, seed: 1 }), input: imgs },
  RandomMasking: {
    make: () => new RandomMasking({ maskRatio: 0.5 }),
    input: () => tf.randomNormal([2, 4, 8], 0, 1, 'float32', 2),
    kwargs: () => ({ seed: 3 }),
  },
  ViTEncoder: {
    make: () => new ViTEncoder({ imgSize: 8, patchSize: 4, embedDim: 8, depth: 1, numHeads: 2, seed: 1 }),
    input: imgs,
    kwargs: () => ({ seed: 3 }),
  },
  MAEDecoder: {
    make: () => new MAEDecoder({ gridSize: 2, patchSize: 4, embedDim: 8, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 1 }),
    input: () => [tf.randomNormal([2, 2, 8], 0, 1, 'float32', 2), tf.tensor2d([[1, 0, 2, 3], [3, 2, 1, 0]], [2, 4], 'int32')],
  },
  MaskedAutoencoder: {
    make: () =>
      new MaskedAutoencoder({ imgSize: 8, patchSize: 4, embedDim: 8, depth: 1, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 1 }),
    input: imgs,
    kwargs: () => ({ seed: 3 }),
  },
};

const asList = (x: tf.Tensor | tf.Tensor[]): tf.Tensor[] => (Array.isArray(x) ? x : [x]);

describe('layers', () => {
  for (const [name, c] of Object.entries(cases)) {
    describe(name, () => {
      let layer: MAELayer;
      let input: tf.Tensor | tf.Tensor[];
      beforeAll(() => {
        layer = c.make();
        input = c.input();
      });
      afterAll(() => {
        layer.dispose();
        tf.dispose(input);
      });

      it('is registered for serialization under its className', () => {
        const cls = layer.constructor as unknown as { className: string };
        expect(serialization.SerializationMap.getMap().classNameMap[cls.className]).toBeDefined();
      });

      it('getConfig → fromConfig gives identical outputs', async () => {
        const out1 = asList(layer.apply(input, c.kwargs?.()) as tf.Tensor | tf.Tensor[]);
        const cls = layer.constructor as unknown as serialization.SerializableConstructor<MAELayer>;
        const config = JSON.parse(JSON.stringify(layer.getConfig()));
        delete config.name;
        const [ctor, fromConfig] = serialization.SerializationMap.getMap().classNameMap[cls.className];
        const copy = fromConfig(ctor, config) as unknown as MAELayer;
        copy.ensureBuilt();
        copy.setWeights(layer.getWeights());
        const out2 = asList(copy.apply(input, c.kwargs?.()) as tf.Tensor | tf.Tensor[]);
        expect(out2.length).toBe(out1.length);
        for (let i = 0; i < out1.length; i++) {
          expect(out2[i].shape).toEqual(out1[i].shape);
          await expectTensorsClose(out2[i], out1[i], { atol: 0, name: `${name} output ${i}` });
        }
        tf.dispose([...out1, ...out2]);
        copy.dispose();
      });

      it('apply and its gradient leak no tensor', async () => {
        await expectNoLeaks(() => {
          const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
          const f = () => tf.tidy(() => tf.sum(asList(layer.apply(input, c.kwargs?.()) as tf.Tensor | tf.Tensor[])[0]) as tf.Scalar);
          if (vars.length === 0) {
            tf.dispose(f());
            return;
          }
          const { value, grads } = tf.variableGrads(f, vars);
          tf.dispose([value, ...Object.values(grads)]);
        }, name);
      });
    });
  }
});

describe('structure', () => {
  it('MaskedAutoencoder lists its weights under the official names, in the official order', () => {
    const m = cases.MaskedAutoencoder.make();
    const names = m.stateEntries().map((e) => e.name);
    expect(names.slice(0, 6)).toEqual(['cls_token', 'pos_embed', 'mask_token', 'decoder_pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias']);
    expect(names).toContain('blocks.0.attn.qkv.weight');
    expect(names.at(-1)).toBe('decoder_pred.bias');
    // the frozen tables are weights but not trainable
    expect(m.nonTrainableWeights.length).toBe(2);
    expect(m.trainableWeights.length + 2).toBe(names.length);
    m.dispose();
  });

  it('the same seed gives the same weights; another seed other weights', async () => {
    const a = cases.MaskedAutoencoder.make();
    const b = cases.MaskedAutoencoder.make();
    const c = new MaskedAutoencoder({ ...(a.getConfig() as object), name: undefined, seed: 2 });
    a.ensureBuilt();
    b.ensureBuilt();
    c.ensureBuilt();
    const wa = a.getWeights();
    const wb = b.getWeights();
    const wc = c.getWeights();
    for (let i = 0; i < wa.length; i++) await expectTensorsClose(wb[i], wa[i], { atol: 0 });
    const diff = tf.sum(tf.abs(tf.sub(wa[1], wc[1])));
    expect((await diff.data())[0]).toBeGreaterThan(0);
    diff.dispose(); // getWeights() returns the variables themselves: not disposed here
    [a, b, c].forEach((m) => m.dispose());
  });

  it('ViT-Base has the official parameter count (111,907,840 in the state dict)', () => {
    const m = new MaskedAutoencoder({ embedDim: 768, depth: 12, numHeads: 12 });
    m.ensureBuilt();
    const count = m.weights.reduce((s, w) => s + w.shape.reduce((a, b) => (a as number) * (b as number), 1)!, 0);
    expect(count).toBe(111_907_840);
    m.dispose();
  });
});

describe('dispose', () => {
  it('releases every weight even when only the sub-layers were built by a forward pass', async () => {
    const before = tf.memory().numTensors;
    const mae = cases.MaskedAutoencoder.make() as MaskedAutoencoder;
    const x = imgs();
    const out = mae.forward(x, { seed: 0 });
    tf.dispose([x, ...Object.values(out)]);
    const { numDisposedVariables } = mae.dispose();
    expect(numDisposedVariables).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a layer never used releases the weights its constructor created', () => {
    const before = tf.memory().numTensors;
    const m = cases.MaskedAutoencoder.make();
    expect(m.dispose().numDisposedVariables).toBe(m.weights.length);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a deferred layer never used releases nothing and does not throw', () => {
    const before = tf.memory().numTensors;
    const m = new MaskedAutoencoder({ imgSize: 8, patchSize: 4, embedDim: 8, depth: 1, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, deferBuild: true });
    expect(m.dispose().numDisposedVariables).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('weights at construction', () => {
  const tiny = { imgSize: 8, patchSize: 4, embedDim: 8, depth: 1, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2 };

  for (const [name, c] of Object.entries(cases)) {
    if (name === 'RandomMasking') continue; // no weights
    it(`${name} has its trainable weights right after the constructor`, () => {
      const layer = c.make();
      expect(layer.built).toBe(true);
      expect(layer.trainableWeights.length).toBeGreaterThan(0);
      layer.dispose();
    });
  }

  it('optimizer.minimize and tf.variableGrads work on a fresh model, with no forward first', async () => {
    const x = imgs();
    const mae = new MaskedAutoencoder(tiny);
    const adam = tf.train.adam(1e-3);
    const cost = adam.minimize(() => mae.loss(x, { seed: 1 }), true)!;
    expect(Number.isFinite((await cost.data())[0])).toBe(true);
    const { value, grads } = tf.variableGrads(() => mae.loss(x, { seed: 1 }));
    const names = mae.trainableWeights.map((w) => (w.read() as tf.Variable).name);
    expect(Object.keys(grads).sort()).toEqual([...names].sort());
    tf.dispose([x, cost, value, ...Object.values(grads)]);
    adam.dispose();
    mae.dispose();
  });

  it('without any tfjs backend registered, the constructor says to import one (not tfjs-core\'s "No backend found in registry." stack)', () => {
    const spy = vi.spyOn(tf.engine(), 'backendNames').mockReturnValue([]);
    try {
      const before = tf.memory().numTensors;
      expect(() => new MaskedAutoencoder(tiny)).toThrow(MAEConfigError);
      expect(() => new MaskedAutoencoder(tiny)).toThrow(
        /^MaskedAutoencoder: no tfjs backend is registered, so its weights cannot be created\. tfjs-mae brings none: import one before building a model, e\.g\. import '@tensorflow\/tfjs-backend-wasm'/,
      );
      expect(tf.memory().numTensors).toBe(before);
      const deferred = new MaskedAutoencoder({ ...tiny, deferBuild: true }); // reading a config needs no backend
      expect(deferred.built).toBe(false);
    } finally {
      spy.mockRestore();
    }
  });

  it('deferBuild leaves the weights to the first use, with the same seeded values', async () => {
    const eager = new MaskedAutoencoder({ ...tiny, seed: 7 });
    const lazy = new MaskedAutoencoder({ ...tiny, seed: 7, deferBuild: true });
    expect(lazy.built).toBe(false);
    expect(lazy.trainableWeights).toEqual([]);
    lazy.ensureBuilt();
    const [a, b] = [eager.getWeights(), lazy.getWeights()];
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) await expectTensorsClose(b[i], a[i], { atol: 0 });
    eager.dispose();
    lazy.dispose();
  });
});

describe('seeds', () => {
  it('seed 0 is a seed (tfjs normal draws treat 0 as none): a timm re-init with seed 0 repeats', async () => {
    const { reinitLinear } = await import('../../src/classify/init');
    const a = new Linear({ inFeatures: 4, units: 3 });
    const b = new Linear({ inFeatures: 4, units: 3 });
    reinitLinear(a, 0.02, 0);
    reinitLinear(b, 0.02, 0);
    await expectTensorsClose(b.kernel.read(), a.kernel.read(), { atol: 0 });
    a.dispose();
    b.dispose();
  });
});

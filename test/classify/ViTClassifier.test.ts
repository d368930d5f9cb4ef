/**
 * ViTClassifier against the official fine-tuning model (`models_vit.py`,
 * fixture vit_cls_tiny), on cpu and wasm: logits ≤ 1e-5, features and block
 * outputs ≤ 2e-5 (the fixtures' README tolerances), no leaks, config round
 * trip, fromMAE, and the training-only noise.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ViTClassifier } from '../../src/classify/ViTClassifier';
import { LinearProbeHead } from '../../src/classify/LinearProbeHead';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { extractFeatures } from '../../src/eval/features';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { readSafetensors } from '../../src/io/safetensors';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';
import { FIXTURES_DIR, readBytes } from '../helpers/fixtures';

/** The vit_cls_tiny configuration (fixture JSON), in our names. */
const TINY = { imgSize: 32, patchSize: 8, inChans: 3, numClasses: 10, embedDim: 64, depth: 2, numHeads: 4, mlpRatio: 4, layerNormEps: 1e-6, globalPool: true };

function params(ref: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(ref).filter(([k]) => k.startsWith('param.')).map(([k, v]) => [k.slice(6), v]));
}

async function same(a: tf.Tensor, b: tf.Tensor): Promise<boolean> {
  const [x, y] = [await a.data(), await b.data()];
  return tf.util.arraysEqual(a.shape, b.shape) && x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

describeBackends(['cpu', 'wasm'], (backend) => {
  let ref: Record<string, tf.Tensor>;
  let clf: ViTClassifier;
  const tag = `[${backend}]`;

  beforeAll(() => {
    ref = readSafetensors(readBytes(path.join(FIXTURES_DIR, 'vit_cls_tiny.safetensors')));
    clf = new ViTClassifier(TINY);
    clf.loadStateDict(params(ref), { naming: 'official' });
  });
  afterAll(() => {
    clf.dispose();
    tf.dispose(Object.values(ref));
  });

  it(`state-dict names and order are the official ones ${tag}`, () => {
    expect(clf.stateEntries().map((e) => e.name)).toEqual(Object.keys(params(ref)));
  });

  it(`matches the official logits, features and block outputs ${tag}`, async () => {
    const out = clf.forward(ref['input.imgs_nhwc'], { outputHiddenStates: true });
    const tokens = clf.patchEmbed.call(ref['input.imgs_nhwc']) as tf.Tensor;
    try {
      await expectTensorsClose(out.logits, ref['out.logits'], { atol: 1e-5, name: 'logits' });
      await expectTensorsClose(out.features, ref['out.features'], { atol: 2e-5, name: 'features' });
      await expectTensorsClose(tokens, ref['mid.patch_embed'], { atol: 2e-5, name: 'mid.patch_embed' });
      expect(out.hiddenStates).toHaveLength(2);
      for (let i = 0; i < 2; i++) await expectTensorsClose(out.hiddenStates![i], ref[`mid.blocks.${i}`], { atol: 2e-5, name: `mid.blocks.${i}` });
    } finally {
      tf.dispose([out.logits, out.features, tokens, ...(out.hiddenStates ?? [])]);
    }
  });

  it(`training: true without noise rates gives the eval output ${tag}`, async () => {
    const a = clf.forward(ref['input.imgs_nhwc']);
    const b = clf.forward(ref['input.imgs_nhwc'], { training: true });
    try {
      expect(await same(a.logits, b.logits)).toBe(true);
    } finally {
      tf.dispose([a.logits, a.features, b.logits, b.features]);
    }
  });

  it(`forward, backward and errors leak no tensor ${tag}`, async () => {
    const imgs = ref['input.imgs_nhwc'];
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => {
        const { logits, features } = clf.forward(imgs, { training: true, seed: 1 });
        features.dispose();
        return tf.mean(tf.square(logits)) as tf.Scalar;
      });
      tf.dispose([value, ...Object.values(grads)]);
    }, `${tag} forward + backward`);
    const wrong = tf.zeros([1, 16, 16, 3]);
    await expectNoLeaks(() => {
      expect(() => clf.forward(wrong)).toThrow(MAEInputError);
    }, `${tag} bad input`);
    wrong.dispose();
  });

  it(`recompute: the gradients of the plain classifier, with drop path and dropout; no leaks ${tag}`, async () => {
    const m = new ViTClassifier({ ...TINY, dropPath: 0.3, dropRate: 0.2, recompute: true });
    try {
      m.ensureBuilt();
      m.setWeights(clf.getWeights());
      expect(m.getConfig().recompute).toBe(true);
      const imgs = ref['input.imgs_nhwc'];
      const lossOf = (recompute?: boolean) => () => {
        const { logits, features } = m.forward(imgs, { training: true, seed: 3, ...(recompute === undefined ? {} : { recompute }) });
        features.dispose();
        return tf.mean(tf.square(logits)) as tf.Scalar;
      };
      const before = tf.memory().numTensors;
      const plain = tf.variableGrads(lossOf(false));
      const r = tf.variableGrads(lossOf()); // the classifier's own recompute: true
      try {
        await expectTensorsClose(r.value, plain.value, { atol: 1e-6, rtol: 1e-6, name: 'loss' });
        expect(Object.keys(r.grads).sort()).toEqual(Object.keys(plain.grads).sort());
        for (const k of Object.keys(plain.grads)) await expectTensorsClose(r.grads[k], plain.grads[k], { atol: 1e-7, rtol: 1e-5, name: k });
      } finally {
        tf.dispose([plain.value, r.value, ...Object.values(plain.grads), ...Object.values(r.grads)]);
      }
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      m.dispose();
    }
  });

  it(`getConfig → fromConfig gives the same model ${tag}`, async () => {
    const seeded = new ViTClassifier({ ...TINY, seed: 7, dropPath: 0.1 });
    const rebuilt = ViTClassifier.fromConfig(ViTClassifier, seeded.getConfig()) as ViTClassifier;
    const copy = ViTClassifier.fromConfig(ViTClassifier, clf.getConfig()) as ViTClassifier;
    try {
      expect(rebuilt.getConfig()).toEqual(seeded.getConfig());
      // The seed alone reproduces the weights; a copy of the weights reproduces the output.
      const [a, b] = [seeded.forward(ref['input.imgs_nhwc']), rebuilt.forward(ref['input.imgs_nhwc'])];
      copy.ensureBuilt();
      copy.setWeights(clf.getWeights());
      const [c, d] = [copy.forward(ref['input.imgs_nhwc']), clf.forward(ref['input.imgs_nhwc'])];
      expect(await same(a.logits, b.logits)).toBe(true);
      expect(await same(c.logits, d.logits)).toBe(true);
      expect(await same(c.features, d.features)).toBe(true);
      tf.dispose([a, b, c, d].flatMap((o) => [o.logits, o.features]));
    } finally {
      [seeded, rebuilt, copy].forEach((m) => m.dispose());
    }
  });

  it(`the cls-token variant (globalPool: false) uses norm and row 0 ${tag}`, async () => {
    const m = new ViTClassifier({ ...TINY, globalPool: false, seed: 2 });
    try {
      const names = m.stateEntries().map((e) => e.name);
      expect(names).toContain('norm.weight');
      expect(names.some((n) => n.startsWith('fc_norm'))).toBe(false);
      expect(names.slice(-4)).toEqual(['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
      const out = m.forward(ref['input.imgs_nhwc'], { outputHiddenStates: true });
      const last = out.hiddenStates![1];
      const expected = tf.tidy(() => tf.squeeze(tf.slice(m.norm!.call(last), [0, 0, 0], [2, 1, 64]), [1]));
      await expectTensorsClose(out.features, expected, { atol: 0, name: 'cls features' });
      tf.dispose([out.logits, out.features, ...out.hiddenStates!, expected]);
    } finally {
      m.dispose();
    }
  });

  it(`normBeforePool: norm on the tokens, then the mean (extractFeatures' mean pool), no fc_norm ${tag}`, async () => {
    const before = tf.memory().numTensors;
    const mae = new MaskedAutoencoder({ imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 4, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4, seed: 5 });
    const m = ViTClassifier.fromMAE(mae, { numClasses: 10, head: 'linprobe', globalPool: true, normBeforePool: true, seed: 2 });
    try {
      const names = m.stateEntries().map((e) => e.name);
      expect(names).toContain('norm.weight');
      expect(names.some((n) => n.startsWith('fc_norm'))).toBe(false);
      expect(m.getConfig()).toMatchObject({ globalPool: true, normBeforePool: true, head: 'linprobe' });
      const out = m.forward(ref['input.imgs_nhwc']);
      const expected = await extractFeatures(mae.encoder, ref['input.imgs_nhwc'], { pool: 'mean' });
      await expectTensorsClose(out.features, expected, { atol: 1e-6, name: 'mean-after-norm features' });
      tf.dispose([out.logits, out.features, expected]);
      const back = ViTClassifier.fromConfig(ViTClassifier, m.getConfig()) as ViTClassifier;
      expect(back.normBeforePool).toBe(true);
      back.dispose();
      expect(() => new ViTClassifier({ ...TINY, globalPool: false, normBeforePool: true })).toThrow(/normBeforePool must be a boolean, and true only with globalPool: true/);
    } finally {
      m.dispose();
      mae.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
}, { describe, beforeAll });

describe('ViTClassifier.fromMAE', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('copies patch embed, cls token, position table and blocks; norm only without global pool', async () => {
    const mae = new MaskedAutoencoder({ imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 4, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4, seed: 5 });
    const src = mae.stateDict();
    for (const globalPool of [true, false]) {
      const clf = ViTClassifier.fromMAE(mae, { numClasses: 10, globalPool, seed: 1 });
      const dst = clf.stateDict();
      try {
        const copied = Object.keys(dst).filter((n) => !/^(head|fc_norm)\./.test(n));
        expect(copied).toEqual(Object.keys(src).filter((n) => !/^(decoder|mask_token)/.test(n) && (!globalPool || !n.startsWith('norm.'))));
        for (const n of copied) expect(await same(dst[n], src[n]), n).toBe(true);
        expect(clf.posEmbed.trainable).toBe(true);
        // The head starts tiny (main_finetune.py: N(0, (2e-5)²)), its bias at 0.
        expect((await tf.max(tf.abs(dst['head.weight'])).data())[0]).toBeLessThan(2e-4);
        expect(Array.from(await dst['head.bias'].data()).every((v) => v === 0)).toBe(true);
        if (globalPool) expect(Array.from(await dst['fc_norm.weight'].data()).every((v) => v === 1)).toBe(true);
      } finally {
        tf.dispose(Object.values(dst));
        clf.dispose();
      }
    }
    const probe = ViTClassifier.fromMAE(mae.encoder, { numClasses: 3, head: 'linprobe' });
    try {
      expect(probe.stateEntries().map((e) => e.name).filter((n) => n.startsWith('head.'))).toEqual([
        'head.0.running_mean',
        'head.0.running_var',
        'head.0.num_batches_tracked',
        'head.1.weight',
        'head.1.bias',
      ]);
    } finally {
      probe.dispose();
    }
    tf.dispose(Object.values(src));
    mae.dispose();
  });

  it('refuses bad arguments with typed errors', () => {
    expect(() => ViTClassifier.fromMAE({} as MaskedAutoencoder, { numClasses: 2 })).toThrow(MAEConfigError);
    expect(() => new ViTClassifier({ ...TINY, dropPath: 1 })).toThrow(/dropPath must be a number in \[0, 1\), got 1/);
    expect(() => new ViTClassifier({ ...TINY, head: 'mlp' as 'linear' })).toThrow(MAEConfigError);
    expect(() => new ViTClassifier({ ...TINY, numClasses: 0 })).toThrow(/numClasses must be a positive integer/);
  });
});

describe('stochastic depth and dropout', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('linearly increasing drop-path rates per block, as timm', () => {
    const m = new ViTClassifier({ ...TINY, depth: 5, dropPath: 0.2 });
    expect(m.blocks.map((b) => b.dropPath)).toEqual([0, 0.05, 0.1, 0.15000000000000002, 0.2]);
    m.dispose();
  });

  it('drops whole residual branches per sample and rescales the kept ones', async () => {
    const clf = new ViTClassifier({ ...TINY, depth: 1, dropPath: 0.5, seed: 4 }); // one block: rate = 0 ...
    const block = new ViTClassifier({ ...TINY, depth: 2, dropPath: 0.9, seed: 4 }).blocks[1]; // ... the last one: 0.9
    clf.dispose();
    const x = tf.randomNormal([16, 5, 64], 0, 1, 'float32', 3);
    const keep = 0.1;
    const train = block.call(x, { training: true, seed: 9 }) as tf.Tensor;
    // Every sample must be one of the four combinations of the two kept/dropped branches.
    const combos = tf.tidy(() => {
      const a = block.attn.call(block.norm1.call(x));
      return [0, 1].flatMap((m1) =>
        [0, 1].map((m2) => {
          const h = tf.add(x, tf.mul(a, m1 / keep));
          return tf.add(h, tf.mul(block.mlp.call(block.norm2.call(h)), m2 / keep));
        }),
      );
    });
    const t = (await train.array()) as number[][][];
    const c = (await Promise.all(combos.map((z) => z.array()))) as number[][][][];
    const seen = new Set<number>();
    for (let n = 0; n < 16; n++) {
      const k = c.findIndex((z) => z[n].every((row, i) => row.every((v, j) => Math.abs(v - t[n][i][j]) <= 1e-4 * (1 + Math.abs(v)))));
      expect(k, `sample ${n}`).toBeGreaterThanOrEqual(0);
      seen.add(k);
    }
    expect(seen.size).toBeGreaterThan(1);
    // Inference ignores the rate.
    const evalOut = block.call(x) as tf.Tensor;
    const plain = tf.tidy(() => {
      const h = tf.add(x, block.attn.call(block.norm1.call(x)));
      return tf.add(h, block.mlp.call(block.norm2.call(h)));
    });
    await expectTensorsClose(evalOut, plain, { atol: 0, name: 'eval block' });
    tf.dispose([x, train, ...combos, evalOut, plain]);
    block.dispose();
  });

  it('dropout acts only in training and is reproducible with a seed', async () => {
    const m = new ViTClassifier({ ...TINY, dropRate: 0.3, seed: 1 });
    const ref = new ViTClassifier({ ...TINY, seed: 1 });
    const imgs = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5);
    const [e, r, t1, t2] = [m.forward(imgs), ref.forward(imgs), m.forward(imgs, { training: true, seed: 3 }), m.forward(imgs, { training: true, seed: 3 })];
    expect(await same(e.logits, r.logits)).toBe(true);
    expect(await same(t1.logits, t2.logits)).toBe(true);
    expect(await same(t1.logits, e.logits)).toBe(false);
    tf.dispose([e, r, t1, t2].flatMap((o) => [o.logits, o.features]));
    tf.dispose(imgs);
    m.dispose();
    ref.dispose();
  });
});

describe('LinearProbeHead', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  /** float64 reference of BatchNorm1d(affine=False) + Linear. */
  function reference(x: number[][], w: number[][], b: number[], mean: number[], variance: number[], eps: number): number[][] {
    return x.map((row) => w.map((wk, k) => b[k] + wk.reduce((s, wkj, j) => s + wkj * ((row[j] - mean[j]) / Math.sqrt(variance[j] + eps)), 0)));
  }

  it('trains with batch statistics and updates the running ones as torch (momentum .1, unbiased running var)', async () => {
    const head = new LinearProbeHead({ inFeatures: 6, numClasses: 3, seed: 2 });
    head.ensureBuilt();
    const x = tf.randomNormal([5, 6], 1, 2, 'float32', 8);
    const xs = (await x.array()) as number[][];
    const w = ((await tf.transpose(head.linear.kernel.read()).array()) as number[][]);
    const b = Array.from(await head.linear.bias!.read().data());
    const n = xs.length;
    const mean = xs[0].map((_, j) => xs.reduce((s, r) => s + r[j], 0) / n);
    const biased = xs[0].map((_, j) => xs.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / n);
    const out = await expectNoLeaks(async () => {
      const y = head.forward(x, { training: true });
      const v = await y.array();
      y.dispose();
      return v;
    }, 'probe training step');
    await expectTensorsClose(out.flat(), reference(xs, w, b, mean, biased, 1e-6).flat(), { atol: 2e-5, name: 'train logits' });
    const runMean = mean.map((m) => 0.1 * m);
    const runVar = biased.map((v) => 0.9 + 0.1 * v * (n / (n - 1)));
    await expectTensorsClose(head.runningMean.read(), runMean, { atol: 1e-6, name: 'running_mean' });
    await expectTensorsClose(head.runningVar.read(), runVar, { atol: 1e-5, name: 'running_var' });
    expect((await head.numBatchesTracked.read().data())[0]).toBe(1);
    const y = head.forward(x);
    await expectTensorsClose(y, reference(xs, w, b, runMean, runVar, 1e-6).flat(), { atol: 2e-5, name: 'eval logits' });
    // Linear init N(0, .01²), bias 0.
    expect(Math.max(...w.flat().map(Math.abs))).toBeLessThan(0.06);
    expect(b.every((v) => v === 0)).toBe(true);
    expect(() => head.forward(tf.zeros([1, 6]), { training: true })).toThrow(/at least 2 samples/);
    expect(() => head.forward(tf.zeros([2, 5]))).toThrow(/D = 6/);
    tf.dispose([x, y]);
    head.dispose();
  });

  it('as the classifier head: state names, int counter and gradients only through the Linear', async () => {
    const clf = new ViTClassifier({ ...TINY, head: 'linprobe', seed: 3 });
    const imgs = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1);
    const sd = clf.stateDict();
    expect(sd['head.0.num_batches_tracked'].dtype).toBe('int32');
    expect(sd['head.0.num_batches_tracked'].shape).toEqual([]);
    const headVars = (clf.head as LinearProbeHead).trainableWeights.map((v) => v.name);
    expect(headVars).toHaveLength(2);
    const { value, grads } = tf.variableGrads(() => {
      const { logits, features } = clf.forward(imgs, { training: true });
      features.dispose();
      return tf.mean(tf.square(logits)) as tf.Scalar;
    }, (clf.head as LinearProbeHead).trainableWeights.map((v) => v.read() as tf.Variable));
    expect(Object.keys(grads)).toHaveLength(2);
    expect((await (clf.head as LinearProbeHead).numBatchesTracked.read().data())[0]).toBe(1);
    tf.dispose([value, ...Object.values(grads), imgs, ...Object.values(sd)]);
    clf.dispose();
  });
});

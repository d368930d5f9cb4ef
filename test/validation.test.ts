/**
 * Bad configurations and inputs: each gets a typed error whose one-line
 * message names the argument, what was expected and what came — and leaks
 * no tensor.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAEConfigError,
  MAEInputError,
  MaskedAutoencoder,
  RandomMasking,
  maskedMSE,
  patchify,
  unpatchify,
  type MaskedAutoencoderArgs,
} from '../src';

const tiny: MaskedAutoencoderArgs = {
  imgSize: 16, patchSize: 8, inChans: 3, embedDim: 16, depth: 1, numHeads: 2,
  decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2,
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('configuration errors (MAEConfigError)', () => {
  const table: Array<[string, MaskedAutoencoderArgs, RegExp]> = [
    ['a 30-px image with 16-px patches', { ...tiny, imgSize: 30, patchSize: 16 }, /^imgSize must be divisible by patchSize 16 on each side, got \[30, 30\]/],
    ['a rectangular image not divisible on one side', { ...tiny, imgSize: [16, 20] }, /imgSize must be divisible by patchSize 8 on each side, got \[16, 20\]/],
    ['embedDim not divisible by numHeads', { ...tiny, embedDim: 18, numHeads: 4 }, /^embedDim must be divisible by 4 \(numHeads must split it evenly\), got 18$/],
    ['embedDim not divisible by 4 (sin-cos table)', { ...tiny, embedDim: 18, numHeads: 3 }, /^embedDim must be divisible by 4 \(the 2-D sin-cos position table\), got 18$/],
    ['decoderEmbedDim not divisible by decoderNumHeads', { ...tiny, decoderEmbedDim: 12, decoderNumHeads: 5 }, /^decoderEmbedDim must be divisible by 5/],
    ['maskRatio 1', { ...tiny, maskRatio: 1 }, /^maskRatio must be a number in \[0, 1\), got 1$/],
    ['maskRatio negative', { ...tiny, maskRatio: -0.1 }, /^maskRatio must be a number in \[0, 1\), got -0\.1$/],
    ['maskRatio that keeps no patch', { ...tiny, maskRatio: 0.8 }, /^maskRatio 0\.8 keeps Math\.trunc\(4 \* \(1 - 0\.8\)\) = 0 of 4 patches; at least 1 must be kept$/],
    ['layerNormEps 0', { ...tiny, layerNormEps: 0 }, /^layerNormEps must be a finite number > 0, got 0$/],
    ['a negative depth', { ...tiny, depth: -1 }, /^depth must be an integer ≥ 0, got -1$/],
    ['a fractional decoder depth', { ...tiny, decoderDepth: 1.5 }, /^decoderDepth must be an integer ≥ 0, got 1\.5$/],
    ['a fractional patch size', { ...tiny, patchSize: 2.5 }, /^patchSize must be a positive integer, got 2\.5$/],
    ['a patch size given as a string', { ...tiny, patchSize: '8' as unknown as number }, /^patchSize must be a positive integer, got "8"$/],
    ['NaN heads', { ...tiny, numHeads: NaN }, /^numHeads must be a positive integer, got NaN$/],
    ['mlpRatio 0', { ...tiny, mlpRatio: 0 }, /^mlpRatio must be a finite number > 0, got 0$/],
    ['a fractional seed', { ...tiny, seed: 1.5 }, /^seed must be an integer ≥ 0 \(the same seed gives the same result\), got 1\.5$/],
    ['recompute given as a string', { ...tiny, recompute: 'true' as unknown as boolean }, /^recompute must be true or false, got "true"$/],
    ['imgSize with three numbers', { ...tiny, imgSize: [16, 16, 16] as unknown as [number, number] }, /^imgSize must be a positive integer or \[height, width\], got \[16, 16, 16\]$/],
  ];
  for (const [what, config, message] of table) {
    it(what, () => {
      const before = tf.memory().numTensors;
      let error: unknown;
      try {
        new MaskedAutoencoder(config);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(MAEConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe('input errors (MAEInputError)', () => {
  let mae: MaskedAutoencoder;
  beforeAll(() => {
    mae = new MaskedAutoencoder({ ...tiny, seed: 0 });
    mae.ensureBuilt();
  });
  afterAll(() => mae.dispose());

  const table: Array<[string, () => tf.Tensor[], (t: tf.Tensor[]) => unknown, RegExp]> = [
    ['rank-3 images', () => [tf.zeros([16, 16, 3])], ([x]) => mae.forward(x), /^imgs must have rank 4 \(\[N, H, W, C\] \(NHWC\)\), got shape \[16, 16, 3\]$/],
    ['NCHW images', () => [tf.zeros([2, 3, 16, 16])], ([x]) => mae.forward(x), /^imgs must be NHWC \[N, 16, 16, 3\], got shape \[2, 3, 16, 16\], which is NCHW \(channels first, PyTorch's layout\): pass tf\.transpose\(imgs, \[0, 2, 3, 1\]\)$/],
    ['wrong size', () => [tf.zeros([2, 24, 24, 3])], ([x]) => mae.forward(x), /^imgs must have height = 16 \(axis 1\), got shape \[2, 24, 24, 3\]$/],
    ['wrong channels', () => [tf.zeros([2, 16, 16, 1])], ([x]) => mae.forward(x), /^imgs must have channels = 3 \(axis 3\), got shape \[2, 16, 16, 1\]$/],
    ['int32 pixels', () => [tf.zeros([2, 16, 16, 3], 'int32')], ([x]) => mae.forward(x), /^imgs must be float32, got int32; convert with tf\.div\(tf\.cast\(imgs, 'float32'\), 255\)/],
    ['not a tensor', () => [], () => mae.forward([[1, 2]] as unknown as tf.Tensor), /^imgs must be a tf\.Tensor of shape \[N, H, W, C\] \(NHWC\), got \[\[1, 2\]\]$/],
    ['noise of the wrong shape', () => [tf.zeros([2, 16, 16, 3]), tf.zeros([2, 5])], ([x, n]) => mae.forward(x, { noise: n }), /^noise must have shape \[2, 4\] \(\[N, L\]\), got \[2, 5\]$/],
    ['int32 noise', () => [tf.zeros([2, 16, 16, 3]), tf.zeros([2, 4], 'int32')], ([x, n]) => mae.forward(x, { noise: n }), /^noise must be float32, got int32$/],
    ['patchify with an indivisible size', () => [tf.zeros([1, 10, 10, 1])], ([x]) => patchify(x, 4), /^imgs height and width must be divisible by patchSize 4, got shape \[1, 10, 10, 1\]$/],
    ['unpatchify with a wrong grid', () => [tf.zeros([1, 4, 12])], ([x]) => unpatchify(x, 2, [3, 3], 3), /^x must have shape \[N, 9, 12\] for grid \[3, 3\], patchSize 2 and 3 channels, got \[1, 4, 12\]$/],
    ['maskedMSE with mismatched shapes', () => [tf.zeros([1, 4, 3]), tf.zeros([1, 4, 2]), tf.zeros([1, 4])], ([a, b, m]) => maskedMSE(a, b, m), /^pred, target and mask must be \[N, L, F\], \[N, L, F\], \[N, L\]; got \[1, 4, 3\], \[1, 4, 2\], \[1, 4\]$/],
  ];
  for (const [what, make, call, message] of table) {
    it(what, () => {
      const inputs = make();
      const before = tf.memory().numTensors;
      let error: unknown;
      try {
        call(inputs);
      } catch (e) {
        error = e;
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(inputs);
      expect(error).toBeInstanceOf(MAEInputError);
      expect((error as Error).message).toMatch(message);
    });
  }
});

it('a fractional per-call seed is a MAEConfigError (forward, loss, masking, classifier), without leaks', async () => {
  const { ViTClassifier } = await import('../src');
  const mae = new MaskedAutoencoder({ ...tiny, seed: 0 });
  const clf = ViTClassifier.fromMAE(mae, { numClasses: 2 });
  const x = tf.zeros([2, 16, 16, 3]);
  const before = tf.memory().numTensors;
  const message = /^seed must be an integer ≥ 0 \(the same seed gives the same result\), got 1\.5$/;
  expect(() => mae.forward(x, { seed: 1.5 })).toThrow(message);
  expect(() => mae.loss(x, { seed: 1.5 })).toThrow(message);
  expect(() => new RandomMasking().sample(2, [2, 2], { seed: 1.5 })).toThrow(message);
  expect(() => clf.forward(x, { training: true, seed: 1.5 })).toThrow(MAEConfigError);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(x);
  clf.dispose();
  mae.dispose();
});

it('a per-call maskRatio of 1 is a MAEConfigError, without leaks', () => {
  const mae = new MaskedAutoencoder({ ...tiny, seed: 0 });
  const x = tf.zeros([2, 16, 16, 3]);
  mae.ensureBuilt();
  const before = tf.memory().numTensors;
  expect(() => mae.forward(x, { maskRatio: 1 })).toThrow(MAEConfigError);
  expect(() => mae.forward(x, { maskRatio: 1 })).toThrow(/^maskRatio must be a number in \[0, 1\), got 1$/);
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
  mae.dispose();
});

describe('maskRatio 0: no masking, deterministic features', () => {
  it('keeps every patch in patch order, the mask is all zeros, the loss is 0 (not NaN)', async () => {
    const mae = new MaskedAutoencoder({ ...tiny, seed: 0 });
    const imgs = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 0);
    const a = mae.forward(imgs, { maskRatio: 0, seed: 1 });
    const b = mae.forward(imgs, { maskRatio: 0, seed: 2 });
    expect(await a.idsKeep.array()).toEqual([[0, 1, 2, 3], [0, 1, 2, 3]]);
    expect(Array.from(await a.mask.data())).toEqual(new Array(8).fill(0));
    expect((await a.loss.data())[0]).toBe(0);
    expect(Array.from(await a.latent.data())).toEqual(Array.from(await b.latent.data()));
    tf.dispose([...Object.values(a), ...Object.values(b), imgs]);
    mae.dispose();
  });

  it('RandomMasking with maskRatio 0 returns the tokens unchanged', async () => {
    const x = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 0);
    const r = new RandomMasking({ maskRatio: 0 }).mask(x);
    expect(Array.from(await r.visible.data())).toEqual(Array.from(await x.data()));
    tf.dispose([x, ...Object.values(r)]);
  });
});

it('depth 0 and decoderDepth 0 are valid ablations (no blocks)', async () => {
  const mae = new MaskedAutoencoder({ ...tiny, depth: 0, decoderDepth: 0, seed: 0 });
  const imgs = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 0);
  const out = mae.forward(imgs, { seed: 1 });
  expect(out.pred.shape).toEqual([2, 4, 192]);
  expect(Number.isFinite((await out.loss.data())[0])).toBe(true);
  tf.dispose([...Object.values(out), imgs]);
  mae.dispose();
});

describe('unknown configuration keys', () => {
  it('a snake_case key gets its camelCase name suggested', () => {
    expect(() => new MaskedAutoencoder({ ...tiny, img_size: 16 } as MaskedAutoencoderArgs)).toThrow(
      /^MaskedAutoencoder has no config key "img_size"; did you mean imgSize\?$/,
    );
  });
  it('a misspelt key lists the known ones', () => {
    expect(() => new MaskedAutoencoder({ ...tiny, maskRation: 0.5 } as MaskedAutoencoderArgs)).toThrow(
      /^MaskedAutoencoder has no config key "maskRation"; known keys: imgSize, patchSize/,
    );
  });
  it('getConfig → constructor round trips (tfjs-layers keys are accepted)', () => {
    const a = new MaskedAutoencoder({ ...tiny, seed: 0 });
    const b = new MaskedAutoencoder({ ...(a.getConfig() as MaskedAutoencoderArgs), name: undefined });
    expect(b.config).toEqual(a.config);
    expect(a.getConfig().recompute).toBe(false);
    const r = new MaskedAutoencoder({ ...tiny, recompute: true });
    const c = new MaskedAutoencoder({ ...(r.getConfig() as MaskedAutoencoderArgs), name: undefined });
    expect([c.config.recompute, c.encoder.recompute, c.decoder.recompute]).toEqual([true, true, true]);
    expect([c.encoder.getConfig().recompute, c.decoder.getConfig().recompute]).toEqual([true, true]);
    [a, b, r, c].forEach((m) => m.dispose());
  });
});

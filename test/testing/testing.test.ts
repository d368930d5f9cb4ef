/**
 * `tfjs-mae/testing` itself: messages that name the worst element, leak
 * detection on return and on throw, one suite per backend, fixtures by
 * path, URL or bytes.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src';
import {
  describeBackends,
  expectNoLeaks,
  expectTensorsClose,
  expectTensorsEqual,
  maxAbsDiff,
  readFixture,
  type Runner,
} from '../../src/testing';
import { RandomMasking, type MaskResult, type MaskSample } from '../../src';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('expectTensorsClose', () => {
  it('passes within atol + rtol·|expected|, elementwise', async () => {
    const a = tf.tensor2d([[1, 2], [3, 100.5]]);
    await expectTensorsClose(a, [[1, 2], [3, 100]], { atol: 0.5 });
    await expectTensorsClose(a, [[1, 2], [3, 100]], { atol: 0, rtol: 0.005 });
    await expectTensorsClose(a, [1, 2, 3, 100.5], { atol: 0 }); // flat arrays compare by length
    await expectTensorsClose(tf.scalar(2), 2, { atol: 0 });
    a.dispose();
  });

  it('names the worst element (not the first), its index, both values, the count and max |diff|', async () => {
    const a = tf.tensor3d([[[0, 0.1], [0, 0]], [[0.5, 0], [0, 0.2]]]);
    const e = tf.zeros([2, 2, 2]);
    await expect(expectTensorsClose(a, e, { atol: 0.05, name: 'pred' })).rejects.toThrow(
      'pred: element [1, 0, 0] is 0.5, expected 0 (|diff| 0.5 > atol 0.05 + rtol 0·|expected|); 3 of 8 elements fail; max |diff| 0.5',
    );
    tf.dispose([a, e]);
  });

  it('the worst is by excess over the tolerance: with rtol a large value may differ more', async () => {
    const a = [1000.5, 1.2];
    await expect(expectTensorsClose(a, [1000, 1], { atol: 0, rtol: 0.01 })).rejects.toThrow(/^tensor: element \[1\] is 1.2, expected 1 .*1 of 2 elements fail; max \|diff\| 0.5$/);
  });

  it('NaN never passes and is reported', async () => {
    await expect(expectTensorsClose([1, NaN, 3], [1, 2, 3], { atol: 1 })).rejects.toThrow(/element \[1\] is NaN, expected 2/);
    await expect(expectTensorsClose([NaN], [NaN])).rejects.toThrow(/is NaN, expected NaN/);
  });

  it('shape and length mismatches are named', async () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([3, 2]);
    await expect(expectTensorsClose(a, b, { name: 'x' })).rejects.toThrow('x: shape [2,3] differs from expected [3,2]');
    await expect(expectTensorsClose(a, [[0, 0], [0, 0], [0, 0]])).rejects.toThrow(/shape \[2,3\] differs from expected \[3,2\]/);
    await expect(expectTensorsClose(a, [0, 0])).rejects.toThrow('tensor: 6 elements, expected 2');
    tf.dispose([a, b]);
  });

  it('expectTensorsEqual is exact; maxAbsDiff measures', async () => {
    const ids = tf.tensor1d([3, 1, 2], 'int32');
    await expectTensorsEqual(ids, [3, 1, 2], 'ids');
    await expect(expectTensorsEqual(ids, [3, 1, 4], 'ids')).rejects.toThrow(/^ids: element \[2\] is 2, expected 4/);
    expect(await maxAbsDiff(ids, [3, 1.5, 4])).toBe(2);
    expect(await maxAbsDiff([1, NaN], [1, 1])).toBeNaN();
    ids.dispose();
  });
});

describe('expectNoLeaks', () => {
  it('returns what fn returns when nothing leaks (sync and async)', async () => {
    expect(await expectNoLeaks(() => {
      const t = tf.add(1, 2);
      const v = t.dataSync()[0];
      t.dispose();
      return v;
    })).toBe(3);
    expect(await expectNoLeaks(async () => {
      const t = tf.scalar(4);
      const v = (await t.data())[0];
      t.dispose();
      return v;
    })).toBe(4);
  });

  it('reports leaks with their count, sync and async', async () => {
    let kept: tf.Tensor[] = [];
    await expect(expectNoLeaks(() => {
      kept = [tf.scalar(1), tf.scalar(2)];
    }, 'my op')).rejects.toThrow(/^my op leaked 2 tensor\(s\): numTensors \d+ → \d+$/);
    tf.dispose(kept);
    await expect(expectNoLeaks(async () => {
      await Promise.resolve();
      kept = [tf.scalar(1)];
    })).rejects.toThrow(/operation leaked 1 tensor/);
    tf.dispose(kept);
  });

  it("with warmup, an optimiser's first-step state (Adam's moments) is not a leak; later steps are checked", async () => {
    const { MaskedAutoencoder } = await import('../../src');
    const mae = new MaskedAutoencoder({ imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 1 });
    const imgs = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 1);
    const step = () => tf.train.adam(1e-3);
    const first = step();
    await expect(expectNoLeaks(() => first.minimize(() => mae.loss(imgs, { seed: 1 }), false))).rejects.toThrow(
      new RegExp(`leaked ${2 * mae.trainableWeights.length} tensor`),
    );
    first.dispose();
    const opt = step();
    await expectNoLeaks(() => opt.minimize(() => mae.loss(imgs, { seed: 1 }), false), { warmup: 1, name: 'adam step' });
    let kept: tf.Tensor[] = [];
    await expect(expectNoLeaks(() => void kept.push(tf.scalar(1)), { warmup: 2, name: 'grows' })).rejects.toThrow(/^grows leaked 1 tensor/);
    tf.dispose(kept);
    kept = [];
    opt.dispose();
    imgs.dispose();
    mae.dispose();
  });

  it('tf.tidy accepts the sample and output objects (type check: they are tensor containers)', () => {
    const masking = new RandomMasking();
    const s: MaskSample = tf.tidy(() => masking.sample(2, [2, 2], { seed: 1 }));
    const r: MaskResult = tf.tidy(() => masking.mask(tf.zeros([2, 4, 3]), { seed: 1 }));
    expect(s.mask.shape).toEqual([2, 4]);
    tf.dispose([s.idsKeep, s.idsRestore, s.mask, r.idsKeep, r.idsRestore, r.mask, r.visible]);
  });

  it('on throw: rethrows the original error when nothing leaked', async () => {
    const boom = new TypeError('boom');
    await expect(expectNoLeaks(() => {
      tf.dispose(tf.scalar(1));
      throw boom;
    })).rejects.toBe(boom);
  });

  it('on throw: a leak is still detected, and the message names the original error', async () => {
    let kept: tf.Tensor | undefined;
    const boom = new Error('bad shape');
    const err = await expectNoLeaks(() => {
      kept = tf.zeros([3]);
      throw boom;
    }, 'apply').catch((e: Error & { cause?: unknown }) => e);
    expect((err as Error).message).toMatch(/^apply leaked 1 tensor\(s\) when it threw \(numTensors \d+ → \d+\); it threw: bad shape$/);
    expect((err as Error & { cause?: unknown }).cause).toBe(boom);
    kept?.dispose();
  });
});

describe('describeBackends', () => {
  it('declares one suite per backend, titled by backend, that switches backend before its tests', async () => {
    const titles: string[] = [];
    const hooks: (() => unknown)[] = [];
    const seen: string[] = [];
    const runner: Runner = {
      describe: (name, body) => {
        titles.push(name);
        body();
      },
      beforeAll: (fn) => hooks.push(fn),
    };
    describeBackends(['wasm', 'cpu'], (b) => seen.push(b), runner, 'ops');
    expect(titles).toEqual(['ops [wasm]', 'ops [cpu]']);
    expect(seen).toEqual(['wasm', 'cpu']);
    await hooks[0]();
    expect(tf.getBackend()).toBe('wasm');
    await hooks[1]();
    expect(tf.getBackend()).toBe('cpu');
  });

  it('an unregistered backend fails its suite with the list of registered ones', async () => {
    const hooks: (() => unknown)[] = [];
    describeBackends(['webgpu'], () => undefined, { describe: (_n, body) => body(), beforeAll: (fn) => hooks.push(fn) });
    await expect(Promise.resolve(hooks[0]())).rejects.toThrow(/backend webgpu is not registered \(registered: .*cpu.*\); import '@tensorflow\/tfjs-backend-webgpu'/);
  });

  it("names tfjs-node for the 'tensorflow' backend (there is no @tensorflow/tfjs-backend-tensorflow)", async () => {
    const hooks: (() => unknown)[] = [];
    describeBackends(['tensorflow'], () => undefined, { describe: (_n, body) => body(), beforeAll: (fn) => hooks.push(fn) });
    await expect(Promise.resolve(hooks[0]())).rejects.toThrow(/import '@tensorflow\/tfjs-node' \(or '@tensorflow\/tfjs-node-gpu'\)/);
  });

  it('without a runner and without globals, says what to pass', () => {
    expect(() => describeBackends(['cpu'], () => undefined)).toThrow(/pass \{ describe, beforeAll \}/);
  });
});

describeBackends(['cpu', 'wasm'], (backend) => {
  it(`runs this test on ${backend}`, async () => {
    expect(tf.getBackend()).toBe(backend);
    const t = tf.add(tf.tensor1d([1, 2]), 1);
    await expectTensorsClose(t, [2, 3], { atol: 0, name: `add [${backend}]` });
    t.dispose();
  });
}, { describe, beforeAll });

describe('readFixture', () => {
  it('reads the same tensors from a path, a file URL, bytes and an ArrayBuffer', async () => {
    const src = { a: tf.tensor2d([[1, 2, 3], [4, 5, 6]]), b: tf.tensor1d([7, 8], 'int32') };
    const bytes = await writeSafetensors(src);
    const file = join(mkdtempSync(join(tmpdir(), 'tfjs-mae-testing-')), 'f.safetensors');
    writeFileSync(file, bytes);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    for (const source of [file, pathToFileURL(file), bytes, buffer]) {
      const got = await readFixture(source);
      expect(Object.keys(got).sort()).toEqual(['a', 'b']);
      expect(got.b.dtype).toBe('int32');
      await expectTensorsEqual(got.a, src.a, 'a');
      await expectTensorsEqual(got.b, src.b, 'b');
      tf.dispose(Object.values(got));
    }
    tf.dispose(Object.values(src));
  });
});

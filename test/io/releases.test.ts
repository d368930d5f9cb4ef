/**
 * Loading the official release layouts with reports: encoder-only, full,
 * HF names, .pth, classifier checkpoints both ways, position tables of
 * another grid (against the official interpolate_pos_embed), and the errors.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { ViTEncoder } from '../../src/encode/ViTEncoder';
import { ViTClassifier } from '../../src/classify/ViTClassifier';
import { CheckpointError } from '../../src/errors';
import { readSafetensors } from '../../src/io/safetensors';
import { componentOf, detectRelease, loadPretrained, readWeights } from '../../src/io/releases';
import { sincosTable } from '../../src/patch/posEmbed';
import { expectNoLeaks, expectTensorsClose } from '../../src/testing';
import { FIXTURES_DIR, readBytes } from '../helpers/fixtures';

const MAE_TINY = { imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 4, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4, seed: 11 };
const CLS_TINY = { imgSize: 32, patchSize: 8, numClasses: 10, embedDim: 64, depth: 2, numHeads: 4, seed: 12 };

const fixture = (name: string): Record<string, tf.Tensor> => readSafetensors(readBytes(path.join(FIXTURES_DIR, name)));
const paramsOf = (ref: Record<string, tf.Tensor>): Record<string, tf.Tensor> =>
  Object.fromEntries(Object.entries(ref).filter(([k]) => k.startsWith('param.')).map(([k, v]) => [k.slice(6), v]));
const without = (t: Record<string, tf.Tensor>, re: RegExp): Record<string, tf.Tensor> =>
  Object.fromEntries(Object.entries(t).filter(([k]) => !re.test(k)));

async function same(a: tf.Tensor, b: tf.Tensor): Promise<boolean> {
  const [x, y] = [await a.data(), await b.data()];
  return tf.util.arraysEqual(a.shape, b.shape) && x.every((v, i) => Object.is(v, y[i]));
}

let mae: Record<string, tf.Tensor>;
let cls: Record<string, tf.Tensor>;
let pos: Record<string, tf.Tensor>;

beforeAll(async () => {
  await tf.setBackend('cpu');
  mae = fixture('mae_tiny.safetensors');
  cls = fixture('vit_cls_tiny.safetensors');
  pos = fixture('pos_embed.safetensors');
});
afterAll(() => {
  [mae, cls, pos].forEach((r) => tf.dispose(Object.values(r)));
});

describe('release detection', () => {
  it('names the layout and the component of each name', () => {
    expect(detectRelease(Object.keys(without(paramsOf(mae), /^(decoder|mask_token)/)))).toBe('mae-encoder');
    expect(detectRelease(Object.keys(paramsOf(mae)))).toBe('mae-full');
    expect(detectRelease(Object.keys(paramsOf(cls)))).toBe('classifier');
    expect(detectRelease(['head.0.running_mean', 'head.1.weight'])).toBe('linprobe');
    expect(detectRelease(['foo'])).toBe('unknown');
    expect(['mask_token', 'decoder_pos_embed', 'head.weight', 'fc_norm.bias', 'norm.weight', 'pos_embed'].map(componentOf)).toEqual([
      'decoder',
      'decoder',
      'head',
      'fc_norm',
      'encoder',
      'encoder',
    ]);
  });
});

describe('loadPretrained into MaskedAutoencoder', () => {
  it('encoder-only (mae_pretrain_*): reports the decoder as fresh, the encoder matches out.latent', async () => {
    const model = new MaskedAutoencoder(MAE_TINY);
    model.ensureBuilt(); // creating the weights is not a leak
    const before = model.decoder.stateEntries().map((e) => tf.clone(e.variable.read()));
    const encoderOnly = without(paramsOf(mae), /^(decoder_|mask_token)/);
    const report = await expectNoLeaks(() => loadPretrained(model, encoderOnly), 'encoder-only load');
    expect(report.release).toBe('mae-encoder');
    expect(report.naming).toBe('official');
    expect(report.components).toEqual([
      { component: 'encoder', loaded: 30, total: 30, missing: [] },
      expect.objectContaining({ component: 'decoder', loaded: 0, total: 20 }),
    ]);
    expect(report.summary).toContain('decoder: 0 of 20 tensors, initialised fresh');
    expect(report.summary).toContain('encoder: 30 of 30 tensors loaded');
    expect(report.ignored).toEqual([]);
    const out = model.encoder.forward(mae['input.imgs_nhwc'], { noise: mae['input.noise'] });
    await expectTensorsClose(out.latent, mae['out.latent'], { atol: 2e-5, name: 'latent' });
    tf.dispose([out.latent, out.mask, out.idsKeep, out.idsRestore]);
    const after = model.decoder.stateEntries();
    for (let i = 0; i < after.length; i++) expect(await same(after[i].variable.read(), before[i])).toBe(true);
    tf.dispose(before);
    model.dispose();
  });

  it('full official, HF-named and .pth files load completely and give the official loss', async () => {
    const hf = fixture('mae_tiny.hf.safetensors');
    const pth = readWeights(readBytes(path.join(FIXTURES_DIR, 'mae_tiny.pth')));
    expect(pth.format).toBe('pytorch');
    for (const [what, tensors, naming] of [
      ['official', paramsOf(mae), 'official'],
      ['hf', hf, 'hf'],
      ['pth', pth.tensors, 'official'],
    ] as const) {
      const model = new MaskedAutoencoder(MAE_TINY);
      model.ensureBuilt();
      const report = await expectNoLeaks(() => loadPretrained(model, tensors), `${what} load`);
      expect(report.naming, what).toBe(naming);
      expect(report.release, what).toBe('mae-full');
      expect(report.missing, what).toEqual([]);
      expect(report.ignored, what).toEqual([]);
      expect(report.loaded, what).toHaveLength(50);
      const loss = model.loss(mae['input.imgs_nhwc'], { noise: mae['input.noise'] });
      await expectTensorsClose(loss, mae['out.loss'], { atol: 1e-5, name: `${what} loss` });
      loss.dispose();
      model.dispose();
    }
    tf.dispose([...Object.values(hf), ...Object.values(pth.tensors)]);
  });

  it('a fine-tuned classifier checkpoint: head and fc_norm ignored, norm and decoder fresh', () => {
    const model = new MaskedAutoencoder(MAE_TINY);
    const report = loadPretrained(model, paramsOf(cls));
    expect(report.release).toBe('classifier');
    expect(report.ignored.map((i) => i.name)).toEqual(['head.weight', 'head.bias', 'fc_norm.weight', 'fc_norm.bias']);
    expect(report.ignored[0].reason).toBe('head weights, which this model does not have');
    expect(report.components[0]).toEqual({ component: 'encoder', loaded: 28, total: 30, missing: ['norm.weight', 'norm.bias'] });
    expect(report.summary).toContain('encoder: 28 of 30 tensors loaded; initialised fresh: norm.weight, norm.bias');
    expect(report.summary).toContain('ignored 2 (head weights, which this model does not have): head.weight, head.bias');
    model.dispose();
  });

  it('DistributedDataParallel `module.` prefixes are removed', () => {
    const model = new ViTEncoder({ imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 4 });
    const prefixed = Object.fromEntries(Object.entries(paramsOf(mae)).map(([k, v]) => [`module.${k}`, v]));
    const report = loadPretrained(model, prefixed);
    expect(report.loaded).toHaveLength(30);
    expect(report.ignored).toHaveLength(20);
    model.dispose();
  });
});

describe('loadPretrained into ViTClassifier', () => {
  it('from an MAE file: encoder loaded, decoder and final norm ignored, head and fc_norm fresh', async () => {
    const clf = new ViTClassifier(CLS_TINY);
    const report = loadPretrained(clf, paramsOf(mae));
    expect(report.components.map((c) => [c.component, c.loaded, c.total])).toEqual([
      ['encoder', 28, 28],
      ['head', 0, 2],
      ['fc_norm', 0, 2],
    ]);
    expect(report.ignored.filter((i) => i.name.startsWith('norm.')).map((i) => i.reason)).toEqual([
      'the final norm, which a global-pool classifier replaces by fc_norm',
      'the final norm, which a global-pool classifier replaces by fc_norm',
    ]);
    expect(report.ignored).toHaveLength(22);
    expect(await same(clf.posEmbed.read(), mae['param.pos_embed'])).toBe(true);
    clf.dispose();
  });

  it('a learned 4×4 table is interpolated to 6×6 and 3×3 as the official interpolate_pos_embed', async () => {
    for (const [imgSize, ref, grid] of [
      [48, 'interp.out6', 6],
      [24, 'interp.out3', 3],
    ] as const) {
      const clf = new ViTClassifier({ ...CLS_TINY, imgSize });
      clf.ensureBuilt();
      const tensors = { ...paramsOf(cls), pos_embed: pos['interp.in'] };
      const report = await expectNoLeaks(() => loadPretrained(clf, tensors), 'interpolating load');
      expect(report.resampled).toEqual([{ name: 'pos_embed', from: [4, 4], to: [grid, grid], how: 'interpolated' }]);
      expect(report.summary).toContain(`pos_embed: 4×4 grid interpolated (bicubic) to ${grid}×${grid}`);
      expect(report.missing).toEqual([]);
      await expectTensorsClose(clf.posEmbed.read(), pos[ref], { atol: 1e-5, name: ref });
      clf.dispose();
    }
  });
});

describe('frozen sin-cos tables of another grid', () => {
  it('are recomputed for the model grid, the other weights loaded', async () => {
    const model = new MaskedAutoencoder({ ...MAE_TINY, imgSize: 48 });
    const report = loadPretrained(model, paramsOf(mae));
    expect(report.resampled).toEqual([
      { name: 'pos_embed', from: [4, 4], to: [6, 6], how: 'recomputed' },
      { name: 'decoder_pos_embed', from: [4, 4], to: [6, 6], how: 'recomputed' },
    ]);
    expect(report.missing).toEqual([]);
    await expectTensorsClose(model.encoder.posEmbed.read(), sincosTable(64, 6, 6, true), { atol: 0, name: 'pos_embed' });
    await expectTensorsClose(model.decoder.decoderPosEmbed.read(), sincosTable(32, 6, 6, true), { atol: 0, name: 'decoder_pos_embed' });
    model.dispose();
  });

  it('a non-square source grid needs sourceGridSize', () => {
    const model = new ViTClassifier({ ...CLS_TINY, imgSize: [32, 48] });
    const table = tf.randomNormal([1, 1 + 2 * 3, 64], 0, 1, 'float32', 1);
    expect(() => loadPretrained(model, { ...paramsOf(cls), pos_embed: table })).toThrow(/pass sourceGridSize/);
    const report = loadPretrained(model, { ...paramsOf(cls), pos_embed: table }, { sourceGridSize: [2, 3] });
    expect(report.resampled[0]).toEqual({ name: 'pos_embed', from: [2, 3], to: [4, 6], how: 'interpolated' });
    table.dispose();
    model.dispose();
  });
});

describe('errors', () => {
  it('mis-shaped weights (another architecture) throw before anything is written, without leaks', async () => {
    const gray = fixture('mae_rect_gray.safetensors');
    const model = new MaskedAutoencoder(MAE_TINY);
    model.ensureBuilt();
    const before = tf.clone(model.encoder.clsToken.read());
    await expectNoLeaks(() => {
      expect(() => loadPretrained(model, paramsOf(gray))).toThrow(CheckpointError);
    }, 'mis-shaped load');
    expect(() => loadPretrained(model, paramsOf(gray))).toThrow(/mis-shaped \d+: cls_token expected \[1, 1, 64\] got \[1, 1, 48\]/);
    expect(await same(model.encoder.clsToken.read(), before)).toBe(true);
    tf.dispose([before, ...Object.values(gray)]);
    model.dispose();
  });

  it('strict refuses a partial file; a file with nothing of the model is refused; bad arguments are typed', () => {
    const model = new MaskedAutoencoder(MAE_TINY);
    const encoderOnly = without(paramsOf(mae), /^(decoder_|mask_token)/);
    expect(() => loadPretrained(model, encoderOnly, { strict: true })).toThrow(/missing 20: mask_token/);
    const foo = tf.zeros([2]);
    expect(() => loadPretrained(model, { foo })).toThrow(/none of the 1 tensors in the file is a weight of this model/);
    expect(() => loadPretrained(model, { foo: [1, 2] } as unknown as Record<string, tf.Tensor>)).toThrow(CheckpointError);
    expect(() => loadPretrained(model, paramsOf(mae), { naming: 'timm' as 'hf' })).toThrow(/naming must be/);
    expect(() => readWeights(new Uint8Array([1, 2, 3]))).toThrow(CheckpointError);
    foo.dispose();
    model.dispose();
  });
});

/**
 * loadPretrainedModelFrom: the one resolve → build → load path over an
 * opened weights file (fromPretrained, the CLI's --weights and the browser
 * demo go through it): the weights of the file bit for bit, training
 * checkpoints (optimizer.* tensors) accepted, `allowMissing: false` and
 * `decide` refusing before any tensor is read, `imgSize` resampling, and no
 * leaks on success or error; and no initialiser run for a weight the file
 * provides (the draws counted), the weights and outputs of the eager build +
 * load, the seeded values for weights it does not provide; cpu and wasm.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type ByteSource,
  CheckpointError,
  type MAELayer,
  MaskedAutoencoder,
  ViTClassifier,
  ViTEncoder,
  bytesSource,
  encodeCheckpoint,
  encodeSafetensors,
  loadPretrainedModel,
  loadPretrainedModelFrom,
  maeVitTinyPatch4,
  openWeights,
  parseSafetensors,
  saveWeights,
  type AdamWState,
  type ResolvedConfig,
  buildModel,
  loadPretrainedFrom,
  readSafetensors,
} from '../../src';
import { normal, uniform, xavierUniform } from '../../src/nn/init';
import { describeBackends, expectNoLeaks } from '../../src/testing';
import { FIXTURES_DIR, readBytes } from '../helpers/fixtures';

/** Every weight of `model` under its official name, as host arrays. */
async function weightsOf(model: MAELayer): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const e of model.stateEntries()) out.set(e.name, (await e.variable.read().data()) as Float32Array);
  return out;
}

/** Asserts that two models hold bit-identical weights under the same names. */
async function expectSameWeights(actual: MAELayer, expected: MAELayer): Promise<void> {
  const [a, b] = [await weightsOf(actual), await weightsOf(expected)];
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [name, values] of b) expect(Array.from(a.get(name)!), name).toEqual(Array.from(values));
}

/** A training checkpoint as `pretrain` / `finetune` write it: the weights plus AdamW moments `optimizer.m.*` / `optimizer.v.*` of every weight. */
async function trainingCheckpoint(model: MAELayer, weights: Uint8Array): Promise<Uint8Array> {
  const params: AdamWState['params'] = {};
  for (const e of model.stateEntries()) {
    const shape = e.variable.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    params[e.name] = { step: 3, shape, m: new Float32Array(n).fill(0.25), v: new Float32Array(n).fill(0.5) };
  }
  return encodeCheckpoint({ weights, optimizer: { step: 3, params }, step: 3, epoch: 1, seed: 7, stepsPerEpoch: 3, accumSteps: 1 });
}

/** `bytes` as a ByteSource that counts the bytes read. */
function counted(bytes: Uint8Array, name: string): { source: ByteSource; read: () => number } {
  let n = 0;
  const inner = bytesSource(bytes, name);
  return { source: { ...inner, read: async (offset, length) => ((n += length), inner.read(offset, length)) }, read: () => n };
}

/** `bytes` without their `__metadata__` (no stored config: inferred from names and shapes). */
function withoutConfig(bytes: Uint8Array): Uint8Array {
  return encodeSafetensors(parseSafetensors(bytes).tensors);
}

describeBackends(['cpu', 'wasm'], (backend) => {
  it(`our file opened by ranges: the same model, bit-identical weights, the config in the summary, no leaks [${backend}]`, async () => {
    const mae = maeVitTinyPatch4({ seed: 5 });
    const bytes = await saveWeights(mae);
    const before = tf.memory().numTensors;
    const { model, config, report, file, format } = await loadPretrainedModelFrom(await openWeights(bytesSource(bytes, 'mae.safetensors')));
    expect([file, format, config.source]).toEqual(['mae.safetensors', 'safetensors', 'metadata']);
    expect(model).toBeInstanceOf(MaskedAutoencoder);
    expect(report.summary[1]).toBe('config: MaskedAutoencoder from the file');
    await expectSameWeights(model, mae);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    mae.dispose();
  });

  it(`a training checkpoint (optimizer.* tensors, stored config) loads as its weights: fromPretrained, strict too [${backend}]`, async () => {
    const mae = maeVitTinyPatch4({ seed: 6 });
    const ckpt = await trainingCheckpoint(mae, await saveWeights(mae));
    const optimizerTensors = [...parseSafetensors(ckpt).tensors.keys()].filter((n) => n.startsWith('optimizer.')).length;
    expect(optimizerTensors).toBe(2 * mae.stateEntries().length);
    const { model, report } = await loadPretrainedModel({ weights: ckpt, name: 'checkpoint-0.safetensors' }, { strict: true });
    await expectSameWeights(model, mae);
    expect(report.ignored).toEqual([]);
    expect(report.summary).toContain(`training checkpoint: its ${optimizerTensors} optimizer.* tensors (the optimiser state) not read`);
    model.dispose();
    const again = await MaskedAutoencoder.fromPretrained(ckpt);
    await expectSameWeights(again, mae);
    again.dispose();
    mae.dispose();
  });

  it(`a training checkpoint without a stored config: inferred from the weights' names alone [${backend}]`, async () => {
    const mae = maeVitTinyPatch4({ seed: 8 });
    const ckpt = await trainingCheckpoint(mae, withoutConfig(await saveWeights(mae)));
    const { model, config } = await loadPretrainedModel(ckpt, { hints: { numHeads: 4, decoderNumHeads: 4 } });
    expect(config.source).toBe('inferred');
    expect(model).toBeInstanceOf(MaskedAutoencoder);
    await expectSameWeights(model, mae);
    model.dispose();
    mae.dispose();
  });

  it(`a fine-tuning checkpoint (a classifier with optimizer.* tensors) through ViTClassifier.fromPretrained [${backend}]`, async () => {
    const clf = new ViTClassifier({ imgSize: 16, patchSize: 4, inChans: 1, embedDim: 32, depth: 1, numHeads: 2, numClasses: 3, seed: 2 });
    const again = await ViTClassifier.fromPretrained(await trainingCheckpoint(clf, await saveWeights(clf)));
    await expectSameWeights(again, clf);
    again.dispose();
    clf.dispose();
  });
}, { describe, beforeAll });

describe('loadPretrainedModelFrom: options and errors', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('allowMissing: false refuses an encoder-only file as an MAE before any tensor is read, naming the file and the weights; nothing leaks', async () => {
    const enc = new ViTEncoder({ imgSize: 16, patchSize: 4, inChans: 1, embedDim: 32, depth: 1, numHeads: 2, seed: 1 });
    const bytes = await saveWeights(enc);
    const { source, read } = counted(bytes, 'encoder.safetensors');
    const index = await openWeights(source);
    const header = read();
    await expectNoLeaks(
      () =>
        expect(loadPretrainedModel(source, { allowMissing: false }, 'MaskedAutoencoder')).rejects.toThrow(
          /^encoder\.safetensors does not hold every weight of the MaskedAutoencoder: \d+ missing \(mask_token, decoder_pos_embed, decoder_embed\.weight, …\)$/,
        ),
      'allowMissing: false',
    );
    expect(read()).toBeLessThanOrEqual(2 * header); // the header again, no tensor
    // allowed (the default): the decoder is initialised fresh and reported
    const { model, report } = await loadPretrainedModelFrom(index, { decide: (c) => ({ ...c, className: 'MaskedAutoencoder', config: { ...c.config, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 } }) });
    expect(report.summary.join('\n')).toMatch(/decoder: 0 of \d+ tensors, initialised fresh/);
    model.dispose();
    enc.dispose();
  });

  it('decide refuses and onBuilt throws: the error as thrown, the model disposed, nothing leaks', async () => {
    const mae = maeVitTinyPatch4({ seed: 2 });
    const index = await openWeights(bytesSource(await saveWeights(mae), 'mae.safetensors'));
    mae.dispose();
    await expectNoLeaks(
      () =>
        expect(
          loadPretrainedModelFrom(index, {
            decide: (c, file) => {
              throw new CheckpointError(`${file}: no ${c.className} today`);
            },
          }),
        ).rejects.toThrow('mae.safetensors: no MaskedAutoencoder today'),
      'decide',
    );
    let built: MAELayer | undefined;
    await expectNoLeaks(
      () =>
        expect(
          loadPretrainedModelFrom(index, {
            onBuilt: (m) => {
              built = m;
              throw new Error('stop');
            },
          }),
        ).rejects.toThrow('stop'),
      'onBuilt',
    );
    expect(built).toBeInstanceOf(MaskedAutoencoder);
    await expect(loadPretrainedModelFrom({} as never)).rejects.toThrow(/weights must be a WeightsIndex from openWeights\(\)/);
  });

  it('imgSize builds the model for another size: position tables resampled, a config note; the same size adds no note', async () => {
    const mae = maeVitTinyPatch4({ seed: 3 }); // 28 px, patch 4
    const index = await openWeights(bytesSource(await saveWeights(mae), 'mae.safetensors'));
    const { model, config, report } = await loadPretrainedModelFrom(index, { imgSize: 32 });
    expect((model as MaskedAutoencoder).config.imgSize).toEqual([32, 32]);
    expect(config.notes).toEqual(["built for 32 px (the file's model: 28 px); position tables resampled"]);
    expect(report.summary).toContain("config: built for 32 px (the file's model: 28 px); position tables resampled");
    expect(report.resampled.map((r) => r.name)).toEqual(['pos_embed', 'decoder_pos_embed']);
    model.dispose();
    const same = await loadPretrainedModelFrom(index, { imgSize: [28, 28] });
    expect(same.config.notes).toEqual([]);
    same.model.dispose();
    mae.dispose();
  });
});

/** Where `apply` of a tfjs-layers initializer is defined (spied on to count draws). */
function applyOwner(initializer: object): { apply: (...args: unknown[]) => tf.Tensor } {
  let proto = Object.getPrototypeOf(initializer) as object;
  while (!Object.prototype.hasOwnProperty.call(proto, 'apply')) proto = Object.getPrototypeOf(proto) as object;
  return proto as { apply: (...args: unknown[]) => tf.Tensor };
}

/** Counts the random draws of the official initialisers (xavier, normal, uniform) while `fn` runs. */
async function countDraws<T>(fn: () => Promise<T>): Promise<{ value: T; xavier: number; normal: number; uniform: number }> {
  const spies = [xavierUniform(), normal(0.02), uniform(1)].map((i) => vi.spyOn(applyOwner(i), 'apply'));
  try {
    const value = await fn();
    const [xavier, normalDraws, uniformDraws] = spies.map((s) => s.mock.calls.length);
    return { value, xavier, normal: normalDraws, uniform: uniformDraws };
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
}

/** The load before deferred init: the model built with its random init, then every weight of the file written over it. */
async function eagerLoad(config: ResolvedConfig, bytes: Uint8Array): Promise<MAELayer> {
  const model = buildModel(config);
  await loadPretrainedFrom(model, await openWeights(bytesSource(bytes)));
  return model;
}

describeBackends(['cpu', 'wasm'], (backend) => {
  const imgs = (c: number, size: number): tf.Tensor4D => tf.randomNormal([2, size, size, c], 0, 1, 'float32', 17);

  it(`a full MAE file: no initialiser runs, and weights and loss are those of the eager build + load [${backend}]`, async () => {
    const mae = maeVitTinyPatch4({ seed: 21 });
    const bytes = await saveWeights(mae);
    mae.dispose();
    const before = tf.memory().numTensors;
    const { value: loaded, xavier, normal: n, uniform: u } = await countDraws(() => loadPretrainedModel(bytes));
    expect([xavier, n, u]).toEqual([0, 0, 0]);
    const eager = await eagerLoad(loaded.config, bytes);
    await expectSameWeights(loaded.model, eager);
    const x = imgs(1, 28);
    const noise = tf.randomUniform([2, 49], 0, 1, 'float32', 3);
    const [a, b] = [(loaded.model as MaskedAutoencoder).loss(x, { noise }), (eager as MaskedAutoencoder).loss(x, { noise })];
    expect((await a.data())[0]).toBe((await b.data())[0]);
    tf.dispose([x, noise, a, b]);
    loaded.model.dispose();
    eager.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it(`an official .pth: no initialiser runs; the official loss [${backend}]`, async () => {
    const { value: mae, xavier, normal: n, uniform: u } = await countDraws(() => MaskedAutoencoder.fromPretrained(path.join(FIXTURES_DIR, 'mae_tiny.pth'), { hints: { numHeads: 4, decoderNumHeads: 4 } }));
    expect([xavier, n, u]).toEqual([0, 0, 0]);
    const ref = readSafetensors(readBytes(path.join(FIXTURES_DIR, 'mae_tiny.safetensors')));
    const loss = mae.loss(ref['input.imgs_nhwc'], { noise: ref['input.noise'] });
    expect(Math.abs((await loss.data())[0] - (await ref['out.loss'].data())[0])).toBeLessThan(1e-5);
    tf.dispose([loss, ...Object.values(ref)]);
    mae.dispose();
  });

  it(`an encoder-only file into a ViTClassifier: only the new head is drawn, and it is fromMAE's (same seed): weights and logits [${backend}]`, async () => {
    const enc = new ViTEncoder({ imgSize: 16, patchSize: 4, inChans: 1, embedDim: 32, depth: 2, numHeads: 2, seed: 4 });
    const bytes = await saveWeights(enc);
    enc.dispose();
    for (const head of ['linear', 'linprobe'] as const) {
      const { value: clf, xavier, normal: n, uniform: u } = await countDraws(() => ViTClassifier.fromPretrained(bytes, { numClasses: 5, seed: 9, head }));
      expect([xavier, n, u]).toEqual([0, 1, 0]);
      const { model: encoder } = await loadPretrainedModel(bytes);
      const viaMAE = ViTClassifier.fromMAE(encoder as ViTEncoder, { numClasses: 5, seed: 9, head });
      await expectSameWeights(clf, viaMAE);
      const x = imgs(1, 16);
      const [a, b] = [clf.forward(x), viaMAE.forward(x)];
      expect(Array.from(await a.logits.data())).toEqual(Array.from(await b.logits.data()));
      tf.dispose([x, a.logits, a.features, b.logits, b.features]);
      [clf, encoder, viaMAE].forEach((m) => m.dispose());
    }
  });

  it(`a training checkpoint: no initialiser runs; the weights of the eager load of its weights alone [${backend}]`, async () => {
    const mae = maeVitTinyPatch4({ seed: 22 });
    const weights = await saveWeights(mae);
    const ckpt = await trainingCheckpoint(mae, weights);
    mae.dispose();
    const { value: loaded, xavier, normal: n, uniform: u } = await countDraws(() => loadPretrainedModel(ckpt));
    expect([xavier, n, u]).toEqual([0, 0, 0]);
    const eager = await eagerLoad(loaded.config, weights);
    await expectSameWeights(loaded.model, eager);
    loaded.model.dispose();
    eager.dispose();
  });

  it(`weights the file lacks get the same seeded values as an eager build (a decoder on an encoder file) [${backend}]`, async () => {
    const enc = new ViTEncoder({ imgSize: 28, patchSize: 4, inChans: 1, embedDim: 32, depth: 1, numHeads: 2, seed: 5 });
    const bytes = await saveWeights(enc);
    enc.dispose();
    const decide = (c: ResolvedConfig): ResolvedConfig => ({ ...c, className: 'MaskedAutoencoder', config: { ...c.config, decoderEmbedDim: 16, decoderDepth: 2, decoderNumHeads: 2, seed: 31 } });
    const { value: loaded, xavier, normal: n, uniform: u } = await countDraws(async () => loadPretrainedModelFrom(await openWeights(bytesSource(bytes)), { decide }));
    // the decoder's Linears (embed, 4 per block, pred) and its mask token; nothing of the encoder
    expect([xavier, n, u]).toEqual([1 + 4 * 2 + 1, 1, 0]);
    const eager = await eagerLoad(loaded.config, bytes);
    await expectSameWeights(loaded.model, eager);
    loaded.model.dispose();
    eager.dispose();
  });

  it(`a file that fails while its tensors are read: the half-loaded model is disposed, nothing leaks [${backend}]`, async () => {
    const mae = maeVitTinyPatch4({ seed: 23 });
    const bytes = await saveWeights(mae);
    mae.dispose();
    const inner = bytesSource(bytes, 'torn.safetensors');
    let reads = 0;
    const torn: ByteSource = { ...inner, read: async (offset, length) => (++reads > 6 ? Promise.reject(new CheckpointError('torn.safetensors: the disk went away')) : inner.read(offset, length)) };
    await expectNoLeaks(() => expect(loadPretrainedModel(torn)).rejects.toThrow('torn.safetensors: the disk went away'), 'torn file');
    expect(reads).toBeGreaterThan(6);
  });
}, { describe, beforeAll });

/**
 * Save → load through tf.io handlers (memory, and a Node folder without
 * tfjs-node) for every model class: same class and config, bit-identical
 * outputs, no leaks; and the errors.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { ViTEncoder } from '../../src/encode/ViTEncoder';
import { ViTClassifier } from '../../src/classify/ViTClassifier';
import { LinearProbeHead } from '../../src/classify/LinearProbeHead';
import { CheckpointError } from '../../src/errors';
import type { MAELayer } from '../../src/nn/MAELayer';
import { readSafetensors } from '../../src/io/safetensors';
import { loadModel, saveModel } from '../../src/io/tfjsModel';
import { modelConfigOf } from '../../src/io/modelConfig';
import { MODEL_FILE, WEIGHTS_FILE, nodeFolderHandler } from '../../src/io/nodeFolder';
import { expectNoLeaks } from '../../src/testing';
import { FIXTURES_DIR, readBytes } from '../helpers/fixtures';

const MAE_TINY = { imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 4, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4 };

let ref: Record<string, tf.Tensor>;
let tmp: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  ref = readSafetensors(readBytes(path.join(FIXTURES_DIR, 'mae_tiny.safetensors')));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-model-'));
});
afterAll(() => {
  tf.dispose(Object.values(ref));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const params = (r: Record<string, tf.Tensor>): Record<string, tf.Tensor> =>
  Object.fromEntries(Object.entries(r).filter(([k]) => k.startsWith('param.')).map(([k, v]) => [k.slice(6), v]));

/** Every output of a model on the fixture images, as plain arrays (tensors disposed). */
async function outputs(model: MAELayer): Promise<number[][]> {
  const imgs = ref['input.imgs_nhwc'];
  const noise = ref['input.noise'];
  let ts: tf.Tensor[];
  if (model instanceof MaskedAutoencoder) ts = Object.values(model.forward(imgs, { noise }));
  else if (model instanceof ViTEncoder) ts = Object.values(model.forward(imgs, { noise })) as tf.Tensor[];
  else if (model instanceof ViTClassifier) ts = Object.values(model.forward(imgs)) as tf.Tensor[];
  else throw new Error('unknown model');
  const arrays = await Promise.all(ts.map(async (t) => Array.from(await t.data())));
  tf.dispose(ts);
  return arrays;
}

/** An in-memory round trip through tf.io.withSaveHandler / tf.io.fromMemory. */
async function viaMemory<T extends MAELayer>(model: T): Promise<{ loaded: T; artifacts: tf.io.ModelArtifacts }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await saveModel(
    model,
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const loaded = await loadModel<T>(tf.io.fromMemory(artifacts!));
  return { loaded, artifacts: artifacts! };
}

function models(): Array<[string, MAELayer]> {
  const mae = new MaskedAutoencoder({ ...MAE_TINY, normPixLoss: true });
  mae.loadStateDict(params(ref));
  const probe = new ViTClassifier({ imgSize: 32, patchSize: 8, numClasses: 5, embedDim: 64, depth: 2, numHeads: 4, head: 'linprobe', globalPool: false, dropPath: 0.1, seed: 4 });
  // Move the probe's running statistics away from their init.
  const step = probe.forward(ref['input.imgs_nhwc'], { training: true, seed: 1 });
  tf.dispose([step.logits, step.features]);
  return [
    ['MaskedAutoencoder', mae],
    ['ViTEncoder', new ViTEncoder({ imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 4, maskRatio: 0.5, seed: 3 })],
    ['ViTClassifier', new ViTClassifier({ imgSize: 32, patchSize: 8, numClasses: 10, embedDim: 64, depth: 2, numHeads: 4, seed: 5 })],
    ['ViTClassifier (linprobe)', probe],
  ];
}

describe('saveModel / loadModel', () => {
  it('round-trips every model class through memory: class, config and bit-identical outputs', async () => {
    for (const [name, model] of models()) {
      model.ensureBuilt();
      const { loaded, artifacts } = await viaMemory(model);
      expect(artifacts.format, name).toBe('tfjs-mae');
      expect((artifacts.modelTopology as { className: string }).className).toBe((model.constructor as unknown as { className: string }).className);
      expect(loaded.constructor, name).toBe(model.constructor);
      expect(loaded.getConfig(), name).toEqual(model.getConfig());
      expect(await outputs(loaded), name).toEqual(await outputs(model));
      if (model instanceof ViTClassifier && model.head instanceof LinearProbeHead) {
        const h = (loaded as ViTClassifier).head as LinearProbeHead;
        expect(Array.from(await h.runningVar.read().data())).toEqual(Array.from(await model.head.runningVar.read().data()));
        expect((await h.numBatchesTracked.read().data())[0]).toBe(1);
      }
      loaded.dispose();
      model.dispose();
    }
  });

  it('round-trips through a Node folder (model.json + weights.bin) without tfjs-node, bit-identical', async () => {
    const dir = path.join(tmp, 'mae');
    const model = new MaskedAutoencoder(MAE_TINY);
    model.loadStateDict(params(ref));
    const result = await saveModel(model, nodeFolderHandler(dir), { metadata: { recipe: '{"lr":1}', format: 'pt' } });
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(fs.statSync(path.join(dir, WEIGHTS_FILE)).size);
    const json = JSON.parse(fs.readFileSync(path.join(dir, MODEL_FILE), 'utf8'));
    expect(json.format).toBe('tfjs-mae');
    // the metadata a safetensors file would carry: the config as there, and the passed keys (format dropped)
    expect(json.userDefinedMetadata).toEqual({ recipe: '{"lr":1}', config: JSON.stringify(modelConfigOf(model)) });
    expect(json.modelTopology.className).toBe('MaskedAutoencoder');
    expect(json.weightsManifest[0].paths).toEqual([WEIGHTS_FILE]);
    expect(json.weightsManifest[0].weights[0]).toEqual({ name: 'cls_token', shape: [1, 1, 64], dtype: 'float32' });
    const loaded = await loadModel<MaskedAutoencoder>(nodeFolderHandler(`file://${dir}`));
    expect(await outputs(loaded)).toEqual(await outputs(model));
    const lossRef = (await ref['out.loss'].data())[0];
    const loss = loaded.loss(ref['input.imgs_nhwc'], { noise: ref['input.noise'] });
    expect(Math.abs((await loss.data())[0] - lossRef)).toBeLessThan(1e-5);
    loss.dispose();
    loaded.dispose();
    model.dispose();
  });

  it('save and load leak no tensors (the loaded model disposed)', async () => {
    const model = new ViTClassifier({ imgSize: 32, patchSize: 8, numClasses: 3, embedDim: 32, depth: 1, numHeads: 2, seed: 1 });
    model.ensureBuilt();
    await expectNoLeaks(async () => {
      const { loaded } = await viaMemory(model);
      loaded.dispose();
    }, 'memory round trip');
    model.dispose();
  });
});

describe('errors', () => {
  it('refuses foreign artifacts, unknown classes and mismatching weights, without leaks', async () => {
    const model = new ViTEncoder({ imgSize: 16, patchSize: 8, embedDim: 16, depth: 1, numHeads: 2, seed: 1 });
    model.ensureBuilt();
    const { loaded, artifacts } = await viaMemory(model);
    loaded.dispose();
    const topology = artifacts.modelTopology as { className: string; config: Record<string, unknown> };
    const variants: Array<[string, tf.io.ModelArtifacts, RegExp]> = [
      ['keras topology', { ...artifacts, modelTopology: { class_name: 'Sequential' } }, /modelTopology must be \{ className, config \}/],
      ['unknown class', { ...artifacts, modelTopology: { ...topology, className: 'NoSuchLayer' } }, /"NoSuchLayer" is not registered/],
      ['other config', { ...artifacts, modelTopology: { ...topology, config: { ...topology.config, depth: 2 } } }, /missing blocks\.1\.norm1\.weight/],
      ['other shapes', { ...artifacts, modelTopology: { ...topology, config: { ...topology.config, embedDim: 32 } } }, /cls_token is float32 \[1, 1, 16\], expected float32 \[1, 1, 32\]/],
      ['no weights', { ...artifacts, weightData: undefined }, /no weightSpecs/],
    ];
    for (const [what, a, message] of variants) {
      await expectNoLeaks(async () => {
        await expect(loadModel(tf.io.fromMemory(a)), what).rejects.toThrow(message);
      }, what);
    }
    await expect(saveModel(model, 'file:///tmp/nowhere')).rejects.toThrow(/matches 0 tf.io save handlers.*nodeFolderHandler/);
    await expect(loadModel('nope://x')).rejects.toThrow(CheckpointError);
    await expect(saveModel({} as MAELayer, tf.io.withSaveHandler(async () => ({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })))).rejects.toThrow(
      /model must be a tfjs-mae layer/,
    );
    await expect(loadModel(nodeFolderHandler(path.join(tmp, 'missing')))).rejects.toThrow(/cannot read/);
    expect(() => nodeFolderHandler('')).toThrow(CheckpointError);
    model.dispose();
  });
});

/**
 * The stored config and the one decision of which model a file holds:
 * ours, then an HF ViTMAEConfig, then names + shapes with the official
 * presets' heads; errors that name the file, the field and the option.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, MaskedAutoencoder, ViTClassifier, ViTEncoder, maeVitTinyPatch4 } from '../../src';
import {
  buildModel,
  compareWithStored,
  modelConfigOf,
  officialShapes,
  readStoredConfig,
  resolveModelConfig,
  weightsMetadata,
} from '../../src/io/modelConfig';
import { fromHFConfig, toHFConfig } from '../../src/io/hfConfig';
import { parseWeights } from '../../src/io/releases';
import { FIXTURES_DIR, readBytes } from '../helpers/fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const shapesOf = (file: string): Map<string, number[]> =>
  new Map([...parseWeights(readBytes(path.join(FIXTURES_DIR, file))).tensors].map(([n, t]) => [n, t.shape]));

/** Official-named shapes of an MAE of the given widths (only what inference reads). */
function maeShapes(d: number, dd: number | undefined, { p = 16, c = 3, grid = 14, depth = 2, decoderDepth = 2 } = {}): Map<string, number[]> {
  const s = new Map<string, number[]>([
    ['cls_token', [1, 1, d]],
    ['pos_embed', [1, 1 + grid * grid, d]],
    ['patch_embed.proj.weight', [d, c, p, p]],
  ]);
  for (let i = 0; i < depth; i++) s.set(`blocks.${i}.mlp.fc1.weight`, [4 * d, d]);
  if (dd !== undefined) {
    s.set('decoder_embed.weight', [dd, d]);
    for (let i = 0; i < decoderDepth; i++) s.set(`decoder_blocks.${i}.mlp.fc1.weight`, [4 * dd, dd]);
  }
  return s;
}

describe('inference from names and shapes', () => {
  it('gives the official presets their heads (ViT-B/L/H, decoder 512 → 16)', () => {
    for (const [d, heads] of [[768, 12], [1024, 16], [1280, 16]]) {
      const r = resolveModelConfig({ file: 'x.pth', shapes: maeShapes(d, 512) });
      expect(r.source).toBe('inferred');
      expect(r.className).toBe('MaskedAutoencoder');
      expect(r.config).toMatchObject({ embedDim: d, numHeads: heads, decoderEmbedDim: 512, decoderNumHeads: 16, imgSize: 224, patchSize: 16, depth: 2, decoderDepth: 2 });
      expect(r.notes.join('\n')).toContain(`numHeads ${heads}: the official preset of the encoder width ${d}`);
    }
    expect(resolveModelConfig({ shapes: maeShapes(768, undefined) }).className).toBe('MAEViTEncoder');
  });

  it('refuses to guess the heads of a width no preset has, naming the file, the field and the option', () => {
    const shapes = shapesOf('mae_tiny.pth'); // 64 wide, decoder 32 wide
    expect(() => resolveModelConfig({ file: 'mae_tiny.pth', shapes })).toThrow(
      /mae_tiny\.pth: cannot infer numHeads: the encoder is 64 wide.*pass it \(hints\.numHeads\)/,
    );
    expect(() => resolveModelConfig({ file: 'mae_tiny.pth', shapes, hints: { numHeads: 4 }, hintNames: { decoderNumHeads: '--decoder-heads N' } })).toThrow(
      /mae_tiny\.pth: cannot infer decoderNumHeads: the decoder is 32 wide.*pass it \(--decoder-heads N\)/,
    );
    // a decoder of a preset encoder width is still not a preset decoder
    expect(() => resolveModelConfig({ file: 'f', shapes: maeShapes(768, 256) })).toThrow(CheckpointError);
    const r = resolveModelConfig({ file: 'mae_tiny.pth', shapes, hints: { numHeads: 4, decoderNumHeads: 4 } });
    expect(r.config).toMatchObject({ imgSize: 32, patchSize: 8, inChans: 3, embedDim: 64, depth: 2, numHeads: 4, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4, mlpRatio: 4 });
  });

  it('reads HF names too (q/k/v merged, same config as the official names)', () => {
    const hints = { numHeads: 4, decoderNumHeads: 4 };
    const hf = resolveModelConfig({ shapes: shapesOf('mae_tiny.hf.safetensors'), hints });
    const official = resolveModelConfig({ shapes: shapesOf('mae_tiny.pth'), hints });
    expect(hf.config).toEqual(official.config);
    expect(officialShapes(shapesOf('mae_tiny.hf.safetensors')).get('blocks.0.attn.qkv.weight')).toEqual([192, 64]);
  });

  it('a classifier: classes, pooling, head kind', () => {
    const cls = new Map([...shapesOf('vit_cls_tiny.safetensors')].filter(([n]) => n.startsWith('param.')).map(([n, s]) => [n.slice(6), s]));
    const r = resolveModelConfig({ shapes: cls, hints: { numHeads: 4 } });
    expect(r.className).toBe('MAEViTClassifier');
    expect(r.config).toMatchObject({ numClasses: 10, globalPool: true, head: 'linear', qkvBias: true, embedDim: 64 });
  });
});

describe('the stored config', () => {
  it('is the class and the constructor arguments, and builds the same model', () => {
    const mae = maeVitTinyPatch4({ numHeads: 2, decoderNumHeads: 8, normPixLoss: true, seed: 3 });
    const meta = weightsMetadata(mae, { recipe: '{"lr":1}', config: 'replaced' });
    expect(meta.format).toBe('pt');
    expect(meta.recipe).toBe('{"lr":1}');
    const stored = JSON.parse(meta.config);
    expect(stored.className).toBe('MaskedAutoencoder');
    expect(stored.config).not.toHaveProperty('name');
    expect(stored.config).not.toHaveProperty('seed');
    const r = resolveModelConfig({ metadata: meta, shapes: maeShapes(128, 64) });
    expect(r.source).toBe('metadata');
    const again = buildModel(r) as MaskedAutoencoder;
    expect(again).toBeInstanceOf(MaskedAutoencoder);
    expect(modelConfigOf(again)).toEqual(modelConfigOf(mae));
    for (const m of [new ViTEncoder({ imgSize: 16, patchSize: 4, embedDim: 32, depth: 1, numHeads: 2 }), new ViTClassifier({ imgSize: 16, patchSize: 4, embedDim: 32, depth: 1, numHeads: 2, numClasses: 3 })]) {
      const back = buildModel(readStoredConfig(weightsMetadata(m))!);
      expect(back.constructor).toBe(m.constructor);
      expect(modelConfigOf(back)).toEqual(modelConfigOf(m));
      back.dispose();
      m.dispose();
    }
    again.dispose();
    mae.dispose();
  });

  it('the older flat form (examples/weights) is read, its class from the tensors', () => {
    const meta = { format: 'pt', config: '{"imgSize":28,"patchSize":4,"inChans":1,"embedDim":64,"depth":2,"numHeads":4,"decoderEmbedDim":32,"decoderDepth":1,"decoderNumHeads":4}' };
    expect(readStoredConfig(meta)?.className).toBe('MaskedAutoencoder');
    const r = resolveModelConfig({ metadata: meta, shapes: maeShapes(64, 32, { p: 4, c: 1, grid: 7 }) });
    expect(r).toMatchObject({ className: 'MaskedAutoencoder', source: 'metadata' });
    expect(r.config).toMatchObject({ numHeads: 4, decoderNumHeads: 4 });
  });

  it('wins over config.json and inference; a contradicting hint is an error naming both values', () => {
    const meta = weightsMetadata(maeVitTinyPatch4());
    const hfConfig = { model_type: 'vit_mae', hidden_size: 999 };
    expect(resolveModelConfig({ metadata: meta, hfConfig }).config.embedDim).toBe(128);
    expect(() => resolveModelConfig({ file: 'w.safetensors', metadata: meta, hints: { numHeads: 8 }, hintNames: { numHeads: '--heads 8' } })).toThrow(
      /w\.safetensors: numHeads 8 \(--heads 8\) contradicts the config stored in the file \(numHeads 4\)/,
    );
    expect(resolveModelConfig({ metadata: meta, hints: { numHeads: 4 } }).config.numHeads).toBe(4); // agreeing hints are fine
  });

  it('malformed stored configs fail with the file name', () => {
    expect(() => readStoredConfig({ config: '{' }, 'a.safetensors')).toThrow(/a\.safetensors: __metadata__\.config is not valid JSON/);
    expect(() => readStoredConfig({ config: '[1]' }, 'a.safetensors')).toThrow(/must be a JSON object/);
    expect(() => readStoredConfig({ config: '{"className":3}' }, 'a.safetensors')).toThrow(/className/);
    expect(() => buildModel({ className: 'Nope', config: {} }, 'a.safetensors')).toThrow(/a\.safetensors: the stored class "Nope" is not registered/);
    expect(() => buildModel({ className: 'MaskedAutoencoder', config: { numHeds: 3 } }, 'a.safetensors')).toThrow(
      /a\.safetensors: the stored config does not build a MaskedAutoencoder: .*numHeds/,
    );
  });

  it('compareWithStored: other heads are an error, another image size a report line', () => {
    const mae = maeVitTinyPatch4();
    const stored = modelConfigOf(maeVitTinyPatch4({ numHeads: 2, decoderNumHeads: 8 }));
    expect(() => compareWithStored(mae, stored, 'w.safetensors')).toThrow(
      /w\.safetensors stores a MaskedAutoencoder config that does not match the model: numHeads 2 in the file, 4 in the model; decoderNumHeads 8 in the file, 4 in the model/,
    );
    expect(compareWithStored(mae, modelConfigOf(maeVitTinyPatch4({ imgSize: 32 })))).toEqual(['config: imgSize [32, 32] in the file, [28, 28] in the model']);
    expect(compareWithStored(mae, modelConfigOf(mae))).toEqual([]);
    mae.dispose();
  });
});

describe('HuggingFace ViTMAEConfig', () => {
  const VIT_MAE_BASE = {
    architectures: ['ViTMAEForPreTraining'], model_type: 'vit_mae', hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12,
    intermediate_size: 3072, hidden_act: 'gelu', qkv_bias: true, layer_norm_eps: 1e-12, image_size: 224, patch_size: 16, num_channels: 3,
    decoder_hidden_size: 512, decoder_num_hidden_layers: 8, decoder_num_attention_heads: 16, decoder_intermediate_size: 2048,
    mask_ratio: 0.75, norm_pix_loss: false,
  };

  it('maps every field (facebook/vit-mae-base)', () => {
    expect(fromHFConfig(VIT_MAE_BASE)).toEqual({
      className: 'MaskedAutoencoder',
      config: {
        imgSize: 224, patchSize: 16, inChans: 3, embedDim: 768, depth: 12, numHeads: 12, mlpRatio: 4, layerNormEps: 1e-12, maskRatio: 0.75,
        decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16, normPixLoss: false,
      },
    });
    expect(fromHFConfig({ ...VIT_MAE_BASE, architectures: ['ViTMAEModel'] }).className).toBe('MAEViTEncoder');
    expect(fromHFConfig({}).config.layerNormEps).toBe(1e-12); // HF's default, not ours
  });

  it('round-trips ours → config.json → ours', () => {
    const mae = maeVitTinyPatch4({ imgSize: [28, 32] as unknown as number, normPixLoss: true, maskRatio: 0.6 });
    const ours = modelConfigOf(mae);
    const hf = toHFConfig(ours);
    expect(hf).toMatchObject({ hidden_size: 128, intermediate_size: 512, decoder_intermediate_size: 256, image_size: [28, 32], norm_pix_loss: true, mask_ratio: 0.6 });
    const back = fromHFConfig(JSON.parse(JSON.stringify(hf)));
    const { masking: _m, ...expected } = ours.config;
    expect(back.config).toEqual(expected);
    mae.dispose();
  });

  it('refuses what our models cannot express, naming the field', () => {
    expect(() => fromHFConfig({ model_type: 'bert' }, 'f/config.json')).toThrow(/f\/config\.json: model_type "bert" is not a ViTMAEConfig/);
    expect(() => fromHFConfig({ qkv_bias: false })).toThrow(/qkv_bias false is not supported/);
    expect(() => fromHFConfig({ hidden_size: 32, intermediate_size: 37 })).toThrow(/decoder_intermediate_size 2048 must be decoder_hidden_size × 1\.15625/);
    expect(() => fromHFConfig({ patch_size: [16, 8] })).toThrow(/patch_size/);
    expect(() => toHFConfig({ className: 'MAEViTClassifier', config: {} })).toThrow(CheckpointError);
  });

  it('is used when the file stores no config; the tensors decide encoder vs MAE', () => {
    const r = resolveModelConfig({ file: 'vit-mae-base', hfConfig: VIT_MAE_BASE, shapes: maeShapes(768, undefined) });
    expect(r).toMatchObject({ className: 'MAEViTEncoder', source: 'hf-config' });
    expect(r.config).not.toHaveProperty('decoderEmbedDim');
    expect(() => resolveModelConfig({ file: 'vit-mae-base', hfConfig: VIT_MAE_BASE, hints: { numHeads: 16 } })).toThrow(/contradicts the config stored in config\.json/);
  });
});

/**
 * HuggingFace `ViTMAEConfig` (the `config.json` of a `ViTMAEForPreTraining`
 * or `ViTMAEModel` folder) ↔ our constructor arguments, both ways.
 *
 * | ViTMAEConfig | ours |
 * | --- | --- |
 * | `hidden_size`, `num_hidden_layers`, `num_attention_heads` | `embedDim`, `depth`, `numHeads` |
 * | `intermediate_size` | `embedDim · mlpRatio` |
 * | `decoder_hidden_size`, `decoder_num_hidden_layers`, `decoder_num_attention_heads` | `decoderEmbedDim`, `decoderDepth`, `decoderNumHeads` |
 * | `decoder_intermediate_size` | `decoderEmbedDim · mlpRatio` (one ratio for both, as the official code) |
 * | `image_size`, `patch_size`, `num_channels` | `imgSize`, `patchSize`, `inChans` |
 * | `mask_ratio`, `norm_pix_loss`, `layer_norm_eps` | `maskRatio`, `normPixLoss`, `layerNormEps` |
 *
 * Absent fields take ViTMAEConfig's defaults (ViT-B, decoder 512/8/16,
 * `layer_norm_eps` 1e-12 — HF's, not the official 1e-6).
 */
import { CheckpointError, describe } from '../errors';

/** ViTMAEConfig's defaults (transformers `configuration_vit_mae.py`). */
const HF_DEFAULTS = {
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  decoder_hidden_size: 512,
  decoder_num_hidden_layers: 8,
  decoder_num_attention_heads: 16,
  decoder_intermediate_size: 2048,
  image_size: 224,
  patch_size: 16,
  num_channels: 3,
  mask_ratio: 0.75,
  norm_pix_loss: false,
  layer_norm_eps: 1e-12,
  qkv_bias: true,
  hidden_act: 'gelu',
};

/** Our class names a ViTMAEConfig can describe. */
export type HFModelClass = 'MaskedAutoencoder' | 'MAEViTEncoder';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A ViTMAEConfig → our class and constructor arguments.
 *
 * @param json the parsed `config.json`
 * @param file where it came from, for messages
 * @throws CheckpointError for a config of another model type, or one our models cannot express (no qkv bias, another activation, different encoder and decoder MLP ratios, a non-square patch)
 */
export function fromHFConfig(json: unknown, file = 'config.json'): { className: HFModelClass; config: Record<string, unknown> } {
  if (!isObject(json)) throw new CheckpointError(`${file}: expected a JSON object (a ViTMAEConfig), got ${describe(json)}`);
  if (json.model_type !== undefined && json.model_type !== 'vit_mae') {
    throw new CheckpointError(`${file}: model_type ${describe(json.model_type)} is not a ViTMAEConfig ("vit_mae")`);
  }
  const c = { ...HF_DEFAULTS, ...json } as typeof HF_DEFAULTS & Record<string, unknown>;
  const fail = (field: string, why: string): never => {
    throw new CheckpointError(`${file}: ${field} ${describe(c[field])} ${why}`);
  };
  const int = (field: keyof typeof HF_DEFAULTS): number => {
    const v = c[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(field, 'must be a positive integer');
    return v as number;
  };
  if (c.qkv_bias !== true) fail('qkv_bias', 'is not supported (the MAE blocks have a qkv bias)');
  if (c.hidden_act !== 'gelu') fail('hidden_act', 'is not supported (the MAE blocks use exact gelu)');
  const patch = Array.isArray(c.patch_size) ? c.patch_size : [c.patch_size, c.patch_size];
  if (patch.length !== 2 || patch[0] !== patch[1]) fail('patch_size', 'must be one side (square patches)');
  const image = Array.isArray(c.image_size) ? c.image_size : [c.image_size, c.image_size];
  if (image.length !== 2 || !image.every((v) => typeof v === 'number' && Number.isInteger(v) && v > 0)) fail('image_size', 'must be a positive integer or [h, w]');
  const embedDim = int('hidden_size');
  const decoderEmbedDim = int('decoder_hidden_size');
  const mlpRatio = int('intermediate_size') / embedDim;
  if (Math.trunc(embedDim * mlpRatio) !== c.intermediate_size) fail('intermediate_size', `is not hidden_size ${embedDim} × a ratio`);
  if (Math.trunc(decoderEmbedDim * mlpRatio) !== int('decoder_intermediate_size')) {
    fail('decoder_intermediate_size', `must be decoder_hidden_size × ${mlpRatio} (intermediate_size / hidden_size): our models have one MLP ratio`);
  }
  const args = {
    imgSize: image[0] === image[1] ? image[0] : [image[0], image[1]],
    patchSize: patch[0],
    inChans: int('num_channels'),
    embedDim,
    depth: int('num_hidden_layers'),
    numHeads: int('num_attention_heads'),
    mlpRatio,
    layerNormEps: c.layer_norm_eps,
    maskRatio: c.mask_ratio,
  };
  const architectures = Array.isArray(c.architectures) ? c.architectures : [];
  if (architectures.includes('ViTMAEModel') && !architectures.includes('ViTMAEForPreTraining')) return { className: 'MAEViTEncoder', config: args };
  return {
    className: 'MaskedAutoencoder',
    config: {
      ...args,
      decoderEmbedDim,
      decoderDepth: int('decoder_num_hidden_layers'),
      decoderNumHeads: int('decoder_num_attention_heads'),
      normPixLoss: c.norm_pix_loss,
    },
  };
}

/**
 * Our class and constructor arguments → a ViTMAEConfig (`config.json`
 * contents). An encoder gets the default decoder fields (HF's config always has them).
 *
 * @throws CheckpointError for a class HF's ViTMAE cannot hold (a classifier)
 */
export function toHFConfig(model: { className: string; config: Record<string, unknown> }): Record<string, unknown> {
  const { className, config: a } = model;
  if (className !== 'MaskedAutoencoder' && className !== 'MAEViTEncoder') {
    throw new CheckpointError(`a ViTMAEConfig describes a MaskedAutoencoder or an MAEViTEncoder, not a ${describe(className)}`);
  }
  const num = (key: string, dflt: number): number => (typeof a[key] === 'number' ? (a[key] as number) : dflt);
  const embedDim = num('embedDim', 1024);
  const mlpRatio = num('mlpRatio', 4);
  const decoderEmbedDim = num('decoderEmbedDim', 512);
  const img = Array.isArray(a.imgSize) ? (a.imgSize as number[]) : [num('imgSize', 224), num('imgSize', 224)];
  return {
    architectures: [className === 'MaskedAutoencoder' ? 'ViTMAEForPreTraining' : 'ViTMAEModel'],
    model_type: 'vit_mae',
    hidden_size: embedDim,
    num_hidden_layers: num('depth', 24),
    num_attention_heads: num('numHeads', 16),
    intermediate_size: Math.trunc(embedDim * mlpRatio),
    hidden_act: 'gelu',
    qkv_bias: true,
    layer_norm_eps: num('layerNormEps', 1e-6),
    image_size: img[0] === img[1] ? img[0] : img,
    patch_size: num('patchSize', 16),
    num_channels: num('inChans', 3),
    decoder_hidden_size: decoderEmbedDim,
    decoder_num_hidden_layers: num('decoderDepth', 8),
    decoder_num_attention_heads: num('decoderNumHeads', 16),
    decoder_intermediate_size: Math.trunc(decoderEmbedDim * mlpRatio),
    mask_ratio: num('maskRatio', 0.75),
    norm_pix_loss: a.normPixLoss === true,
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
    initializer_range: 0.02,
  };
}

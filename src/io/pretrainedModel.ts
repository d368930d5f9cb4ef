/**
 * `from_pretrained` for tfjs-mae: a model built from the config a file
 * carries (or its HF `config.json`, or what its names and shapes imply),
 * with the file's weights loaded; and `saveWeights`, which writes a model's
 * weights with that config embedded.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../errors';
import type { MAELayer } from '../nn/MAELayer';
import { buildModel, resolveModelConfig, weightsMetadata, type ConfigHints, type ResolvedConfig } from './modelConfig';
import { withSource } from './byteSource';
import { loadPretrainedFrom, type PretrainedOptions, type PretrainedReport } from './releases';
import { writeSafetensors } from './safetensors';
import { openPretrainedSource, type PretrainedSource, type SourceOptions } from './source';
import { stateDict, type Naming } from './stateDict';
import { openWeights } from './weightsIndex';

/** Options of `fromPretrained` / {@link loadPretrainedModel}. */
export interface FromPretrainedOptions extends Omit<PretrainedOptions, 'metadata' | 'file'>, SourceOptions {
  /**
   * What the file cannot tell (files without a stored config: official
   * releases): `numHeads` for an encoder width no official preset has,
   * `decoderNumHeads` for a decoder that is not 512 wide, `normPixLoss`.
   * A hint that contradicts a stored config throws. Defaults to none.
   */
  hints?: ConfigHints;
  /** How the caller spells each hint in messages (a CLI passes its flags, e.g. `{ numHeads: '--heads N' }`). Defaults to `hints.<field>`. */
  hintNames?: Partial<Record<keyof ConfigHints, string>>;
}

/** What {@link loadPretrainedModel} returns. */
export interface PretrainedModel<T extends MAELayer = MAELayer> {
  /** The model, built from `config`, with the file's weights. The caller disposes it. */
  model: T;
  /** The config it was built from, and where that came from. */
  config: ResolvedConfig;
  /** What the load did (per component; ignored tensors; `summary` lines). */
  report: PretrainedReport;
  /** The file's `__metadata__` (`recipe`, ...); `{}` for a `.pth`. */
  metadata: Record<string, string>;
  /** The weights file's path, URL or name. */
  file: string;
  /** `'safetensors'` or `'pytorch'`. */
  format: 'safetensors' | 'pytorch';
}

/**
 * An encoder's config as a whole MAE: the official decoder (512 wide, 8
 * blocks, 16 heads), initialised fresh (encoder-only files such as
 * `mae_pretrain_vit_base.pth`).
 */
function withOfficialDecoder(resolved: ResolvedConfig, hints: ConfigHints): ResolvedConfig {
  return {
    className: 'MaskedAutoencoder',
    config: {
      ...resolved.config,
      decoderEmbedDim: 512,
      decoderDepth: 8,
      decoderNumHeads: hints.decoderNumHeads ?? 16,
      normPixLoss: hints.normPixLoss ?? false,
    },
    source: resolved.source,
    notes: [...resolved.notes, 'the file holds an encoder only: the official decoder (512 wide, 8 blocks, 16 heads) is initialised fresh'],
  };
}

/**
 * Builds the model a weights source holds and loads its weights — the
 * functional form of `MaskedAutoencoder.fromPretrained` /
 * `ViTClassifier.fromPretrained`, returning the config and the load report too.
 *
 * ```ts
 * const { model, report } = await loadPretrainedModel('examples/weights/mae-fmnist-tiny.safetensors');
 * const { model: hf } = await loadPretrainedModel('https://example.org/vit-mae-base'); // config.json + model.safetensors
 * ```
 *
 * @param source a path, URL, `Blob`, bytes, or `{ weights, config }` (see {@link PretrainedSource})
 * @param options hints for what the file cannot tell, `strict`, `fetch`, ...
 * @param expected build this class: `'MaskedAutoencoder'` turns an encoder-only file into an MAE with a fresh official decoder
 * @throws CheckpointError naming the file when it cannot be read or parsed, a config field cannot be decided (and which option gives it), or the weights do not fit the config
 */
export async function loadPretrainedModel(
  source: PretrainedSource,
  options: FromPretrainedOptions = {},
  expected?: 'MaskedAutoencoder',
): Promise<PretrainedModel> {
  return loadPretrainedModelAs(source, options, (config, name) => {
    const built = expected === 'MaskedAutoencoder' && config.className === 'MAEViTEncoder' ? withOfficialDecoder(config, options.hints ?? {}) : config;
    if (expected !== undefined && built.className !== expected) {
      throw new CheckpointError(`${name} holds a ${built.className}, not a ${expected} (load it with loadPretrainedModel or the ${built.className} class)`);
    }
    return built;
  });
}

/**
 * {@link loadPretrainedModel} building the model `decide` makes of the
 * file's config (called after the header is read, before any tensor is):
 * e.g. a classifier on an encoder file, so that only one model is ever in memory.
 */
export async function loadPretrainedModelAs(
  source: PretrainedSource,
  options: FromPretrainedOptions,
  decide: (config: ResolvedConfig, file: string) => ResolvedConfig,
): Promise<PretrainedModel> {
  const { name, weights, hfConfig } = await openPretrainedSource(source, options);
  // Read by ranges: the header (or the .pth pickle) first, then one tensor at a time straight into the model.
  return withSource(weights, async () => {
    const index = await openWeights(weights);
    const shapes = new Map([...index.tensors].map(([n, t]) => [n, t.shape]));
    const resolved = resolveModelConfig({ file: name, metadata: index.metadata, shapes, hfConfig, hints: options.hints, hintNames: options.hintNames });
    const config = decide(resolved, name);
    const model = buildModel(config, name);
    try {
      const { hints: _h, hintNames: _n, fetch: _f, headers: _hd, onProgress: _p, ...loadOptions } = options;
      const report = await loadPretrainedFrom(model, index, { ...loadOptions, metadata: index.metadata, file: name });
      report.summary.splice(1, 0, `config: ${config.className} from ${config.source === 'metadata' ? 'the file' : config.source === 'hf-config' ? 'config.json' : 'names and shapes'}`, ...config.notes.map((n) => `config: ${n}`));
      return { model, config, report, metadata: index.metadata, file: name, format: index.format };
    } catch (e) {
      model.dispose();
      throw e;
    }
  });
}

/** Options of {@link saveWeights}. */
export interface SaveWeightsOptions {
  /** Tensor names: `'official'` (facebookresearch/mae) or `'hf'` (`ViTMAEForPreTraining`). Defaults to `'official'`. */
  naming?: Naming;
  /** More `__metadata__` (e.g. `{ recipe: JSON.stringify(...) }`); `config` is always the model's. Defaults to none. */
  metadata?: Record<string, string>;
}

/**
 * A model's weights as a safetensors file (torch layouts, loads in PyTorch as
 * is) with its config in `__metadata__.config`, so `fromPretrained` and
 * `tfjs-mae convert` rebuild the same model without being told.
 *
 * ```ts
 * await writeFile('mae.safetensors', await saveWeights(mae, { metadata: { recipe: JSON.stringify(recipe) } }));
 * const again = await MaskedAutoencoder.fromPretrained('mae.safetensors');
 * ```
 */
export async function saveWeights(model: MAELayer, options: SaveWeightsOptions = {}): Promise<Uint8Array> {
  const metadata = weightsMetadata(model, options.metadata);
  const dict = stateDict(model.stateEntries(), { naming: options.naming });
  try {
    return await writeSafetensors(dict, metadata);
  } finally {
    tf.dispose(Object.values(dict));
  }
}

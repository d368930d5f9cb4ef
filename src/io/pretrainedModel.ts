/**
 * `from_pretrained` for tfjs-mae: a model built from the config a file
 * carries (or its HF `config.json`, or what its names and shapes imply),
 * with the file's weights loaded; and `saveWeights`, which writes a model's
 * weights with that config embedded.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../errors';
import type { MAELayer } from '../nn/MAELayer';
import { deferInit } from '../nn/init';
import { buildModel, resolveModelConfig, weightsMetadata, type ConfigHints, type ResolvedConfig } from './modelConfig';
import { withSource } from './byteSource';
import { checkWeightsIndex, loadPretrainedFrom, type PretrainedOptions, type PretrainedReport } from './releases';
import { writeSafetensors } from './safetensors';
import { openPretrainedSource, type PretrainedSource, type SourceOptions } from './source';
import { stateDict, type Naming } from './stateDict';
import { openWeights, type WeightsIndex } from './weightsIndex';

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
 * The source is opened by ranges, then {@link loadPretrainedModelFrom} does the rest.
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
  return loadPretrainedModelAs(source, options, {
    decide: (config, name) => {
      const built = expected === 'MaskedAutoencoder' && config.className === 'MAEViTEncoder' ? withOfficialDecoder(config, options.hints ?? {}) : config;
      if (expected !== undefined && built.className !== expected) {
        throw new CheckpointError(`${name} holds a ${built.className}, not a ${expected} (load it with loadPretrainedModel or the ${built.className} class)`);
      }
      return built;
    },
  });
}

/**
 * {@link loadPretrainedModel} with the choices of {@link loadPretrainedModelFrom}
 * (`decide`: e.g. a classifier on an encoder file, so that only one model is
 * ever in memory; `onBuilt`).
 */
export async function loadPretrainedModelAs(
  source: PretrainedSource,
  options: FromPretrainedOptions,
  choices: Pick<PretrainedModelOptions, 'decide' | 'onBuilt'>,
): Promise<PretrainedModel> {
  const { name, weights, hfConfig } = await openPretrainedSource(source, options);
  const { fetch: _f, headers: _h, onProgress: _p, ...loadOptions } = options;
  // Read by ranges: the header (or the .pth pickle) first, then one tensor at a time straight into the model.
  return withSource(weights, async () => loadPretrainedModelFrom(await openWeights(weights), { ...loadOptions, ...choices, file: name, hfConfig }));
}

/** Options of {@link loadPretrainedModelFrom}. */
export interface PretrainedModelOptions extends Omit<PretrainedOptions, 'metadata'> {
  /** The file's path, URL or name, in every message. Defaults to the source's name (`weights.source.name`). */
  file?: string;
  /** A HuggingFace `config.json` beside the weights, parsed: the config when the file stores none. Defaults to none. */
  hfConfig?: unknown;
  /** What the file cannot tell (see {@link FromPretrainedOptions.hints}). Defaults to none. */
  hints?: ConfigHints;
  /** How the caller spells each hint in messages (a CLI passes its flags). Defaults to `hints.<field>`. */
  hintNames?: Partial<Record<keyof ConfigHints, string>>;
  /**
   * The model to build, given the config the file describes (stored config,
   * else `hfConfig`, else names and shapes): return it, another one (e.g. a
   * classifier on an encoder's weights), or throw to refuse the file. Called
   * after the header is read, before the model is built or any tensor read.
   * Defaults to building the file's model.
   */
  decide?: (config: ResolvedConfig, file: string) => ResolvedConfig;
  /**
   * Build the model for images of this size (`[H, W]`, or one number for a
   * square), whatever size the file's model had: position tables are
   * resampled as the official `interpolate_pos_embed`, and a `config.notes`
   * line says so. Defaults to the file's size.
   */
  imgSize?: number | [number, number];
  /**
   * Called once the model is built, before the first tensor is read (a
   * progress display; a re-initialiser such as a fresh head's). Weights the
   * file does not provide get their initial values after the load, so what
   * `onBuilt` writes is kept unless the file provides that weight. Defaults to none.
   */
  onBuilt?: (model: MAELayer) => void;
}

/** Whether a tensor of a file is a training checkpoint's optimiser state (`optimizer.m.*`, `optimizer.v.*`), not a weight. */
const isOptimizerState = (name: string): boolean => name.startsWith('optimizer.');

/** `weights` without a training checkpoint's optimiser state, and how many tensors that left out (also `convert`'s input). */
export function modelTensors(weights: WeightsIndex): { index: WeightsIndex; skipped: number } {
  const kept = new Map([...weights.tensors].filter(([n]) => !isOptimizerState(n)));
  const skipped = weights.tensors.size - kept.size;
  if (skipped === 0) return { index: weights, skipped };
  const index: WeightsIndex = {
    source: weights.source,
    format: weights.format,
    tensors: kept,
    metadata: weights.metadata,
    warnings: weights.warnings,
    ...(weights.wrapper === undefined ? {} : { wrapper: weights.wrapper }),
    read: (name) => weights.read(name),
    lazy: () => weights.lazy().filter(([n]) => kept.has(n)),
  };
  return { index, skipped };
}

/** `[H, W]` in words. */
const pixels = (size: unknown): string => (Array.isArray(size) && size.length === 2 && size[0] === size[1] ? `${size[0]} px` : Array.isArray(size) ? `${size.join('×')} px` : `${JSON.stringify(size)} px`);

/** `config` built for `imgSize` (a note when that differs from the file's size). */
function atImageSize(config: ResolvedConfig, imgSize: number | [number, number] | undefined): ResolvedConfig {
  if (imgSize === undefined) return config;
  const want = typeof imgSize === 'number' ? [imgSize, imgSize] : imgSize;
  const had = config.config.imgSize;
  const same = had === undefined || JSON.stringify(had) === JSON.stringify(want) || (had === want[0] && had === want[1]);
  const notes = same ? config.notes : [...config.notes, `built for ${pixels(want)} (the file's model: ${pixels(typeof had === 'number' ? [had, had] : had)}); position tables resampled`];
  return { ...config, config: { ...config.config, imgSize }, notes };
}

/** Where a config came from, in words (`config: X from …`). */
export const CONFIG_FROM: Record<ResolvedConfig['source'], string> = { metadata: 'the file', 'hf-config': 'config.json', inferred: 'names and shapes' };

/**
 * The model an opened weights file holds, built and loaded: the one path
 * from a file to a model (`fromPretrained`, {@link loadPretrainedModel},
 * the command line's `--weights`, the browser demo). In order: the file's
 * tensors without a training checkpoint's optimiser state (`optimizer.*`, as
 * `pretrain` and `finetune` write) → the config ({@link resolveModelConfig}:
 * stored, else `hfConfig`, else names and shapes with `hints`) → `decide` →
 * `imgSize` → the model built, then `onBuilt` → the weights read one
 * tensor at a time straight into it ({@link loadPretrainedFrom}) → the
 * initialisers run for the weights the file did not provide (a new head, a
 * decoder on an encoder's file), with the values and seeds a plain build
 * of the same config gives them. No initialiser runs for a weight the
 * file provides: the model is built with zero placeholders, which the load
 * replaces (in a browser, a third of a ViT-L load used to be its random init). Memory:
 * the model plus one tensor. On any error the model is disposed: nothing leaks.
 *
 * ```ts
 * const weights = await openWeights(blobSource(file)); // or fileSource(path) from tfjs-mae/node
 * const { model, config, report } = await loadPretrainedModelFrom(weights, { imgSize: 224, allowMissing: false });
 * ```
 *
 * @param weights the opened file ({@link openWeights}); not closed
 * @param options what the file cannot tell, which model to build, `strict` / `allowMissing`, ...
 * @throws CheckpointError naming the file when a config field cannot be decided (and which option gives it), `decide` refuses, or the weights do not fit the model (before any tensor is read); while reading, for a corrupt tensor
 */
export async function loadPretrainedModelFrom(weights: WeightsIndex, options: PretrainedModelOptions = {}): Promise<PretrainedModel> {
  checkWeightsIndex(weights);
  const { file = weights.source.name, hfConfig, hints, hintNames, decide, imgSize, onBuilt, ...loadOptions } = options;
  const { index, skipped } = modelTensors(weights);
  const shapes = new Map([...index.tensors].map(([n, t]) => [n, t.shape]));
  const resolved = resolveModelConfig({ file, metadata: index.metadata, shapes, hfConfig, hints, hintNames });
  const config = atImageSize(decide ? decide(resolved, file) : resolved, imgSize);
  // Zero placeholders: a weight gets its (seeded) random init only if the file does not provide it, after the load.
  const [model, pending] = deferInit(() => {
    const built = buildModel(config, file);
    try {
      onBuilt?.(built);
    } catch (e) {
      built.dispose();
      throw e;
    }
    return built;
  });
  try {
    const report = await loadPretrainedFrom(model, index, { ...loadOptions, metadata: index.metadata, file });
    pending.initialize();
    const lines = [`config: ${config.className} from ${CONFIG_FROM[config.source]}`, ...config.notes.map((n) => `config: ${n}`)];
    if (skipped > 0) lines.push(`training checkpoint: its ${skipped} optimizer.* tensors (the optimiser state) not read`);
    report.summary.splice(1, 0, ...lines);
    return { model, config, report, metadata: index.metadata, file, format: index.format };
  } catch (e) {
    model.dispose();
    throw e;
  }
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

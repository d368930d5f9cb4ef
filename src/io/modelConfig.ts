/**
 * Weights that carry their model config, as HuggingFace's `from_pretrained`:
 * what we store in a file's metadata, and the one decision every reader makes
 * about which model a file holds.
 *
 * Stored form: safetensors `__metadata__.config` (and the `userDefinedMetadata`
 * of a tf.io folder) is the JSON of {@link ModelConfig},
 * `{ "className": "MaskedAutoencoder", "config": { "embedDim": 64, ... } }` —
 * the registered class and its constructor arguments, as `getConfig()` gives
 * them (the same pair a tf.io folder's `modelTopology` holds). The older flat
 * form (the arguments alone, as `npm run demo` wrote before) is still read.
 * Every other metadata key (`recipe`, ...) is passed through by our writers
 * and converters.
 *
 * Which config a reader uses ({@link resolveModelConfig}), first found wins:
 * 1. ours, in the file's metadata;
 * 2. a HuggingFace `config.json` (`ViTMAEConfig`) beside the weights;
 * 3. inference from official (or HF) names and shapes, with the official
 *    presets' head counts; what cannot be inferred must be given as a hint,
 *    else a {@link CheckpointError} names the file, the field and the option.
 * Hints that contradict a stored config (1 or 2) are an error: the weights
 * were trained with the stored value.
 */
import { serialization } from '@tensorflow/tfjs-core';
import { CheckpointError, MAEError, describe } from '../errors';
import { MAELayer } from '../nn/MAELayer';
import { fromHFConfig } from './hfConfig';
import { inferConfig, type InferHints, type InferredConfig } from './inferConfig';
import { renameFromHF } from './naming';
import { detectNaming } from './stateDict';

/** The `__metadata__` key of the stored config. */
export const CONFIG_METADATA_KEY = 'config';

/** The class names of our whole models: what a weights file can hold. */
export type ModelClassName = 'MaskedAutoencoder' | 'MAEViTEncoder' | 'MAEViTClassifier';

/** A model's class and constructor arguments: what a file stores, and what {@link buildModel} builds. */
export interface ModelConfig {
  /** The registered class name (`static className`): `'MaskedAutoencoder'`, `'MAEViTEncoder'`, `'MAEViTClassifier'`, or another registered `MAELayer`. */
  className: string;
  /** The constructor arguments (`getConfig()` without `name`, `trainable`, the init `seed` and the memory choice `recompute`). */
  config: Record<string, unknown>;
}

/** What shapes cannot tell (see {@link InferHints}); the CLI's `--heads`, `--decoder-heads`, `--norm-pix`. */
export type ConfigHints = InferHints;

/** Everything a reader knows about a file, for {@link resolveModelConfig}. */
export interface ConfigSources {
  /** The file (path or URL), named in every message. Defaults to `'the weights'`. */
  file?: string;
  /** The safetensors `__metadata__` (or a tf.io folder's `userDefinedMetadata`). */
  metadata?: Record<string, string>;
  /** Tensor name (official or HF) → torch shape. */
  shapes?: Map<string, number[]>;
  /** A HuggingFace `config.json`, parsed. */
  hfConfig?: unknown;
  /** What the caller says (used for what is not stored; a contradiction with a stored config is an error). */
  hints?: ConfigHints;
  /** How the caller passes each hint, for messages (e.g. `{ numHeads: '--heads N' }`). Defaults to `hints.<field>`. */
  hintNames?: Partial<Record<keyof ConfigHints, string>>;
}

/** The decided config, and where it came from. */
export interface ResolvedConfig extends ModelConfig {
  /** `'metadata'` (ours), `'hf-config'` (a `config.json`) or `'inferred'` (names and shapes). */
  source: 'metadata' | 'hf-config' | 'inferred';
  /** What was taken from a preset, a default or a hint, one line each. */
  notes: string[];
}

/**
 * Keys of `getConfig()` that belong to a layer instance, not to the architecture
 * (`recompute` trades time for memory in training; the loader chooses it again).
 */
const INSTANCE_KEYS = ['name', 'trainable', 'dtype', 'batchInputShape', 'inputDtype', 'seed', 'recompute'];

const KIND_CLASS: Record<InferredConfig['kind'], ModelClassName> = {
  mae: 'MaskedAutoencoder',
  encoder: 'MAEViTEncoder',
  classifier: 'MAEViTClassifier',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function classNameOf(model: MAELayer): string {
  const className = (model.constructor as { className?: unknown }).className;
  if (typeof className !== 'string' || !(className in serialization.SerializationMap.getMap().classNameMap)) {
    throw new CheckpointError(`model class ${describe(className)} is not registered with serialization.registerClass`);
  }
  return className;
}

/** The class and constructor arguments of a live model (what files store). */
export function modelConfigOf(model: MAELayer): ModelConfig {
  if (!(model instanceof MAELayer)) throw new CheckpointError(`model must be a tfjs-mae layer, got ${describe(model)}`);
  const config = { ...(model.getConfig() as Record<string, unknown>) };
  for (const key of INSTANCE_KEYS) delete config[key];
  return { className: classNameOf(model), config };
}

/**
 * The `__metadata__` to write with a model's weights: `format: 'pt'` (so
 * `transformers` / `safetensors.torch` load it), `extra` (e.g. a `recipe`),
 * and the model's config under `config` (it replaces any `config` in `extra`).
 *
 * ```ts
 * const bytes = await writeSafetensors(mae.stateDict(), weightsMetadata(mae, { recipe: JSON.stringify(recipe) }));
 * ```
 */
export function weightsMetadata(model: MAELayer, extra: Record<string, string> = {}): Record<string, string> {
  return { format: 'pt', ...extra, [CONFIG_METADATA_KEY]: JSON.stringify(modelConfigOf(model)) };
}

/** The model kind of official-named shapes (`undefined` when they are not a model). */
function classOfShapes(official: Map<string, number[]>): ModelClassName | undefined {
  if (!official.has('patch_embed.proj.weight')) return undefined;
  if ([...official.keys()].some((n) => /^head\./.test(n))) return 'MAEViTClassifier';
  return official.has('decoder_embed.weight') ? 'MaskedAutoencoder' : 'MAEViTEncoder';
}

/**
 * The config stored in `metadata` (ours), or `undefined` when there is none.
 * The older flat form (the arguments alone) gets `fallbackClass`, else a class
 * judged from its keys (decoder keys → `MaskedAutoencoder`).
 *
 * @throws CheckpointError when `config` is not valid JSON or not an object
 */
export function readStoredConfig(metadata: Record<string, string> | undefined, file = 'the weights', fallbackClass?: string): ModelConfig | undefined {
  const text = metadata?.[CONFIG_METADATA_KEY];
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CheckpointError(`${file}: __metadata__.config is not valid JSON (expected {"className": ..., "config": {...}})`);
  }
  if (!isObject(value)) throw new CheckpointError(`${file}: __metadata__.config must be a JSON object, got ${describe(value)}`);
  if (typeof value.className === 'string' && isObject(value.config)) return { className: value.className, config: { ...value.config } };
  if ('className' in value) {
    throw new CheckpointError(`${file}: __metadata__.config must be {"className": string, "config": object}, got ${describe(value)}`);
  }
  const legacyClass = fallbackClass ?? ('decoderEmbedDim' in value || 'decoderDepth' in value ? 'MaskedAutoencoder' : 'numClasses' in value ? 'MAEViTClassifier' : 'MAEViTEncoder');
  return { className: legacyClass, config: { ...value } };
}

/** Shapes under official names (HF names renamed, q/k/v merged; a DDP `module.` prefix removed). */
export function officialShapes(shapes: Map<string, number[]>): Map<string, number[]> {
  const names = [...shapes.keys()];
  const renamed =
    detectNaming(names) === 'hf'
      ? renameFromHF<number[]>(shapes, { split3: (s) => [s, s, s].map((x) => [x[0] / 3, ...x.slice(1)]) as [number[], number[], number[]], concat3: ([a]) => [a[0] * 3, ...a.slice(1)] })
      : [...shapes];
  const prefixed = renamed.length > 0 && renamed.every(([n]) => n.startsWith('module.'));
  return new Map(prefixed ? renamed.map(([n, s]) => [n.slice('module.'.length), s]) : renamed);
}

const HINT_FLAG: Record<keyof ConfigHints, string> = { numHeads: 'hints.numHeads', decoderNumHeads: 'hints.decoderNumHeads', normPixLoss: 'hints.normPixLoss' };

/** Throws when a hint contradicts a stored value. */
function checkHints(stored: ModelConfig, sources: ConfigSources, where: string): void {
  const file = sources.file ?? 'the weights';
  for (const [key, value] of Object.entries(sources.hints ?? {}) as Array<[keyof ConfigHints, unknown]>) {
    if (value === undefined || !(key in stored.config)) continue;
    if (stored.config[key] !== value) {
      const how = sources.hintNames?.[key] ?? HINT_FLAG[key];
      throw new CheckpointError(
        `${file}: ${key} ${describe(value)} (${how}) contradicts the config stored in ${where} (${key} ${describe(stored.config[key])}); the weights were trained with the stored value: drop the option`,
      );
    }
  }
}

/**
 * Decides the model a file holds: its stored config, else its HF
 * `config.json`, else inference from names and shapes (see the module doc).
 * The class follows the tensors when there are any (a `config.json` of a
 * `ViTMAEForPreTraining` beside encoder-only weights gives an encoder).
 *
 * @throws CheckpointError naming the file, the field and the option to pass when a field cannot be decided, or when a hint contradicts a stored config
 */
export function resolveModelConfig(sources: ConfigSources): ResolvedConfig {
  const file = sources.file ?? 'the weights';
  const official = sources.shapes ? officialShapes(sources.shapes) : undefined;
  const shapeClass = official ? classOfShapes(official) : undefined;
  const stored = readStoredConfig(sources.metadata, file, shapeClass);
  if (stored) {
    checkHints(stored, sources, 'the file');
    return { ...stored, source: 'metadata', notes: [] };
  }
  if (sources.hfConfig !== undefined) {
    const hf = fromHFConfig(sources.hfConfig, `${file} config.json`);
    checkHints(hf, sources, 'config.json');
    if (shapeClass === 'MAEViTEncoder' && hf.className === 'MaskedAutoencoder') {
      const { decoderEmbedDim: _e, decoderDepth: _d, decoderNumHeads: _h, normPixLoss: _n, ...encoder } = hf.config;
      return { className: 'MAEViTEncoder', config: encoder, source: 'hf-config', notes: ['config.json describes a ViTMAEForPreTraining, the weights hold an encoder only'] };
    }
    return { ...hf, source: 'hf-config', notes: [] };
  }
  if (!official || official.size === 0) {
    throw new CheckpointError(`${file}: no stored config, no config.json and no tensors to infer the model from`);
  }
  const hintNames = { ...HINT_FLAG, ...sources.hintNames };
  const inferred = inferConfig(official, sources.hints ?? {}, { file, hintNames });
  return { className: KIND_CLASS[inferred.kind], config: { ...inferred.config }, source: 'inferred', notes: inferred.notes };
}

/**
 * Builds the model a config describes (the registered class, `new cls(config)`), with fresh weights.
 *
 * @throws CheckpointError for an unregistered class or arguments the class refuses (naming the file)
 */
export function buildModel(config: ModelConfig, file = 'the weights'): MAELayer {
  const registered = serialization.SerializationMap.getMap().classNameMap[config.className];
  if (!registered) throw new CheckpointError(`${file}: the stored class ${describe(config.className)} is not registered (import the module that defines it)`);
  let built: unknown;
  try {
    built = registered[1](registered[0], config.config as serialization.ConfigDict);
  } catch (e) {
    if (e instanceof MAEError) throw new CheckpointError(`${file}: the stored config does not build a ${config.className}: ${e.message}`);
    throw e;
  }
  if (!(built instanceof MAELayer)) throw new CheckpointError(`${file}: the stored class ${describe(config.className)} is not a tfjs-mae layer`);
  return built;
}

/** Config keys whose difference means other weights (or, for heads, weights used another way): a mismatch is an error. */
const ARCHITECTURE_KEYS = [
  'patchSize', 'inChans', 'embedDim', 'depth', 'numHeads', 'mlpRatio', 'qkvBias',
  'decoderEmbedDim', 'decoderDepth', 'decoderNumHeads', 'numClasses', 'head', 'globalPool', 'normBeforePool',
];
/** Config keys a model may set differently from the file (position tables are resampled; losses and eps are the user's choice): reported. */
const SOFT_KEYS = ['imgSize', 'layerNormEps', 'normPixLoss', 'maskRatio', 'masking'];

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b) || (typeof a === 'number' && Array.isArray(b) && b.every((x) => x === a)) || (typeof b === 'number' && Array.isArray(a) && a.every((x) => x === b));
}

/**
 * Compares a model (or its {@link ModelConfig}) with the config stored with
 * its weights (keys present in both). Architecture keys that differ (heads, widths, depths, patch,
 * channels, MLP ratio, classes) throw; other differences (image size, LayerNorm
 * eps, `normPixLoss`, mask ratio) come back as report lines.
 *
 * @returns one line per harmless difference
 * @throws CheckpointError listing every architecture difference
 */
export function compareWithStored(model: MAELayer | ModelConfig, stored: ModelConfig, file = 'the weights'): string[] {
  const own = model instanceof MAELayer ? modelConfigOf(model).config : model.config;
  const theirs = stored.config;
  const diff = (key: string): string => `${key} ${describe(theirs[key])} in the file, ${describe(own[key])} in the model`;
  const hard = ARCHITECTURE_KEYS.filter((k) => k in own && k in theirs && !same(own[k], theirs[k]));
  if (hard.length > 0) {
    throw new CheckpointError(
      `${file} stores a ${stored.className} config that does not match the model: ${hard.map(diff).join('; ')} (build the model from the file: fromPretrained, or resolveModelConfig + buildModel)`,
    );
  }
  return SOFT_KEYS.filter((k) => k in own && k in theirs && !same(own[k], theirs[k])).map((k) => `config: ${diff(k)}`);
}

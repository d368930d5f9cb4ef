/**
 * Loading the official MAE releases (and HuggingFace copies) into our models,
 * whatever part of the model the file holds: encoder only (`mae_pretrain_*`),
 * encoder + decoder (`*_full`, `mae_visualize_*`, HF `ViTMAEForPreTraining`),
 * or a fine-tuned classifier (`mae_finetuned_*`). The load reports what was
 * loaded, what stayed freshly initialised (per component) and what in the
 * file was ignored, and resamples position tables of another grid size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, describe } from '../errors';
import type { MAELayer, StateEntry } from '../nn/MAELayer';
import { interpolatePosEmbed, sincosTable } from '../patch/posEmbed';
import { renameFromHF } from './naming';
import { checkThirds } from './hostTensor';
import type { WeightsIndex } from './weightsIndex';
import { type LoadReport, type Naming, detectNaming, planStateDict, torchShape, writeEntry } from './stateDict';
import { parseSafetensors } from './safetensors';
import { parseTorchCheckpoint, type TorchCheckpointWrapper } from './torch/checkpoint';
import { type HostTensors, toTfTensors } from './hostTensor';
import { compareWithStored, readStoredConfig, type ModelConfig } from './modelConfig';

/** What a weights file holds, judged from its (official) names. */
export type ReleaseKind =
  /** Encoder only: `mae_pretrain_vit_*.pth`. */
  | 'mae-encoder'
  /** Encoder and decoder: `mae_pretrain_vit_*_full.pth`, `mae_visualize_vit_*.pth`, HF `ViTMAEForPreTraining`. */
  | 'mae-full'
  /** A fine-tuned `models_vit` classifier (`head.*`, `fc_norm.*`): `mae_finetuned_vit_*.pth`. */
  | 'classifier'
  /** A linear-probe classifier (`head.0.running_mean`, `head.1.*`). */
  | 'linprobe'
  /** None of the above. */
  | 'unknown';

/** The part of a model a weight belongs to. */
export type Component = 'encoder' | 'decoder' | 'head' | 'fc_norm';

/** Options of {@link loadPretrained}. */
export interface PretrainedOptions {
  /** Names in the file: `'official'`, `'hf'` or `'auto'` (detected). Defaults to `'auto'`. */
  naming?: Naming | 'auto';
  /**
   * Throw (before writing anything) unless every weight of the model is in
   * the file and every tensor of the file is used. Defaults to `false`: load
   * what matches and report the rest.
   */
  strict?: boolean;
  /**
   * Whether weights of the model that the file lacks may keep their
   * initialisation (reported per component, e.g. a fresh decoder on an
   * encoder-only file). `false`: throw a {@link CheckpointError} naming them
   * before anything is written (the file's extra tensors are still
   * ignored). Defaults to `true`.
   */
  allowMissing?: boolean;
  /**
   * `[h, w]` patch grid of the file's position tables. Defaults to a square
   * grid inferred from the row count (`1 + h·w`), as the official
   * `interpolate_pos_embed`.
   */
  sourceGridSize?: [number, number];
  /**
   * The file's `__metadata__` (`readWeights(bytes).metadata`). When it stores
   * a model config, the model is checked against it before anything is
   * written: a different architecture (e.g. other head counts, which shapes
   * cannot show) throws a {@link CheckpointError}; harmless differences
   * (image size, LayerNorm eps, `normPixLoss`) become summary lines.
   * Defaults to none (no check).
   */
  metadata?: Record<string, string>;
  /** The file's name or URL, for messages. Defaults to `'the weights'`. */
  file?: string;
}

/** Per-component counts of a {@link PretrainedReport}. */
export interface ComponentReport {
  /** The part of the model these counts are about. */
  component: Component;
  /** Weights of this component taken from the file. */
  loaded: number;
  /** Weights of this component in the model. */
  total: number;
  /** Official names left as initialised. */
  missing: string[];
}

/** A position table that had another grid size in the file. */
export interface ResampledTable {
  /** The official name of the table (`pos_embed` or `decoder_pos_embed`). */
  name: string;
  /** Grid of the file's table. */
  from: [number, number];
  /** Grid of the model. */
  to: [number, number];
  /** `'interpolated'`: bicubic, as `interpolate_pos_embed`; `'recomputed'`: a fixed sin-cos table rebuilt for the new grid. */
  how: 'interpolated' | 'recomputed';
}

/** A tensor of the file the model has no place for. */
export interface IgnoredTensor {
  /** The name in the file. */
  name: string;
  /** Why it was not used, in words. */
  reason: string;
}

/** What {@link loadPretrained} did. `loaded`, `missing`, `unexpected` and `mismatched` are as `loadStateDict` reports them. */
export interface PretrainedReport extends LoadReport {
  /** The file's naming. */
  naming: Naming;
  /** What the file looks like. */
  release: ReleaseKind;
  /** Per component of the model: loaded vs total. */
  components: ComponentReport[];
  /** Every `unexpected` name with the reason it was not used. */
  ignored: IgnoredTensor[];
  /** Position tables resampled to the model's grid. */
  resampled: ResampledTable[];
  /** The config stored in `options.metadata`, if any (the model was checked against it). */
  storedConfig?: ModelConfig;
  /** One human-readable line per fact (`decoder: 0 of 20 tensors, initialised fresh`). */
  summary: string[];
}

const RELEASE_TEXT: Record<ReleaseKind, string> = {
  'mae-encoder': 'MAE encoder only (as mae_pretrain_vit_*.pth)',
  'mae-full': 'MAE encoder + decoder (as mae_visualize_vit_*.pth, mae_pretrain_vit_*_full.pth, HF ViTMAEForPreTraining)',
  classifier: 'fine-tuned classifier (as mae_finetuned_vit_*.pth)',
  linprobe: 'linear-probe classifier (main_linprobe.py)',
  unknown: 'no known MAE layout',
};

/** The component of an official name. */
export function componentOf(name: string): Component {
  if (/^(decoder_|mask_token$)/.test(name)) return 'decoder';
  if (name.startsWith('head.')) return 'head';
  if (name.startsWith('fc_norm.')) return 'fc_norm';
  return 'encoder';
}

/** What a state dict with these official names holds. */
export function detectRelease(names: string[]): ReleaseKind {
  const has = (re: RegExp): boolean => names.some((n) => re.test(n));
  if (has(/^head\.0\.running_mean$/)) return 'linprobe';
  if (has(/^(head|fc_norm)\./)) return 'classifier';
  if (has(/^(decoder_|mask_token$)/)) return 'mae-full';
  if (has(/^(blocks\.|patch_embed\.|cls_token$)/)) return 'mae-encoder';
  return 'unknown';
}

/** A whole weights file read into tf tensors, its format detected from its first bytes. */
export interface WeightsFile {
  /** `'pytorch'` (a `torch.save` zip) or `'safetensors'`. */
  format: 'pytorch' | 'safetensors';
  /** The tensors under the file's names (the caller disposes them). */
  tensors: Record<string, tf.Tensor>;
  /** Conversions done while reading (e.g. float64 → float32), one line each. */
  warnings: string[];
  /** The safetensors `__metadata__` (the stored model config under `config`, a `recipe`, ...); `{}` for a `.pth`. */
  metadata: Record<string, string>;
}

/**
 * Reads an official `.pth` checkpoint or a safetensors file (official or HF
 * names), telling them apart by their first bytes (`PK\x03\x04` = zip).
 *
 * @throws CheckpointError for a malformed file (nothing is allocated then).
 */
export function readWeights(bytes: Uint8Array): WeightsFile {
  const { format, tensors, warnings, metadata } = parseWeights(bytes);
  return { format, tensors: toTfTensors(tensors), warnings, metadata };
}

/** A weights file read on the host (no tfjs backend needed). */
export interface HostWeightsFile {
  format: 'pytorch' | 'safetensors';
  tensors: HostTensors;
  warnings: string[];
  /** The safetensors `__metadata__`; `{}` for a `.pth`. */
  metadata: Record<string, string>;
  /** For a `.pth`: where the state dict was found. */
  wrapper?: TorchCheckpointWrapper;
}

/** {@link readWeights} on the host: detects the format from the first bytes. */
export function parseWeights(bytes: Uint8Array): HostWeightsFile {
  if (!(bytes instanceof Uint8Array)) throw new CheckpointError(`bytes must be a Uint8Array, got ${describe(bytes)}`);
  const zip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  if (zip) {
    const ckpt = parseTorchCheckpoint(bytes);
    return { format: 'pytorch', tensors: ckpt.tensors, warnings: ckpt.warnings, metadata: {}, wrapper: ckpt.wrapper };
  }
  if (bytes.length < 9 || bytes[8] !== 0x7b /* { */) {
    const head = Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ') || 'none: empty file';
    throw new CheckpointError(`neither a PyTorch zip checkpoint nor a safetensors file (first bytes ${head})`);
  }
  const { tensors, metadata } = parseSafetensors(bytes);
  return { format: 'safetensors', tensors, warnings: [], metadata };
}

function isPosTable(name: string): boolean {
  return name === 'pos_embed' || name === 'decoder_pos_embed';
}

/** `[h, w]` of a table with `1 + h·w` rows. */
function sourceGrid(name: string, rows: number, given?: [number, number]): [number, number] {
  if (given) {
    if (given[0] * given[1] + 1 !== rows) {
      throw new CheckpointError(`sourceGridSize ${describe(given)} gives ${given[0] * given[1] + 1} rows, but ${name} in the file has ${rows}`);
    }
    return given;
  }
  const side = Math.round(Math.sqrt(rows - 1));
  if (side * side !== rows - 1) {
    throw new CheckpointError(`${name} in the file has ${rows} rows, not 1 + a square grid; pass sourceGridSize [h, w]`);
  }
  return [side, side];
}

function modelGrid(model: MAELayer, rows: number): [number, number] {
  const g = (model as unknown as { gridSize?: unknown }).gridSize;
  if (Array.isArray(g) && g.length === 2 && g[0] * g[1] + 1 === rows) return [g[0], g[1]];
  const side = Math.round(Math.sqrt(rows - 1));
  return [side, side];
}

/** A position table to resample while loading: the report line and the model's torch shape. */
interface Resampling extends ResampledTable {
  /** `[1, 1 + L, D]` of the model. */
  want: number[];
}

/**
 * Official-named position tables of another grid, decided from shapes: a
 * frozen sin-cos table of a pre-training file is recomputed; a learned one
 * (any table going into a trainable position embedding, or coming from a
 * classifier) is interpolated.
 */
function planResampling(
  model: MAELayer,
  entries: StateEntry[],
  shapes: Map<string, number[]>,
  release: ReleaseKind,
  options: PretrainedOptions,
): Map<string, Resampling> {
  const out = new Map<string, Resampling>();
  for (const e of entries) {
    const shape = shapes.get(e.name);
    if (!isPosTable(e.name) || shape === undefined) continue;
    const want = torchShape(e); // [1, 1 + L, D]
    if (tf.util.arraysEqual(want, shape)) continue;
    if (shape.length !== 3 || shape[0] !== 1 || shape[2] !== want[2]) continue; // reported as mis-shaped
    const from = sourceGrid(e.name, shape[1], options.sourceGridSize);
    const to = modelGrid(model, want[1]);
    const learned = e.variable.trainable || release === 'classifier' || release === 'linprobe';
    out.set(e.name, { name: e.name, from, to, how: learned ? 'interpolated' : 'recomputed', want });
    shapes.set(e.name, want);
  }
  return out;
}

/** The file's table resampled to the model's grid (a new tensor). */
function resample(t: tf.Tensor, r: Resampling): tf.Tensor {
  return r.how === 'interpolated' ? interpolatePosEmbed(t, r.from, r.to) : tf.tensor(sincosTable(r.want[2], r.to[0], r.to[1], true), r.want);
}

function reasonFor(name: string, components: Set<Component>): string {
  const c = componentOf(name);
  if (/ \((query|key|value) only\)$/.test(name)) return 'an incomplete HF query/key/value split';
  if (!components.has(c)) return `${c} weights, which this model does not have`;
  if (/^norm\./.test(name) && components.has('fc_norm')) return 'the final norm, which a global-pool classifier replaces by fc_norm';
  return 'not a weight of this model';
}

function summarise(report: Omit<PretrainedReport, 'summary'>, configLines: string[]): string[] {
  const lines = [`file: ${report.naming} names, ${RELEASE_TEXT[report.release]}`, ...configLines];
  for (const c of report.components) {
    if (c.loaded === c.total) lines.push(`${c.component}: ${c.loaded} of ${c.total} tensors loaded`);
    else if (c.loaded === 0) lines.push(`${c.component}: 0 of ${c.total} tensors, initialised fresh`);
    else lines.push(`${c.component}: ${c.loaded} of ${c.total} tensors loaded; initialised fresh: ${c.missing.join(', ')}`);
  }
  for (const r of report.resampled) {
    const grid = (g: [number, number]): string => `${g[0]}×${g[1]}`;
    lines.push(
      r.how === 'interpolated'
        ? `${r.name}: ${grid(r.from)} grid interpolated (bicubic) to ${grid(r.to)}`
        : `${r.name}: fixed sin-cos table recomputed for the ${grid(r.to)} grid (file: ${grid(r.from)})`,
    );
  }
  const byReason = new Map<string, string[]>();
  for (const i of report.ignored) byReason.set(i.reason, [...(byReason.get(i.reason) ?? []), i.name]);
  for (const [reason, names] of byReason) {
    const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')}, …` : names.join(', ');
    lines.push(`ignored ${names.length} (${reason}): ${shown}`);
  }
  return lines;
}

/** What {@link planPretrained} decides from names and shapes, before any tensor is read. */
interface PretrainedPlan {
  /** The report (its `loaded` = the entries that will be written). */
  report: PretrainedReport;
  /** Entries to write, each with the file names it comes from (three for an HF q/k/v). */
  steps: Array<{ entry: StateEntry; from: string[]; resampling?: Resampling }>;
}

/** File names → official names (module. prefix removed, HF q/k/v grouped), with the torch shapes after renaming. */
function officialNames(fileShapes: Map<string, number[]>, naming: Naming): Map<string, { from: string[]; shape: number[] }> {
  const own: Array<[string, { from: string[]; shape: number[] }]> = [...fileShapes].map(([n, shape]) => [n, { from: [n], shape }]);
  const renamed =
    naming === 'hf'
      ? renameFromHF(own, {
          concat3: (parts) => {
            checkThirds(parts.map((p) => p.shape));
            return { from: parts.flatMap((p) => p.from), shape: [3 * parts[0].shape[0], ...parts[0].shape.slice(1)] };
          },
          split3: () => {
            throw new Error('officialNames: split3 is not used when reading');
          },
        })
      : own;
  // Checkpoints saved from a DistributedDataParallel wrapper prefix every name with `module.`.
  const prefixed = renamed.length > 0 && renamed.every(([n]) => n.startsWith('module.'));
  return new Map(prefixed ? renamed.map(([n, v]) => [n.slice('module.'.length), v]) : renamed);
}

/**
 * Decides a load from the file's names and shapes alone: naming, release,
 * position tables to resample, what loads, what is missing, ignored or
 * mis-shaped. Throws (before anything is written) for mis-shaped tensors,
 * for `strict` problems and when nothing matches.
 */
function planPretrained(model: MAELayer, fileShapes: Map<string, number[]>, options: PretrainedOptions): PretrainedPlan {
  const naming = options.naming === undefined || options.naming === 'auto' ? detectNaming([...fileShapes.keys()]) : options.naming;
  if (naming !== 'official' && naming !== 'hf') {
    throw new CheckpointError(`naming must be 'official', 'hf' or 'auto', got ${describe(naming)}`);
  }
  const named = officialNames(fileShapes, naming);
  const release = detectRelease([...named.keys()]);
  const file = options.file ?? 'the weights';
  const storedConfig = readStoredConfig(options.metadata, file);
  const configLines = storedConfig ? compareWithStored(model, storedConfig, file) : [];
  const entries = model.stateEntries();
  if (!entries.some((e) => named.has(e.name))) {
    throw new CheckpointError(
      `none of the ${named.size} tensors in the file is a weight of this model ` +
        `(file: ${RELEASE_TEXT[release]}; first names ${describe([...named.keys()].slice(0, 3))})`,
    );
  }
  const shapes = new Map([...named].map(([n, v]) => [n, v.shape]));
  const resampling = planResampling(model, entries, shapes, release, options);
  const { report: base, ready } = planStateDict(entries, shapes, options.strict ? true : 'shapes');
  if (options.allowMissing === false && base.missing.length > 0) {
    const className = (model.constructor as { className?: string }).className ?? 'model';
    const shown = base.missing.length > 3 ? `${base.missing.slice(0, 3).join(', ')}, …` : base.missing.join(', ');
    throw new CheckpointError(`${file} does not hold every weight of the ${className}: ${base.missing.length} missing (${shown})`);
  }
  const components: ComponentReport[] = [];
  for (const e of entries) {
    const c = componentOf(e.name);
    let row = components.find((r) => r.component === c);
    if (!row) components.push((row = { component: c, loaded: 0, total: 0, missing: [] }));
    row.total++;
    if (base.missing.includes(e.name)) row.missing.push(e.name);
    else row.loaded++;
  }
  const present = new Set(components.map((r) => r.component));
  const ignored = base.unexpected.map((name) => ({ name, reason: reasonFor(name, present) }));
  const resampled = [...resampling.values()].map(({ name, from, to, how }) => ({ name, from, to, how }));
  const report = { ...base, naming, release, components, ignored, resampled, ...(storedConfig ? { storedConfig } : {}) };
  const steps = ready.map((entry) => ({ entry, from: named.get(entry.name)!.from, resampling: resampling.get(entry.name) }));
  return { report: { ...report, summary: summarise(report, configLines) }, steps };
}

/**
 * Writes one planned weight from its file tensors (q/k/v concatenated,
 * position table resampled); disposes only what it created.
 */
function writeStep(step: PretrainedPlan['steps'][number], parts: tf.Tensor[]): void {
  const created: tf.Tensor[] = [];
  try {
    let t = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    if (t !== parts[0]) created.push(t);
    if (step.resampling) created.push((t = resample(t, step.resampling)));
    writeEntry(step.entry, t);
  } finally {
    tf.dispose(created);
  }
}

/**
 * Loads an official release (or an HF copy, or any partial state dict) into
 * one of our models, as far as it goes: what matches is loaded, the rest of
 * the model keeps its initialisation and is reported per component, and the
 * file's extra tensors are ignored with a reason. Position tables of another
 * grid are resampled. Mis-shaped tensors (a different architecture) throw a
 * {@link CheckpointError} before anything is written.
 *
 * ```ts
 * const { tensors } = readWeights(bytes); // mae_pretrain_vit_base.pth
 * const report = loadPretrained(mae, tensors);
 * console.log(report.summary.join('\n')); // "decoder: 0 of 20 tensors, initialised fresh", ...
 * tf.dispose(Object.values(tensors));
 * ```
 *
 * For big files, {@link loadPretrainedFrom} reads and loads one tensor at a time instead.
 *
 * @param model a `MaskedAutoencoder`, `ViTEncoder`, `ViTClassifier` or any `MAELayer`
 * @param tensors official or HF names, torch layouts; not disposed
 */
export function loadPretrained(model: MAELayer, tensors: Record<string, tf.Tensor>, options: PretrainedOptions = {}): PretrainedReport {
  if (tensors === null || typeof tensors !== 'object' || !Object.values(tensors).every((t) => t instanceof tf.Tensor)) {
    throw new CheckpointError(`tensors must be an object of name → tf.Tensor, got ${describe(tensors)}`);
  }
  const plan = planPretrained(model, new Map(Object.entries(tensors).map(([n, t]) => [n, t.shape])), options);
  for (const step of plan.steps) writeStep(step, step.from.map((n) => tensors[n]));
  return plan.report;
}

/** Throws a {@link CheckpointError} unless `weights` is a `WeightsIndex` (from `openWeights`). */
export function checkWeightsIndex(weights: unknown): asserts weights is WeightsIndex {
  const w = weights as WeightsIndex | null;
  if (w === null || typeof w !== 'object' || !(w.tensors instanceof Map) || typeof w.read !== 'function') {
    throw new CheckpointError(`weights must be a WeightsIndex from openWeights(), got ${describe(weights)}`);
  }
}

/**
 * {@link loadPretrained} from a file opened by ranges ({@link openWeights}):
 * the same decisions and report, but each weight is read, converted, written
 * into the model and disposed before the next is read, so the backend holds
 * the model plus one tensor at a time and the host one tensor's bytes.
 *
 * ```ts
 * import { fileSource } from 'tfjs-mae/node';
 * const weights = await openWeights(await fileSource('mae_pretrain_vit_huge.pth'));
 * const report = await loadPretrainedFrom(encoder, weights);
 * await weights.source.close?.();
 * ```
 *
 * @param model a `MaskedAutoencoder`, `ViTEncoder`, `ViTClassifier` or any `MAELayer`
 * @param weights the opened file (official or HF names, torch layouts)
 * @throws CheckpointError naming the file, before anything is written, when
 *   the names or shapes do not fit (as {@link loadPretrained}); while reading,
 *   for a corrupt tensor (the weights before it are then already written).
 */
export async function loadPretrainedFrom(model: MAELayer, weights: WeightsIndex, options: PretrainedOptions = {}): Promise<PretrainedReport> {
  checkWeightsIndex(weights);
  let plan: PretrainedPlan;
  try {
    const withFile = { file: weights.source.name, metadata: weights.metadata, ...options };
    plan = planPretrained(model, new Map([...weights.tensors].map(([n, t]) => [n, t.shape])), withFile);
  } catch (e) {
    throw e instanceof CheckpointError && !e.message.includes(weights.source.name) ? new CheckpointError(`${weights.source.name}: ${e.message}`) : e;
  }
  for (const step of plan.steps) {
    const parts: tf.Tensor[] = [];
    try {
      for (const name of step.from) {
        const host = await weights.read(name);
        parts.push(tf.tensor(host.data, host.shape, host.dtype));
      }
      writeStep(step, parts);
    } finally {
      tf.dispose(parts);
    }
  }
  return plan.report;
}

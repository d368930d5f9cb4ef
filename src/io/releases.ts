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
import { fromHFNames } from './naming';
import { type LoadReport, type Naming, detectNaming, loadStateDict, torchShape } from './stateDict';
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

/**
 * Official-named position tables of another grid → the model's grid (new
 * tensors, pushed to `created`). A frozen sin-cos table of a pre-training
 * file is recomputed; a learned one (any table going into a trainable
 * position embedding, or coming from a classifier) is interpolated.
 */
function resamplePositions(
  model: MAELayer,
  entries: StateEntry[],
  named: Record<string, tf.Tensor>,
  release: ReleaseKind,
  options: PretrainedOptions,
  created: tf.Tensor[],
): ResampledTable[] {
  const out: ResampledTable[] = [];
  for (const e of entries) {
    const t = named[e.name];
    if (!isPosTable(e.name) || t === undefined) continue;
    const want = torchShape(e); // [1, 1 + L, D]
    if (tf.util.arraysEqual(want, t.shape)) continue;
    if (t.rank !== 3 || t.shape[0] !== 1 || t.shape[2] !== want[2]) continue; // reported as mis-shaped
    const from = sourceGrid(e.name, t.shape[1] as number, options.sourceGridSize);
    const to = modelGrid(model, want[1]);
    const learned = e.variable.trainable || release === 'classifier' || release === 'linprobe';
    const table = learned
      ? interpolatePosEmbed(t, from, to)
      : tf.tensor(sincosTable(want[2], to[0], to[1], true), want);
    created.push(table);
    named[e.name] = table;
    out.push({ name: e.name, from, to, how: learned ? 'interpolated' : 'recomputed' });
  }
  return out;
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
 * @param model a `MaskedAutoencoder`, `ViTEncoder`, `ViTClassifier` or any `MAELayer`
 * @param tensors official or HF names, torch layouts; not disposed
 */
export function loadPretrained(model: MAELayer, tensors: Record<string, tf.Tensor>, options: PretrainedOptions = {}): PretrainedReport {
  if (tensors === null || typeof tensors !== 'object' || !Object.values(tensors).every((t) => t instanceof tf.Tensor)) {
    throw new CheckpointError(`tensors must be an object of name → tf.Tensor, got ${describe(tensors)}`);
  }
  const naming = options.naming === undefined || options.naming === 'auto' ? detectNaming(Object.keys(tensors)) : options.naming;
  if (naming !== 'official' && naming !== 'hf') {
    throw new CheckpointError(`naming must be 'official', 'hf' or 'auto', got ${describe(naming)}`);
  }
  const renamed = naming === 'hf' ? fromHFNames(tensors) : tensors;
  const inputs = new Set(Object.values(tensors));
  const created: tf.Tensor[] = Object.values(renamed).filter((t) => !inputs.has(t));
  try {
    // Checkpoints saved from a DistributedDataParallel wrapper prefix every name with `module.`.
    const names = Object.keys(renamed);
    const prefixed = names.length > 0 && names.every((n) => n.startsWith('module.'));
    const named: Record<string, tf.Tensor> = prefixed
      ? Object.fromEntries(Object.entries(renamed).map(([n, t]) => [n.slice('module.'.length), t]))
      : { ...renamed };
    const release = detectRelease(Object.keys(named));
    const file = options.file ?? 'the weights';
    const storedConfig = readStoredConfig(options.metadata, file);
    const configLines = storedConfig ? compareWithStored(model, storedConfig, file) : [];
    const entries = model.stateEntries();
    if (!entries.some((e) => e.name in named)) {
      throw new CheckpointError(
        `none of the ${Object.keys(named).length} tensors in the file is a weight of this model ` +
          `(file: ${RELEASE_TEXT[release]}; first names ${describe(Object.keys(named).slice(0, 3))})`,
      );
    }
    const resampled = resamplePositions(model, entries, named, release, options, created);
    const base = loadStateDict(entries, named, { naming: 'official', strict: options.strict ? true : 'shapes' });
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
    const report = { ...base, naming, release, components, ignored, resampled, ...(storedConfig ? { storedConfig } : {}) };
    return { ...report, summary: summarise(report, configLines) };
  } finally {
    tf.dispose(created);
  }
}

/**
 * The model of a weights file, for every command that takes `--weights`:
 * the ONE place the CLI decides which model a file holds, so that the
 * config-carrying loader (io-config) can replace its internals.
 *
 * The config stored in the file's metadata wins (ours: `{ className, config }`
 * or the older flat constructor arguments); otherwise it is inferred from the
 * tensor shapes (official or HF names) plus the hints for what shapes cannot
 * tell (heads, normPixLoss), and a note says so. A hint that contradicts a
 * stored config is an error: a different model is never built silently.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ViTClassifier } from '../classify/ViTClassifier';
import { ViTEncoder } from '../encode/ViTEncoder';
import { HOST_ROWS, toTfTensors, type HostTensors } from '../io/hostTensor';
import { inferConfig, type InferHints } from '../io/inferConfig';
import { renameFromHF } from '../io/naming';
import { loadPretrained, type PretrainedReport } from '../io/releases';
import { MaskedAutoencoder } from '../model/MaskedAutoencoder';
import { CliError } from './args';
import { loadWeightsFile, namingOf } from './weightsFile';

/** What a weights file holds. */
export type ModelKind = 'mae' | 'encoder' | 'classifier';

const CLASS_OF: Record<ModelKind, string> = { mae: 'MaskedAutoencoder', encoder: 'MAEViTEncoder', classifier: 'MAEViTClassifier' };

/** A model built from a weights file. */
export interface LoadedModel {
  kind: ModelKind;
  model: MaskedAutoencoder | ViTEncoder | ViTClassifier;
  /** The constructor arguments used. */
  config: Record<string, unknown>;
  /** Where the config came from. */
  source: 'metadata' | 'inferred';
  /** The file's safetensors metadata (`{}` for a .pth). */
  metadata: Record<string, string>;
  /** One line per thing the user should know (inferred values, resampled tables). */
  notes: string[];
  report: PretrainedReport;
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions extends InferHints {
  /** Build the model for this image size (position tables resampled as the official `interpolate_pos_embed`). */
  imgSize?: number;
}

/** The config stored in `metadata.config`, if any: `{ className, config }` or the flat constructor arguments. */
function storedConfig(metadata: Record<string, string>, file: string, names: string[]): { kind: ModelKind; config: Record<string, unknown> } | undefined {
  if (metadata.config === undefined) return undefined;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(metadata.config) as Record<string, unknown>;
  } catch {
    throw new CliError(`${file}: the "config" metadata is not valid JSON`);
  }
  if (typeof parsed.className === 'string' && parsed.config && typeof parsed.config === 'object') {
    const kind = (Object.keys(CLASS_OF) as ModelKind[]).find((k) => CLASS_OF[k] === parsed.className);
    if (!kind) throw new CliError(`${file}: unknown model class ${JSON.stringify(parsed.className)} in the "config" metadata`);
    return { kind, config: parsed.config as Record<string, unknown> };
  }
  const kind: ModelKind = names.includes('head.weight') ? 'classifier' : names.includes('decoder_embed.weight') ? 'mae' : 'encoder';
  return { kind, config: parsed };
}

function checkHints(stored: Record<string, unknown>, hints: InferHints, file: string): void {
  const pairs: [keyof InferHints, string, string][] = [
    ['numHeads', 'numHeads', '--heads'],
    ['decoderNumHeads', 'decoderNumHeads', '--decoder-heads'],
    ['normPixLoss', 'normPixLoss', '--norm-pix'],
  ];
  for (const [hint, key, flagName] of pairs) {
    const given = hints[hint];
    if (given !== undefined && stored[key] !== undefined && stored[key] !== given) {
      throw new CliError(`${flagName} ${given} contradicts ${file}, whose stored config says ${key} = ${JSON.stringify(stored[key])}; drop the flag`);
    }
  }
}

/** Official names (from HF if need be), without training-checkpoint optimiser state or a `module.` prefix. */
function officialTensors(tensors: HostTensors): HostTensors {
  const model = new Map([...tensors].filter(([n]) => !n.startsWith('optimizer.')));
  return namingOf(model.keys()) === 'hf' ? new Map(renameFromHF(model, HOST_ROWS)) : model;
}

/** Reads `file` and builds the model it holds (see the module comment). The caller disposes `model`. */
export async function loadModel(file: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const { tensors: raw, metadata, notes: readNotes } = await loadWeightsFile(file);
  const tensors = officialTensors(raw);
  const names = [...tensors.keys()].map((n) => n.replace(/^module\./, ''));
  const notes = [...readNotes];
  const hints: InferHints = { numHeads: options.numHeads, decoderNumHeads: options.decoderNumHeads, normPixLoss: options.normPixLoss };
  let resolved = storedConfig(metadata, file, names);
  let source: LoadedModel['source'] = 'metadata';
  if (resolved) checkHints(resolved.config, hints, file);
  else {
    const shapes = new Map([...tensors].map(([n, t]) => [n.replace(/^module\./, ''), t.shape]));
    let inferred;
    try {
      inferred = inferConfig(shapes, hints);
    } catch (e) {
      throw new CliError(`${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    resolved = { kind: inferred.kind, config: inferred.config as Record<string, unknown> };
    source = 'inferred';
    const c = inferred.config;
    notes.push(
      `${file} stores no config; inferred from the shapes: ${c.embedDim} wide, ${c.depth} blocks, ${c.numHeads} heads` +
        (inferred.kind === 'mae' ? `, decoder ${c.decoderEmbedDim} wide, ${c.decoderDepth} blocks, ${c.decoderNumHeads} heads` : '') +
        ` (heads: the official presets' unless --heads/--decoder-heads; normPixLoss ${c.normPixLoss})`,
    );
  }
  const config = { ...resolved.config };
  delete config.name;
  delete config.trainable;
  delete config.dtype;
  if (options.imgSize !== undefined && JSON.stringify(config.imgSize) !== JSON.stringify(options.imgSize)) {
    notes.push(`built for ${options.imgSize} px (the file's model: ${JSON.stringify(config.imgSize)}); position tables resampled`);
    config.imgSize = options.imgSize;
  }
  const model =
    resolved.kind === 'mae' ? new MaskedAutoencoder(config) : resolved.kind === 'encoder' ? new ViTEncoder(config) : new ViTClassifier(config);
  const tfTensors = toTfTensors(tensors);
  try {
    const report = loadPretrained(model, tfTensors, { naming: 'official', strict: true });
    return { kind: resolved.kind, model, config, source, metadata, notes, report };
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(tfTensors));
  }
}

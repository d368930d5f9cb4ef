/**
 * The model of a weights file, for every command that takes `--weights`:
 * the one place the CLI turns a file into a model. The decision of which
 * model a file holds is the library's (`resolveModelConfig`: the config
 * stored in the file, else HF config, else names and shapes plus the hints
 * for what shapes cannot tell); a hint that contradicts a stored config, or
 * a file whose weights do not all fit, is an error: a different model is
 * never built silently.
 */
import type { ViTClassifier } from '../classify/ViTClassifier';
import type { ViTEncoder } from '../encode/ViTEncoder';
import type { InferHints } from '../io/inferConfig';
import { buildModel, resolveModelConfig, type ModelClassName } from '../io/modelConfig';
import { loadPretrainedFrom, type PretrainedReport } from '../io/releases';
import type { WeightsIndex } from '../io/weightsIndex';
import type { MaskedAutoencoder } from '../model/MaskedAutoencoder';
import { CliError } from './args';
import { withWeightsFile } from './weightsFile';

/** What a weights file holds. */
export type ModelKind = 'mae' | 'encoder' | 'classifier';

const KIND_OF: Record<ModelClassName, ModelKind> = { MaskedAutoencoder: 'mae', MAEViTEncoder: 'encoder', MAEViTClassifier: 'classifier' };

/** A model built from a weights file. */
export interface LoadedModel {
  kind: ModelKind;
  model: MaskedAutoencoder | ViTEncoder | ViTClassifier;
  /** The constructor arguments used. */
  config: Record<string, unknown>;
  /** Where the config came from. */
  source: 'metadata' | 'hf-config' | 'inferred';
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

/** Whether a tensor of a file is a training checkpoint's optimiser state (not a weight). */
const isOptimizerState = (name: string): boolean => name.startsWith('optimizer.');

/** Reads `file` and builds the model it holds (see the module comment). The caller disposes `model`. */
export async function loadModel(file: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  // Read by ranges: the header first, then one tensor at a time straight into the model.
  return withWeightsFile(file, ({ index, metadata, notes }) => buildAndLoad(file, index, metadata, notes, options));
}

/** {@link loadModel} of a file the caller has opened already (its read notes are the caller's to print). */
export function loadModelFromIndex(file: string, index: WeightsIndex, options: LoadModelOptions = {}): Promise<LoadedModel> {
  return buildAndLoad(file, index, index.metadata, [], options);
}

async function buildAndLoad(
  file: string,
  index: WeightsIndex,
  metadata: Record<string, string>,
  readNotes: string[],
  options: LoadModelOptions,
): Promise<LoadedModel> {
  const shapes = new Map([...index.tensors].filter(([n]) => !isOptimizerState(n)).map(([n, t]) => [n, t.shape]));
  const hints: InferHints = { numHeads: options.numHeads, decoderNumHeads: options.decoderNumHeads, normPixLoss: options.normPixLoss };
  const resolved = resolveModelConfig({
    file,
    metadata,
    shapes,
    hints,
    hintNames: { numHeads: '--heads N', decoderNumHeads: '--decoder-heads N', normPixLoss: '--norm-pix' },
  });
  const kind = KIND_OF[resolved.className as ModelClassName];
  if (kind === undefined) throw new CliError(`${file} holds a ${resolved.className}; expected a MaskedAutoencoder, MAEViTEncoder or MAEViTClassifier`);
  const notes = [...readNotes];
  if (resolved.source !== 'metadata') notes.push(`${file} stores no config; ${resolved.source === 'hf-config' ? 'from its config.json' : 'inferred from the names and shapes'}`, ...resolved.notes);
  const config = { ...resolved.config };
  if (options.imgSize !== undefined && JSON.stringify(config.imgSize) !== JSON.stringify(options.imgSize) && JSON.stringify(config.imgSize) !== JSON.stringify([options.imgSize, options.imgSize])) {
    notes.push(`built for ${options.imgSize} px (the file's model: ${JSON.stringify(config.imgSize)}); position tables resampled`);
    config.imgSize = options.imgSize;
  }
  const model = buildModel({ className: resolved.className, config }, file) as LoadedModel['model'];
  try {
    const report = await loadPretrainedFrom(model, index, { metadata, file });
    const missing = [...report.missing, ...report.mismatched.map((m) => m.name)];
    if (missing.length > 0) {
      throw new CliError(`${file} does not fit the ${resolved.className} it describes: ${missing.length} weights missing or mis-shaped (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`);
    }
    for (const ignored of report.ignored) if (!isOptimizerState(ignored.name)) notes.push(`ignored ${ignored.name}: ${ignored.reason}`);
    return { kind, model, config, source: resolved.source, metadata, notes, report };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

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
import type { ModelClassName } from '../io/modelConfig';
import { loadPretrainedModelFrom } from '../io/pretrainedModel';
import type { PretrainedReport } from '../io/releases';
import type { WeightsIndex } from '../io/weightsIndex';
import type { MaskedAutoencoder } from '../model/MaskedAutoencoder';
import { CliError, checkInputSize } from './args';
import { withWeightsFile } from './weightsFile';

/** What a weights file holds. */
export type ModelKind = 'mae' | 'encoder' | 'classifier';

const KIND_OF: Record<ModelClassName, ModelKind> = { MaskedAutoencoder: 'mae', MAEViTEncoder: 'encoder', MAEViTClassifier: 'classifier' };
const KIND_WORDS: Record<ModelKind, string> = { mae: 'a whole MAE', encoder: 'an encoder only', classifier: 'a classifier' };

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
  /**
   * The kinds the command can use, and what it needs them for (e.g. `['mae']`,
   * `'reconstruction needs the decoder too'`): any other kind is refused from
   * the file's header, before a tensor is read.
   */
  kinds?: { accept: readonly ModelKind[]; why: string };
}

/** Reads `file` and builds the model it holds (see the module comment). The caller disposes `model`. */
export async function loadModel(file: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  // Read by ranges: the header first, then one tensor at a time straight into the model.
  return withWeightsFile(file, ({ index, notes }) => buildAndLoad(file, index, notes, options));
}

/** {@link loadModel} of a file the caller has opened already (its read notes are the caller's to print). */
export function loadModelFromIndex(file: string, index: WeightsIndex, options: LoadModelOptions = {}): Promise<LoadedModel> {
  return buildAndLoad(file, index, [], options);
}

/** The library's one load path ({@link loadPretrainedModelFrom}) with the CLI's flags and rules: every weight must come from the file. */
async function buildAndLoad(file: string, index: WeightsIndex, readNotes: string[], options: LoadModelOptions): Promise<LoadedModel> {
  const { model, config, report, metadata } = await loadPretrainedModelFrom(index, {
    file,
    hints: { numHeads: options.numHeads, decoderNumHeads: options.decoderNumHeads, normPixLoss: options.normPixLoss },
    hintNames: { numHeads: '--heads N', decoderNumHeads: '--decoder-heads N', normPixLoss: '--norm-pix' },
    imgSize: options.imgSize,
    allowMissing: false,
    decide: (resolved) => {
      if (!Object.prototype.hasOwnProperty.call(KIND_OF, resolved.className)) throw new CliError(`${file} holds a ${resolved.className}; expected a MaskedAutoencoder, MAEViTEncoder or MAEViTClassifier`);
      const kind = KIND_OF[resolved.className as ModelClassName];
      if (options.kinds && !options.kinds.accept.includes(kind)) throw new CliError(`${file} holds ${KIND_WORDS[kind]}: ${options.kinds.why}`);
      if (options.imgSize !== undefined) checkInputSize(options.imgSize, resolved.config.patchSize, file);
      return resolved;
    },
  });
  const notes = [...readNotes];
  if (config.source !== 'metadata') notes.push(`${file} stores no config; ${config.source === 'hf-config' ? 'from its config.json' : 'inferred from the names and shapes'}`);
  notes.push(...config.notes);
  for (const ignored of report.ignored) notes.push(`ignored ${ignored.name}: ${ignored.reason}`);
  const kind = KIND_OF[config.className as ModelClassName];
  return { kind, model: model as LoadedModel['model'], config: config.config, source: config.source, metadata, notes, report };
}

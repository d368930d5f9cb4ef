/**
 * `tfjs-mae convert IN OUTDIR --to tfjs`: builds the model the file holds
 * (its stored config, else the config its names and shapes imply with the
 * official presets' heads and the user's flags) and saves it as a tfjs model
 * folder, keeping the file's other metadata. This needs a tfjs backend in
 * Node: `@tensorflow/tfjs-node` when installed, else `@tensorflow/tfjs-backend-cpu`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEError } from '../../errors';
import { type HostTensors, toTfTensors } from '../../io/hostTensor';
import { buildModel, resolveModelConfig, type ConfigHints } from '../../io/modelConfig';
import { nodeFolderHandler } from '../../io/nodeFolder';
import { saveModel } from '../../io/tfjsModel';
import { loadStateDict, summarise } from '../../io/stateDict';
import { MaskedAutoencoder } from '../../model/MaskedAutoencoder';
import { ViTEncoder } from '../../encode/ViTEncoder';
import { ViTClassifier } from '../../classify/ViTClassifier';

// buildModel finds classes in the serialization registry. Register the ones a file can hold
// here as well: the CLI bundle drops side-effect-only imports of src modules (package.json
// "sideEffects" lists dist/index only), so their own registerClass calls may not be in it.
for (const cls of [MaskedAutoencoder, ViTEncoder, ViTClassifier]) tf.serialization.registerClass(cls);

async function ensureBackend(): Promise<void> {
  for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-cpu']) {
    try {
      await import(pkg);
      if (pkg.endsWith('cpu')) await tf.setBackend('cpu');
      await tf.ready();
      return;
    } catch {
      // try the next one
    }
  }
  throw new MAEError('--to tfjs needs a tfjs backend: npm install @tensorflow/tfjs-backend-cpu (or @tensorflow/tfjs-node)');
}

/** The input of {@link convertToTfjsFolder}. */
export interface TfjsConversion {
  /** The input file, named in messages. */
  file: string;
  /** Official names, torch layouts. */
  official: HostTensors;
  /** The input's `__metadata__` (its stored config decides the model; the rest is kept). */
  metadata: Record<string, string>;
  /** What the flags say (`--heads`, `--decoder-heads`, `--norm-pix`). */
  hints: ConfigHints;
  /** How the command line spells each hint, for messages. */
  hintNames: Partial<Record<keyof ConfigHints, string>>;
}

/** Writes the model of `input` as a tfjs model folder `outDir`. */
export async function convertToTfjsFolder(input: TfjsConversion, outDir: string, out: (line: string) => void): Promise<void> {
  const shapes = new Map([...input.official].map(([n, t]) => [n, t.shape]));
  const resolved = resolveModelConfig({ file: input.file, metadata: input.metadata, shapes, hints: input.hints, hintNames: input.hintNames });
  await ensureBackend();
  const model = buildModel(resolved, input.file);
  const tensors = toTfTensors(input.official);
  try {
    out(`config: ${resolved.className} from ${resolved.source === 'metadata' ? 'the file' : 'names and shapes'}`);
    for (const note of resolved.notes) out(`config: ${note}`);
    const report = loadStateDict(model.stateEntries(), tensors, { naming: 'official', strict: true });
    out(`loaded: ${summarise(report)}`);
    const { format: _format, config: _config, ...kept } = input.metadata;
    const result = await saveModel(model, nodeFolderHandler(outDir), { metadata: kept });
    const bytes = result.modelArtifactsInfo.weightDataBytes ?? 0;
    const c = resolved.config;
    const decoder = c.decoderNumHeads === undefined ? '' : `, decoder ${c.decoderEmbedDim} wide, ${c.decoderNumHeads} heads`;
    out(`wrote ${outDir}: ${resolved.className} (embedDim ${c.embedDim}, depth ${c.depth}, ${c.numHeads} heads${decoder}), ${bytes.toLocaleString('en-US')} weight bytes`);
  } finally {
    tf.dispose(Object.values(tensors));
    model.dispose();
  }
}

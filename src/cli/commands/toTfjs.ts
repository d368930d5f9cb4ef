/**
 * `tfjs-mae convert IN OUTDIR --to tfjs`: builds the model the file holds
 * (its stored config, else the config its names and shapes imply with the
 * official presets' heads and the user's flags), loads it one tensor at a
 * time from the file, and writes it as a tfjs model folder one weight at a
 * time (`model.json` + shards, atomically), keeping the file's other
 * metadata. Memory: the model plus one tensor. This needs a tfjs backend in
 * Node: `@tensorflow/tfjs-node` when installed, else `@tensorflow/tfjs-backend-cpu`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEError } from '../../errors';
import type { ConfigHints } from '../../io/modelConfig';
import { CONFIG_FROM } from '../../io/pretrainedModel';
import type { WeightsIndex } from '../../io/weightsIndex';
import { writeTfjsFolder } from '../../node/tfjsFolder';
import { MaskedAutoencoder } from '../../model/MaskedAutoencoder';
import { ViTEncoder } from '../../encode/ViTEncoder';
import { ViTClassifier } from '../../classify/ViTClassifier';
import { loadModelFromIndex } from '../model';

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
  /** The input, opened by ranges (official or HF names). */
  index: WeightsIndex;
  /** The input's `__metadata__` to keep (its `config` and `format` are replaced by the model's). */
  metadata: Record<string, string>;
  /** What the flags say (`--heads`, `--decoder-heads`, `--norm-pix`). */
  hints: ConfigHints;
}

/** Writes the model of `input` as a tfjs model folder `outDir`. */
export async function convertToTfjsFolder(input: TfjsConversion, outDir: string, out: (line: string) => void): Promise<void> {
  await ensureBackend();
  const { model, source, config: c, notes, report } = await loadModelFromIndex(input.file, input.index, input.hints);
  try {
    const className = (model.constructor as { className?: string }).className;
    out(`config: ${className} from ${CONFIG_FROM[source]}`);
    for (const note of notes) out(`note: ${note}`);
    out(`loaded: ${report.loaded.length} tensors`);
    const { format: _format, config: _config, ...kept } = input.metadata;
    const written = await writeTfjsFolder(outDir, model, { metadata: kept });
    const decoder = c.decoderNumHeads === undefined ? '' : `, decoder ${c.decoderEmbedDim} wide, ${c.decoderNumHeads} heads`;
    out(
      `wrote ${outDir}: ${className} (embedDim ${c.embedDim}, depth ${c.depth}, ${c.numHeads} heads${decoder}), ` +
        `${written.bytes.toLocaleString('en-US')} weight bytes in ${written.shards.length} shard${written.shards.length === 1 ? '' : 's'}`,
    );
  } finally {
    model.dispose();
  }
}

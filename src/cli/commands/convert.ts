/**
 * `tfjs-mae convert IN OUT [--to official|hf|tfjs]`: a .pth or safetensors
 * file (official or HF names) → safetensors with the chosen names, or a tfjs
 * model folder. Every output carries the model config (the input's stored
 * one, else what its names and shapes imply with the flags) and keeps every
 * other metadata key of the input (`recipe`, ...).
 */
import { renameFromHF, renameToHF } from '../../io/naming';
import { modelTensors } from '../../io/pretrainedModel';
import { LAZY_ROWS, type LazyHostTensor, type WeightsIndex } from '../../io/weightsIndex';
import { writeSafetensorsFile } from '../../node/safetensorsFile';
import { CONFIG_METADATA_KEY, resolveModelConfig, type ConfigHints } from '../../io/modelConfig';
import { MAEError } from '../../errors';
import { flag } from '../args';
import { defineCommand } from '../command';
import { namingOf, withWeightsFile } from '../weightsFile';

/** How the command line spells each config hint (named in error messages). */
const HINT_FLAGS = { numHeads: '--heads N', decoderNumHeads: '--decoder-heads N', normPixLoss: '--norm-pix' } as const;

/** The file's tensors under `to` names, not read yet (q/k/v split or merged as each is loaded). */
function rename(index: WeightsIndex, to: 'official' | 'hf'): Array<[string, LazyHostTensor]> {
  const lazy = index.lazy();
  const official = namingOf(index.tensors.keys()) === 'hf' ? renameFromHF(lazy, LAZY_ROWS) : lazy;
  return to === 'hf' ? renameToHF(official, LAZY_ROWS) : official;
}

/**
 * The `config` entry of a converted file: the input's stored config (checked
 * against the flags), else the one its names and shapes imply; none, with a
 * note saying which flag would give it, when that cannot be decided.
 */
function configToEmbed(
  file: string,
  shapes: Map<string, number[]>,
  metadata: Record<string, string>,
  hints: ConfigHints,
  out: (line: string) => void,
): Record<string, string> {
  try {
    const resolved = resolveModelConfig({ file, metadata, shapes, hints, hintNames: HINT_FLAGS });
    if (resolved.source === 'metadata') return {};
    out(`config: ${resolved.className} from names and shapes, embedded`);
    for (const note of resolved.notes) out(`config: ${note}`);
    return { [CONFIG_METADATA_KEY]: JSON.stringify({ className: resolved.className, config: resolved.config }) };
  } catch (e) {
    if (!(e instanceof MAEError) || CONFIG_METADATA_KEY in metadata) throw e;
    out(`note: no model config embedded (${e.message})`);
    return {};
  }
}

export const convert = defineCommand({
  name: 'convert',
  summary: '.pth or safetensors (official or HF names) → safetensors, or a tfjs model folder',
  positionals: [
    { name: 'IN', help: 'a .pth or .safetensors file' },
    { name: 'OUT', help: 'the output .safetensors file, or folder with --to tfjs' },
  ],
  flags: {
    to: flag.choice(['official', 'hf', 'tfjs'] as const, { default: 'official', help: 'the output: safetensors with official or HF names, or a tfjs model folder' }),
    heads: flag.integer({ min: 1, help: "encoder heads, for files without a stored config (default: the official preset's of that width; required for other widths)" }),
    decoderHeads: flag.integer({ min: 1, help: 'decoder heads, for files without a stored config (default: 16 for the official 512-wide decoder; required for other widths)' }),
    normPix: flag.boolean({ help: 'the model was trained with norm_pix_loss, for files without a stored config' }),
  },
  async run({ positionals: [input, output], flags }, io) {
    await withWeightsFile(input, async ({ index, notes, metadata: stored }) => {
      const { training: _t, weightsFormat: _w, ...metadata } = stored; // a checkpoint's counters stay behind
      void [_t, _w];
      for (const note of notes) io.out(`note: ${note}`);
      const hints: ConfigHints = { numHeads: flags.heads, decoderNumHeads: flags.decoderHeads, normPixLoss: flags.normPix || undefined };
      if (flags.to === 'tfjs') {
        const { convertToTfjsFolder } = await import('./toTfjs');
        await convertToTfjsFolder({ file: input, index, metadata, hints }, output, io.out);
        return;
      }
      // A training checkpoint converts to its model weights: no optimiser state.
      const weights = modelTensors(index).index;
      const shapes = new Map([...weights.tensors].map(([n, t]) => [n, t.shape]));
      const config = configToEmbed(input, shapes, metadata, hints, io.out);
      // Streamed: the header from the shapes, then one tensor at a time; every metadata key is kept.
      const renamed = rename(weights, flags.to);
      const widened = renamed.filter(([, t]) => t.sourceDtype !== 'F32' && t.sourceDtype !== 'I32').length;
      const written = await writeSafetensorsFile(output, renamed, { ...metadata, format: 'pt', converted_by: 'tfjs-mae', naming: flags.to, ...config });
      io.out(
        `wrote ${output}: ${written.tensors} tensors, ${flags.to} names, ${written.bytes.toLocaleString('en-US')} bytes${widened ? `, ${widened} converted to float32/int32` : ''}`,
      );
    });
  },
});

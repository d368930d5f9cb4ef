/**
 * `tfjs-mae convert IN OUT [--to official|hf|tfjs]`: a .pth or safetensors
 * file (official or HF names) → safetensors with the chosen names, or a tfjs
 * model folder. Every output carries the model config (the input's stored
 * one, else what its names and shapes imply with the flags) and keeps every
 * other metadata key of the input (`recipe`, ...).
 */
import { writeFile } from 'node:fs/promises';
import { type HostTensor, type HostTensors, HOST_ROWS } from '../../io/hostTensor';
import { renameFromHF, renameToHF } from '../../io/naming';
import { encodeSafetensors } from '../../io/safetensors';
import { CONFIG_METADATA_KEY, resolveModelConfig, type ConfigHints } from '../../io/modelConfig';
import { MAEError } from '../../errors';
import { flag } from '../args';
import { defineCommand } from '../command';
import { loadWeightsFile, namingOf } from '../weightsFile';

/** How the command line spells each config hint (named in error messages). */
const HINT_FLAGS = { numHeads: '--heads N', decoderNumHeads: '--decoder-heads N', normPixLoss: '--norm-pix' } as const;

function rename(tensors: HostTensors, to: 'official' | 'hf'): HostTensors {
  const from = namingOf(tensors.keys());
  const official = from === 'hf' ? renameFromHF(tensors, HOST_ROWS) : [...tensors];
  return new Map(to === 'hf' ? renameToHF(official, HOST_ROWS) : official);
}

/**
 * The `config` entry of a converted file: the input's stored config (checked
 * against the flags), else the one its names and shapes imply; none, with a
 * note saying which flag would give it, when that cannot be decided.
 */
function configToEmbed(
  file: string,
  tensors: HostTensors,
  metadata: Record<string, string>,
  hints: ConfigHints,
  out: (line: string) => void,
): Record<string, string> {
  const shapes = new Map([...tensors].map(([n, t]) => [n, t.shape]));
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
    const { tensors, notes, metadata } = await loadWeightsFile(input);
    for (const note of notes) io.out(`note: ${note}`);
    const hints: ConfigHints = { numHeads: flags.heads, decoderNumHeads: flags.decoderHeads, normPixLoss: flags.normPix || undefined };
    if (flags.to === 'tfjs') {
      const { convertToTfjsFolder } = await import('./toTfjs');
      await convertToTfjsFolder({ file: input, official: rename(tensors, 'official'), metadata, hints, hintNames: HINT_FLAGS }, output, io.out);
      return;
    }
    const config = configToEmbed(input, tensors, metadata, hints, io.out);
    const renamed = rename(tensors, flags.to);
    const widened = [...renamed.values()].filter((t: HostTensor) => t.sourceDtype !== 'F32' && t.sourceDtype !== 'I32').length;
    const bytes = encodeSafetensors(renamed, { ...metadata, format: 'pt', converted_by: 'tfjs-mae', naming: flags.to, ...config });
    await writeFile(output, bytes);
    io.out(`wrote ${output}: ${renamed.size} tensors, ${flags.to} names${widened ? `, ${widened} converted to float32/int32` : ''}`);
  },
});

/**
 * `tfjs-mae convert IN OUT [--to official|hf|tfjs]`: a .pth or safetensors
 * file (official or HF names) → safetensors with the chosen names, or a tfjs
 * model folder.
 */
import { type HostTensor, type HostTensors, HOST_ROWS } from '../../io/hostTensor';
import { renameFromHF, renameToHF } from '../../io/naming';
import { encodeSafetensors } from '../../io/safetensors';
import { writeFileAtomic } from '../../node/atomicFile';
import { flag } from '../args';
import { defineCommand } from '../command';
import { loadWeightsFile, namingOf } from '../weightsFile';

function rename(tensors: HostTensors, to: 'official' | 'hf'): HostTensors {
  const from = namingOf(tensors.keys());
  const official = from === 'hf' ? renameFromHF(tensors, HOST_ROWS) : [...tensors];
  return new Map(to === 'hf' ? renameToHF(official, HOST_ROWS) : official);
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
    heads: flag.integer({ min: 1, help: "encoder heads (the shapes cannot tell; default: the official preset's)" }),
    decoderHeads: flag.integer({ min: 1, help: 'decoder heads (the shapes cannot tell; default: 16)' }),
    normPix: flag.boolean({ help: 'the model was trained with norm_pix_loss (the shapes cannot tell)' }),
  },
  async run({ positionals: [input, output], flags }, io) {
    if (flags.to === 'tfjs') {
      const { convertToTfjsFolder } = await import('./toTfjs');
      const hints = { numHeads: flags.heads, decoderNumHeads: flags.decoderHeads, normPixLoss: flags.normPix || undefined };
      await convertToTfjsFolder(input, output, hints, io.out);
      return;
    }
    const file = await loadWeightsFile(input);
    for (const note of file.notes) io.out(`note: ${note}`);
    // A training checkpoint converts to its model weights: no optimiser state, no training counters.
    const tensors = new Map([...file.tensors].filter(([n]) => !n.startsWith('optimizer.')));
    const { training: _t, weightsFormat: _w, ...metadata } = file.metadata;
    void [_t, _w];
    const renamed = rename(tensors, flags.to);
    const widened = [...renamed.values()].filter((t: HostTensor) => t.sourceDtype !== 'F32' && t.sourceDtype !== 'I32').length;
    // The file's own metadata (config, recipe, ...) travels with the weights.
    const bytes = encodeSafetensors(renamed, { ...metadata, format: 'pt', converted_by: 'tfjs-mae', naming: flags.to });
    await writeFileAtomic(output, bytes);
    io.out(`wrote ${output}: ${renamed.size} tensors, ${flags.to} names${widened ? `, ${widened} converted to float32/int32` : ''}`);
  },
});

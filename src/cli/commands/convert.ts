/**
 * `tfjs-mae convert IN OUT [--to official|hf|tfjs]`: a .pth or safetensors
 * file (official or HF names) → safetensors with the chosen names, or a tfjs
 * model folder.
 */
import type { HostTensor } from '../../io/hostTensor';
import { renameFromHF, renameToHF } from '../../io/naming';
import { LAZY_ROWS, type LazyHostTensor, type WeightsIndex } from '../../io/weightsIndex';
import { writeSafetensorsFile } from '../../node/safetensorsFile';
import { flag } from '../args';
import { defineCommand } from '../command';
import { namingOf, withWeightsFile } from '../weightsFile';

/** The file's tensors under `to` names, not read yet (q/k/v split or merged as each is loaded). */
function rename(index: WeightsIndex, to: 'official' | 'hf'): Array<[string, LazyHostTensor]> {
  const lazy = index.lazy();
  const official = namingOf(index.tensors.keys()) === 'hf' ? renameFromHF(lazy, LAZY_ROWS) : lazy;
  return to === 'hf' ? renameToHF(official, LAZY_ROWS) : official;
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
    await withWeightsFile(input, async ({ index, notes }) => {
      for (const note of notes) io.out(`note: ${note}`);
      if (flags.to === 'tfjs') {
        const { convertToTfjsFolder } = await import('./toTfjs');
        const hints = { numHeads: flags.heads, decoderNumHeads: flags.decoderHeads, normPixLoss: flags.normPix || undefined };
        const tensors = new Map<string, HostTensor>();
        for (const [name, lazy] of rename(index, 'official')) tensors.set(name, await lazy.load());
        await convertToTfjsFolder(tensors, output, hints, io.out);
        return;
      }
      // Streamed: the header from the shapes, then one tensor at a time; every metadata key is kept.
      const renamed = rename(index, flags.to);
      const widened = renamed.filter(([, t]) => t.sourceDtype !== 'F32' && t.sourceDtype !== 'I32').length;
      const metadata = { ...index.metadata, format: 'pt', converted_by: 'tfjs-mae', naming: flags.to };
      const written = await writeSafetensorsFile(output, renamed, metadata);
      io.out(
        `wrote ${output}: ${written.tensors} tensors, ${flags.to} names, ${written.bytes.toLocaleString('en-US')} bytes${widened ? `, ${widened} converted to float32/int32` : ''}`,
      );
    });
  },
});

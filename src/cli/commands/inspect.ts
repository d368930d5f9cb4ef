/** `tfjs-mae inspect FILE`: the format, the model config, the metadata, and one line per tensor. */
import { MAEError } from '../../errors';
import { CONFIG_METADATA_KEY, resolveModelConfig } from '../../io/modelConfig';
import { defineCommand } from '../command';
import { loadWeightsFile, namingOf } from '../weightsFile';

/** One line saying which model the file holds, and where that comes from. */
function modelLine(file: string, metadata: Record<string, string>, shapes: Map<string, number[]>): string {
  try {
    const hintNames = { numHeads: 'convert --heads N', decoderNumHeads: 'convert --decoder-heads N', normPixLoss: 'convert --norm-pix' };
    const r = resolveModelConfig({ file, metadata, shapes, hintNames });
    const from = r.source === 'metadata' ? 'stored in the file' : 'inferred from names and shapes';
    return `model: ${r.className} (${from}) ${JSON.stringify(r.config)}`;
  } catch (e) {
    if (!(e instanceof MAEError)) throw e;
    return `model: not decided without flags (${e.message})`;
  }
}

export const inspect = defineCommand({
  name: 'inspect',
  summary: 'print the format, the model config, the metadata and one line per tensor (name, dtype, shape)',
  positionals: [{ name: 'FILE', help: 'a .pth or .safetensors file (official or HF names)' }],
  flags: {},
  async run({ positionals: [path] }, io) {
    const { format, tensors, notes, metadata } = await loadWeightsFile(path);
    let numbers = 0;
    for (const t of tensors.values()) numbers += t.data.length;
    io.out(`format: ${format}, ${namingOf(tensors.keys())} names, ${tensors.size} tensors, ${numbers.toLocaleString('en-US')} numbers`);
    io.out(modelLine(path, metadata, new Map([...tensors].map(([n, t]) => [n, t.shape]))));
    for (const [key, value] of Object.entries(metadata)) if (key !== CONFIG_METADATA_KEY) io.out(`metadata: ${key} = ${value}`);
    for (const note of notes) io.out(`note: ${note}`);
    for (const [name, t] of tensors) io.out(`${name}\t${t.sourceDtype}\t[${t.shape.join(', ')}]`);
  },
});

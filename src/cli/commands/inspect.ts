/** `tfjs-mae inspect FILE`: the format, the model config, the metadata and one line per tensor, from the headers only. */
import { MAEError } from '../../errors';
import { resolveModelConfig } from '../../io/modelConfig';
import { defineCommand } from '../command';
import { namingOf, withWeightsFile } from '../weightsFile';

/** A metadata value on one line, clipped for the terminal. */
const oneLine = (value: string, max = 2000): string => {
  const flat = value.replace(/[\u0000-\u001f\u2028\u2029]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}… (${flat.length} characters)` : flat;
};

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
  summary: 'print the format, the model config, the metadata (config, recipe) and one line per tensor (name, dtype, shape); reads headers only',
  positionals: [{ name: 'FILE', help: 'a .pth or .safetensors file (official or HF names)' }],
  flags: {},
  async run({ positionals: [path] }, io) {
    await withWeightsFile(path, async ({ format, index, notes, metadata }) => {
      let numbers = 0;
      for (const t of index.tensors.values()) numbers += t.shape.reduce((a, b) => a * b, 1);
      io.out(`format: ${format}, ${namingOf(index.tensors.keys())} names, ${index.tensors.size} tensors, ${numbers.toLocaleString('en-US')} numbers`);
      io.out(modelLine(path, metadata, new Map([...index.tensors].map(([n, t]) => [n, t.shape]))));
      for (const [key, value] of Object.entries(metadata)) io.out(`metadata: ${key} = ${oneLine(value)}`);
      for (const note of notes) io.out(`note: ${note}`);
      for (const [name, t] of index.tensors) io.out(`${name}\t${t.sourceDtype}\t[${t.shape.join(', ')}]`);
    });
  },
});

/** `tfjs-mae inspect FILE`: the format and one line per tensor. */
import { defineCommand } from '../command';
import { loadWeightsFile, namingOf } from '../weightsFile';

export const inspect = defineCommand({
  name: 'inspect',
  summary: 'print the format and one line per tensor (name, dtype, shape)',
  positionals: [{ name: 'FILE', help: 'a .pth or .safetensors file (official or HF names)' }],
  flags: {},
  async run({ positionals: [path] }, io) {
    const { format, tensors, notes, metadata } = await loadWeightsFile(path);
    let numbers = 0;
    for (const t of tensors.values()) numbers += t.data.length;
    io.out(`format: ${format}, ${namingOf(tensors.keys())} names, ${tensors.size} tensors, ${numbers.toLocaleString('en-US')} numbers`);
    for (const note of notes) io.out(`note: ${note}`);
    for (const [key, value] of Object.entries(metadata)) if (key !== 'format') io.out(`metadata ${key}: ${value}`);
    for (const [name, t] of tensors) io.out(`${name}\t${t.sourceDtype}\t[${t.shape.join(', ')}]`);
  },
});

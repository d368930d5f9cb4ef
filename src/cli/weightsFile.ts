/**
 * Reading a weights file for the commands: the one place the CLI opens a
 * `.pth` or safetensors file. Files are opened by ranges (a file handle):
 * the header-level index first, tensors only when a command reads them, so
 * files of any size (over 2 GiB included) are handled in bounded memory.
 */
import type { HostTensors } from '../io/hostTensor';
import { detectNaming } from '../io/stateDict';
import { type WeightsIndex, openWeights } from '../io/weightsIndex';
import { fileSource } from '../io/fileSource';
import { CliError } from './args';

/** A weights file opened by ranges, with its format in words. */
export interface OpenedWeights {
  /** `safetensors` or `PyTorch checkpoint (zip, state dict under 'model')`. */
  format: string;
  /** Names, dtypes, shapes and metadata; tensors read on demand. */
  index: WeightsIndex;
  /** Parser notes (conversions, ignored checkpoint entries). */
  notes: string[];
  /** The safetensors `__metadata__` (the stored model config, a recipe, ...); `{}` for a `.pth`. */
  metadata: Record<string, string>;
}

/**
 * Opens a weights file by ranges, detecting its format from its first
 * bytes, runs `use`, and closes the file (also on error).
 */
export async function withWeightsFile<T>(path: string, use: (file: OpenedWeights) => Promise<T>): Promise<T> {
  let source;
  try {
    source = await fileSource(path);
  } catch (e) {
    throw new CliError(e instanceof Error ? e.message.replace('expected a file', 'expected a .pth or .safetensors file') : String(e));
  }
  try {
    const index = await openWeights(source);
    const format =
      index.format === 'safetensors'
        ? 'safetensors'
        : `PyTorch checkpoint (zip, ${index.wrapper === 'none' ? 'a bare state dict' : `state dict under '${index.wrapper}'`})`;
    return await use({ format, index, notes: index.warnings, metadata: index.metadata });
  } finally {
    await source.close?.();
  }
}

/** A weights file as read whole: its format (for humans), tensors, metadata and parser notes. */
export interface LoadedWeights {
  format: string;
  tensors: HostTensors;
  metadata: Record<string, string>;
  notes: string[];
}

/** Reads every tensor of a weights file (read by ranges: one buffer per tensor, no whole-file copy). */
export async function loadWeightsFile(path: string): Promise<LoadedWeights> {
  return withWeightsFile(path, async ({ format, index, notes }) => {
    const tensors: HostTensors = new Map();
    for (const name of index.tensors.keys()) tensors.set(name, await index.read(name));
    return { format, tensors, metadata: index.metadata, notes };
  });
}

/** `'hf'` when the names are HuggingFace's. */
export const namingOf = (names: Iterable<string>): 'official' | 'hf' => detectNaming([...names]);

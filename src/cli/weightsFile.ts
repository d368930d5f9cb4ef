/**
 * Reading a weights file for the commands: the one place the CLI opens a
 * `.pth` or safetensors file, so the bounded-memory reader can replace it.
 */
import { readFile, stat } from 'node:fs/promises';
import type { HostTensors } from '../io/hostTensor';
import { parseWeights } from '../io/releases';
import { detectNaming } from '../io/stateDict';
import { CliError } from './args';

/** A weights file as read: its format (for humans), tensors, parser notes and safetensors metadata. */
export interface LoadedWeights {
  format: string;
  tensors: HostTensors;
  notes: string[];
  /** The safetensors `__metadata__` (`{}` for a .pth). */
  metadata: Record<string, string>;
}

/** Reads a weights file, detecting its format from its first bytes. */
export async function loadWeightsFile(path: string): Promise<LoadedWeights> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new CliError(`cannot read ${JSON.stringify(path)}: no such file`);
  }
  if (info.isDirectory()) throw new CliError(`${JSON.stringify(path)} is a folder; expected a .pth or .safetensors file`);
  const bytes = new Uint8Array(await readFile(path));
  const file = parseWeights(bytes);
  const format =
    file.format === 'safetensors'
      ? 'safetensors'
      : `PyTorch checkpoint (zip, ${file.wrapper === 'none' ? 'a bare state dict' : `state dict under '${file.wrapper}'`})`;
  return { format, tensors: file.tensors, notes: file.warnings, metadata: file.metadata };
}

/** `'hf'` when the names are HuggingFace's. */
export const namingOf = (names: Iterable<string>): 'official' | 'hf' => detectNaming([...names]);

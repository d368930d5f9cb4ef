/** Shared by the CLI tests: run `main` collecting lines, and a tiny MAE weights file with its config. */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import { main } from '../../src/cli/main';
import { weightsMetadata } from '../../src/io/modelConfig';
import { writeSafetensors } from '../../src/io/safetensors';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';

/** Runs the CLI in-process; `out`/`err` are its lines. */
export async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(...l.split('\n')) });
  return { code, out, err };
}

/** A 16 px, patch 4, 32-wide, 1-block MAE (seeded). */
export const TINY_MAE = { imgSize: 16, patchSize: 4, inChans: 3, embedDim: 32, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 };

/** Writes the weights of a seeded {@link TINY_MAE} with its config to `file`; `keep` filters the tensors (and drops the config). */
export async function writeTinyWeights(file: string, seed: number, keep?: (name: string) => boolean): Promise<void> {
  const mae = new MaskedAutoencoder({ ...TINY_MAE, seed });
  const dict = mae.stateDict();
  const kept = keep ? Object.fromEntries(Object.entries(dict).filter(([n]) => keep(n))) : dict;
  fs.writeFileSync(file, await writeSafetensors(kept, keep ? { format: 'pt' } : weightsMetadata(mae)));
  tf.dispose(Object.values(dict));
  mae.dispose();
}

/**
 * The flags every command that reads `--weights` shares, and the model they
 * give (through {@link loadModel}, the one place that decides it).
 */
import { UsageError, flag } from './args';
import type { CliIO } from './command';
import { loadModel, type LoadModelOptions, type LoadedModel } from './model';

/** `--weights` and the hints for what a file's shapes cannot tell. */
export const weightsFlags = {
  weights: flag.string({ metavar: 'FILE', help: 'a .pth or .safetensors file (ours with its stored config, official or HF names); required' }),
  heads: flag.integer({ min: 1, help: "encoder heads, when the file stores no config (default: the official preset's for its width)" }),
  decoderHeads: flag.integer({ min: 1, help: 'decoder heads, when the file stores no config (default: 16)' }),
  normPix: flag.boolean({ help: 'the file was trained with norm_pix_loss, when it stores no config' }),
};

/** Loads the model of `--weights`, printing what was inferred. */
export async function modelFromFlags(
  command: string,
  f: { weights?: string; heads?: number; decoderHeads?: number; normPix: boolean },
  io: CliIO,
  imgSize?: number,
  kinds?: LoadModelOptions['kinds'],
): Promise<LoadedModel> {
  if (f.weights === undefined) {
    throw new UsageError(`${command} needs --weights FILE (see tfjs-mae ${command} --help)`);
  }
  const loaded = await loadModel(f.weights, { numHeads: f.heads, decoderNumHeads: f.decoderHeads, normPixLoss: f.normPix || undefined, imgSize, kinds });
  for (const note of loaded.notes) io.out(`note: ${note}`);
  return loaded;
}

/**
 * The normalisation the weights were trained with (`recipe` metadata of our
 * files), with the evaluation transform's `cropPct` when the recipe has one;
 * else undefined.
 */
export function trainedNormalisation(loaded: LoadedModel): { mean: number[]; std: number[]; cropPct?: number } | undefined {
  try {
    const recipe = JSON.parse(loaded.metadata.recipe ?? '') as { mean?: unknown; std?: unknown; cropPct?: unknown };
    const ok = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
    if (!ok(recipe.mean) || !ok(recipe.std)) return undefined;
    const cropPct = typeof recipe.cropPct === 'number' && recipe.cropPct > 0 && recipe.cropPct <= 1 ? recipe.cropPct : undefined;
    return { mean: recipe.mean, std: recipe.std, ...(cropPct === undefined ? {} : { cropPct }) };
  } catch {
    return undefined;
  }
}

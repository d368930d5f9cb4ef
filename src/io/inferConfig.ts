/**
 * The model configuration a state dict implies: every size can be read from
 * the tensor shapes except the head counts (and `normPixLoss`), which come
 * from the official presets' conventions or from the caller.
 */
import { CheckpointError } from '../errors';
import type { MaskedAutoencoderArgs } from '../model/MaskedAutoencoder';

/** Heads of the official and common ViT widths (timm conventions). */
const HEADS_BY_WIDTH: Record<number, number> = { 192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16 };

/** What a state dict holds. */
export interface InferredConfig {
  /** `'mae'`: encoder and decoder; `'encoder'`: an encoder only (e.g. `mae_pretrain_*`); `'classifier'`: a fine-tuned ViT (`head.*`). */
  kind: 'mae' | 'encoder' | 'classifier';
  /** The constructor arguments the shapes imply (plus `numClasses` / `globalPool` for a classifier). */
  config: MaskedAutoencoderArgs & {
    /** Classes of the `head` (classifiers only). */
    numClasses?: number;
    /** `true` when the file has `fc_norm.*` (average pooling of the patch tokens; classifiers only). */
    globalPool?: boolean;
  };
}

/** Hints for what shapes cannot tell. */
export interface InferHints {
  /** Encoder heads. Defaults to the official preset of that width, else `embedDim / 64`. */
  numHeads?: number;
  /** Decoder heads. Defaults to 16 (every official preset). */
  decoderNumHeads?: number;
  /** Defaults to `false`. */
  normPixLoss?: boolean;
}

/**
 * Infers the configuration from official-named shapes.
 *
 * @param shapes official name → torch shape
 */
export function inferConfig(shapes: Map<string, number[]>, hints: InferHints = {}): InferredConfig {
  const need = (name: string, rank: number): number[] => {
    const s = shapes.get(name);
    if (!s) throw new CheckpointError(`cannot infer the model: ${name} is missing (official names expected)`);
    if (s.length !== rank) throw new CheckpointError(`cannot infer the model: ${name} has shape [${s}], expected rank ${rank}`);
    return s;
  };
  const [embedDim, inChans, patchSize] = need('patch_embed.proj.weight', 4);
  const pos = need('pos_embed', 3);
  const grid = Math.round(Math.sqrt(pos[1] - 1));
  if (grid * grid !== pos[1] - 1) throw new CheckpointError(`cannot infer the image size: pos_embed has ${pos[1] - 1} patch rows, not a square grid`);
  const count = (prefix: string): number => {
    let max = -1;
    for (const n of shapes.keys()) {
      const m = new RegExp(`^${prefix}\\.(\\d+)\\.`).exec(n);
      if (m) max = Math.max(max, Number(m[1]));
    }
    return max + 1;
  };
  const depth = count('blocks');
  if (depth < 1) throw new CheckpointError('cannot infer the model: no blocks.<i>.* tensors');
  const mlpRatio = need('blocks.0.mlp.fc1.weight', 2)[0] / embedDim;
  const numHeads = hints.numHeads ?? HEADS_BY_WIDTH[embedDim] ?? embedDim / 64;
  if (!Number.isInteger(numHeads) || numHeads < 1) {
    throw new CheckpointError(`cannot infer the number of heads for width ${embedDim}; give it (numHeads / --heads)`);
  }
  const config: InferredConfig['config'] = {
    imgSize: grid * patchSize, patchSize, inChans, embedDim, depth, numHeads, mlpRatio,
    normPixLoss: hints.normPixLoss ?? false, layerNormEps: 1e-6,
  };
  if (shapes.has('head.weight')) {
    return { kind: 'classifier', config: { ...config, numClasses: need('head.weight', 2)[0], globalPool: shapes.has('fc_norm.weight') } };
  }
  if (!shapes.has('decoder_embed.weight')) return { kind: 'encoder', config };
  const decoderEmbedDim = need('decoder_embed.weight', 2)[0];
  return {
    kind: 'mae',
    config: { ...config, decoderEmbedDim, decoderDepth: count('decoder_blocks'), decoderNumHeads: hints.decoderNumHeads ?? 16 },
  };
}

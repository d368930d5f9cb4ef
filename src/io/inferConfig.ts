/**
 * The model configuration a state dict implies: every size can be read from
 * the tensor shapes except the head counts (and `normPixLoss`), which come
 * from the official presets or from the caller. Nothing is guessed: a width
 * no official preset has needs its head count given.
 */
import { CheckpointError, describe } from '../errors';
import type { MaskedAutoencoderArgs } from '../model/MaskedAutoencoder';

/** Encoder heads of the official widths (ViT-B 768 → 12, ViT-L 1024 → 16, ViT-H 1280 → 16; timm's ViT-Ti 192 → 3, ViT-S 384 → 6). */
export const HEADS_BY_WIDTH: Readonly<Record<number, number>> = { 192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16 };

/** Decoder heads of the official decoder width (`*_dec512d8b`: 512 wide, 16 heads). */
export const DECODER_HEADS_BY_WIDTH: Readonly<Record<number, number>> = { 512: 16 };

/** What a state dict holds. */
export interface InferredConfig {
  /** `'mae'`: encoder and decoder; `'encoder'`: an encoder only (e.g. `mae_pretrain_*`); `'classifier'`: a fine-tuned ViT (`head.*`). */
  kind: 'mae' | 'encoder' | 'classifier';
  /** The constructor arguments the shapes imply (plus the classifier's own for a classifier). */
  config: MaskedAutoencoderArgs & {
    /** Classes of the `head` (classifiers only). */
    numClasses?: number;
    /** `true` when the file has `fc_norm.*` (average pooling of the patch tokens; classifiers only). */
    globalPool?: boolean;
    /** `'linprobe'` for a `main_linprobe.py` head (`head.0` batch norm, `head.1` Linear), else `'linear'` (classifiers only). */
    head?: 'linear' | 'linprobe';
    /** Whether the qkv projections have a bias (classifiers only). */
    qkvBias?: boolean;
  };
  /** What was taken from a preset or a default rather than read, one line each (e.g. `numHeads 12: the official preset of width 768`). */
  notes: string[];
}

/** Hints for what shapes cannot tell. */
export interface InferHints {
  /** Encoder heads. Defaults to the official preset of that width ({@link HEADS_BY_WIDTH}); required for any other width. */
  numHeads?: number;
  /** Decoder heads. Defaults to 16 for the official 512-wide decoder; required for any other width. */
  decoderNumHeads?: number;
  /** Per-patch normalised targets. Defaults to `false` (a file's shapes cannot tell). */
  normPixLoss?: boolean;
}

/** Where the shapes came from and how the caller passes hints, for messages. */
export interface InferContext {
  /** The file (path or URL) the shapes came from. Defaults to `'the state dict'`. */
  file?: string;
  /** How the caller names each hint, e.g. `{ numHeads: '--heads N' }`. Defaults to the option names (`hints.numHeads`). */
  hintNames?: Partial<Record<keyof InferHints, string>>;
}

function headsFor(width: number, given: number | undefined, table: Readonly<Record<number, number>>, field: keyof InferHints, what: string, ctx: InferContext): { heads: number; note?: string } {
  const file = ctx.file ?? 'the state dict';
  const how = ctx.hintNames?.[field] ?? `hints.${field}`;
  if (given !== undefined) {
    if (!Number.isInteger(given) || given < 1 || width % given !== 0) {
      throw new CheckpointError(`${file}: ${field} must be a positive integer dividing the ${what} width ${width}, got ${describe(given)} (${how})`);
    }
    return { heads: given };
  }
  const preset = table[width];
  if (preset === undefined) {
    const known = Object.entries(table).map(([w, h]) => `${w} → ${h}`).join(', ');
    throw new CheckpointError(
      `${file}: cannot infer ${field}: the ${what} is ${width} wide, which no official preset has (${known}), and the file stores no config; pass it (${how})`,
    );
  }
  return { heads: preset, note: `${field} ${preset}: the official preset of the ${what} width ${width}` };
}

/**
 * Infers the configuration from official-named shapes.
 *
 * @param shapes official name → torch shape
 * @throws CheckpointError naming the file, the field and the hint to pass when a head count cannot be inferred, or a shape is missing
 */
export function inferConfig(shapes: Map<string, number[]>, hints: InferHints = {}, context: InferContext = {}): InferredConfig {
  const file = context.file ?? 'the state dict';
  const need = (name: string, rank: number): number[] => {
    const s = shapes.get(name);
    if (!s) throw new CheckpointError(`${file}: cannot infer the model: ${name} is missing (official names expected)`);
    if (s.length !== rank) throw new CheckpointError(`${file}: cannot infer the model: ${name} has shape [${s}], expected rank ${rank}`);
    return s;
  };
  const [embedDim, inChans, patchSize] = need('patch_embed.proj.weight', 4);
  const pos = need('pos_embed', 3);
  const grid = Math.round(Math.sqrt(pos[1] - 1));
  if (grid * grid !== pos[1] - 1) throw new CheckpointError(`${file}: cannot infer the image size: pos_embed has ${pos[1] - 1} patch rows, not a square grid`);
  const count = (prefix: string): number => {
    let max = -1;
    for (const n of shapes.keys()) {
      const m = new RegExp(`^${prefix}\\.(\\d+)\\.`).exec(n);
      if (m) max = Math.max(max, Number(m[1]));
    }
    return max + 1;
  };
  const depth = count('blocks');
  if (depth < 1) throw new CheckpointError(`${file}: cannot infer the model: no blocks.<i>.* tensors`);
  const mlpRatio = need('blocks.0.mlp.fc1.weight', 2)[0] / embedDim;
  const encoderHeads = headsFor(embedDim, hints.numHeads, HEADS_BY_WIDTH, 'numHeads', 'encoder', context);
  const notes = encoderHeads.note ? [encoderHeads.note] : [];
  const config: InferredConfig['config'] = {
    imgSize: grid * patchSize, patchSize, inChans, embedDim, depth, numHeads: encoderHeads.heads, mlpRatio, layerNormEps: 1e-6,
  };
  notes.push('layerNormEps 1e-6: the official models (not stored in the weights)');
  const probeHead = shapes.get('head.1.weight');
  if (shapes.has('head.weight') || probeHead) {
    const numClasses = probeHead ? need('head.1.weight', 2)[0] : need('head.weight', 2)[0];
    const head = probeHead ? 'linprobe' : 'linear';
    const qkvBias = shapes.has('blocks.0.attn.qkv.bias');
    return { kind: 'classifier', config: { ...config, numClasses, globalPool: shapes.has('fc_norm.weight'), head, qkvBias }, notes };
  }
  if (!shapes.has('decoder_embed.weight')) return { kind: 'encoder', config, notes };
  const decoderEmbedDim = need('decoder_embed.weight', 2)[0];
  const decoderHeads = headsFor(decoderEmbedDim, hints.decoderNumHeads, DECODER_HEADS_BY_WIDTH, 'decoderNumHeads', 'decoder', context);
  if (decoderHeads.note) notes.push(decoderHeads.note);
  if (hints.normPixLoss === undefined) notes.push('normPixLoss false: not stored in the weights (pass it if the model was trained with it)');
  return {
    kind: 'mae',
    config: {
      ...config, decoderEmbedDim, decoderDepth: count('decoder_blocks'), decoderNumHeads: decoderHeads.heads, normPixLoss: hints.normPixLoss ?? false,
    },
    notes,
  };
}

/**
 * The ViT trunk that {@link ViTEncoder} (MAE pre-training) and
 * `ViTClassifier` (fine-tuning) share: patch embed, cls token, position
 * table, transformer blocks.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { serialization } from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { repeatToken } from '../nn/tokens';
import { divisible, flag, nonNegativeInt, positiveInt, positiveNumber, optionalSeed } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from '../nn/MAELayer';
import { TransformerBlock, type TransformerBlockArgs } from '../nn/TransformerBlock';
import { childSeed, normal, type Initializer } from '../nn/init';
import { PatchEmbed } from '../patch/PatchEmbed';
import type { ViTEncoder } from './ViTEncoder';

/** Arguments every ViT trunk takes; the subclass's own `...Args` documents its defaults of `embedDim`, `depth`, `numHeads`. */
export interface ViTBackboneArgs extends BaseLayerArgs {
  /** Image size, `n` or `[H, W]`. Defaults to `224`. */
  imgSize?: number | [number, number];
  /** Patch side p. Defaults to `16`. */
  patchSize?: number;
  /** Image channels C. Defaults to `3`. */
  inChans?: number;
  /** Token width D; divisible by `numHeads`. Defaults to the subclass's. */
  embedDim?: number;
  /** Number of transformer blocks. Defaults to the subclass's. */
  depth?: number;
  /** Attention heads. Defaults to the subclass's. */
  numHeads?: number;
  /** MLP hidden width = `Math.trunc(embedDim · mlpRatio)`. Defaults to `4`. */
  mlpRatio?: number;
  /** LayerNorm epsilon. Defaults to `1e-6` (the official factories). */
  layerNormEps?: number;
  /** Seed of the weight init. Defaults to a random init. */
  seed?: number;
  /**
   * Recompute each block in the backward pass (activation checkpointing,
   * `TransformerBlock`'s `recompute`): the gradient tape keeps one
   * `[N, T, D]` tensor per block instead of all its activations, for one
   * more forward pass of the blocks per step. Same values and gradients.
   * A call's own `recompute` option overrides it. Defaults to `false`.
   */
  recompute?: boolean;
}

/** What a subclass fixes about its trunk. */
export interface ViTTrunkSpec {
  /** Default token width D. */
  embedDim: number;
  /** Default number of blocks. */
  depth: number;
  /** Default number of heads. */
  numHeads: number;
  /** Whether `depth: 0` (no blocks) is accepted. */
  allowNoBlocks: boolean;
  /** Extra arguments of block `i` of `depth` (qkv bias, drop path, dropout). Defaults to none. */
  blockArgs?: (i: number, depth: number) => Partial<TransformerBlockArgs>;
}

/**
 * `[N, H, W, C]` → patch tokens `[N, L, D]` (+ position) → `[N, 1 + L, D]`
 * with the cls token, and the blocks to run on them. The image geometry
 * (`imgSize`, `patchSize`, `inChans`, `embedDim`) is the patch embedding's.
 *
 * Official names: `cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.<i>.*`.
 * Seeds: patch embed `childSeed(seed, 0)`, cls token 1, block i `10 + i`.
 */
export abstract class ViTBackbone extends MAELayer {
  /** Number of transformer blocks. */
  readonly depth: number;
  /** Attention heads per block. */
  readonly numHeads: number;
  /** MLP hidden width ratio of the blocks. */
  readonly mlpRatio: number;
  /** LayerNorm epsilon. */
  readonly layerNormEps: number;
  /** Seed of the weight init; `undefined` for a random init. */
  readonly seed?: number;
  /** Whether calls recompute each block in the backward pass unless they say otherwise. */
  readonly recompute: boolean;
  /** Patchify + linear map, `[N, H, W, C]` → `[N, L, D]` (official `patch_embed`). */
  readonly patchEmbed: PatchEmbed;
  /** The transformer blocks (official `blocks.i`). */
  readonly blocks: TransformerBlock[];
  /** `[1, 1, D]` class token (official `cls_token`); created on build. */
  clsToken!: LayerVariable;
  /**
   * `[1, 1 + L, D]` position table, cls row first (official `pos_embed`):
   * the fixed sin-cos table of {@link ViTEncoder}, learned in `ViTClassifier`; created on build.
   */
  posEmbed!: LayerVariable;

  protected constructor(args: ViTBackboneArgs, spec: ViTTrunkSpec) {
    super(args);
    this.seed = optionalSeed('seed', args.seed);
    this.recompute = flag('recompute', args.recompute ?? false);
    // validates imgSize, patchSize, inChans, embedDim (and their divisibility)
    this.patchEmbed = this.track(
      new PatchEmbed({
        deferBuild: true,
        imgSize: args.imgSize ?? 224,
        patchSize: args.patchSize ?? 16,
        inChans: args.inChans ?? 3,
        embedDim: args.embedDim ?? spec.embedDim,
        seed: childSeed(this.seed, 0),
      }),
    );
    this.depth = (spec.allowNoBlocks ? nonNegativeInt : positiveInt)('depth', args.depth ?? spec.depth);
    this.numHeads = positiveInt('numHeads', args.numHeads ?? spec.numHeads);
    this.mlpRatio = positiveNumber('mlpRatio', args.mlpRatio ?? 4);
    this.layerNormEps = positiveNumber('layerNormEps', args.layerNormEps ?? 1e-6);
    divisible('embedDim', this.embedDim, this.numHeads, 'numHeads must split it evenly');
    this.blocks = Array.from({ length: this.depth }, (_, i) =>
      this.track(
        new TransformerBlock({
          deferBuild: true,
          dim: this.embedDim,
          numHeads: this.numHeads,
          mlpRatio: this.mlpRatio,
          layerNormEps: this.layerNormEps,
          seed: childSeed(this.seed, 10 + i),
          ...spec.blockArgs?.(i, this.depth),
        }),
      ),
    );
  }

  /** `[H, W]`, the image size. */
  get imgSize(): [number, number] {
    return this.patchEmbed.imgSize;
  }

  /** Patch side p. */
  get patchSize(): number {
    return this.patchEmbed.patchSize;
  }

  /** Image channels C. */
  get inChans(): number {
    return this.patchEmbed.inChans;
  }

  /** Token width D. */
  get embedDim(): number {
    return this.patchEmbed.embedDim;
  }

  /** `[h, w]`, the patch grid. */
  get gridSize(): [number, number] {
    return this.patchEmbed.gridSize;
  }

  /** L, the number of patches. */
  get numPatches(): number {
    return this.patchEmbed.numPatches;
  }

  /** Creates `cls_token` (`N(0, .02²)`, seed 1), then `pos_embed` with `posInit`. */
  protected createTrunkWeights(posInit: Initializer, posTrainable: boolean): void {
    const d = this.embedDim;
    this.clsToken = this.weight('cls_token', [1, 1, d], normal(0.02, childSeed(this.seed, 1)));
    this.posEmbed = this.weight('pos_embed', [1, 1 + this.numPatches, d], posInit, posTrainable);
  }

  /** `[N, H, W, C]` → `[N, L, D]`: patch tokens plus their position embedding (added before masking). */
  embedPatches(imgs: tf.Tensor): tf.Tensor3D {
    this.ensureBuilt();
    const x = this.patchEmbed.checkImages(imgs);
    return tf.tidy(() => {
      const pos = tf.slice(this.posEmbed.read(), [0, 1, 0], [1, this.numPatches, this.embedDim]);
      return tf.add(this.patchEmbed.call(x), pos) as tf.Tensor3D;
    });
  }

  /** `[N, K, D]` → `[N, 1 + K, D]`: prepends `cls_token + pos_embed[:, :1]`. */
  prependCls(tokens: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, , d] = tokens.shape;
      const cls = tf.add(this.clsToken.read(), tf.slice(this.posEmbed.read(), [0, 0, 0], [1, 1, d]));
      return tf.concat([repeatToken(cls, n, 1), tokens], 1) as tf.Tensor3D;
    });
  }

  /** The trunk's weights in state-dict order: `cls_token`, `pos_embed`, `patch_embed.*`, `blocks.<i>.*`. */
  protected trunkEntries(prefix: string): StateEntry[] {
    this.ensureBuilt();
    return [
      { name: `${prefix}cls_token`, variable: this.clsToken, layout: { kind: 'same' } },
      { name: `${prefix}pos_embed`, variable: this.posEmbed, layout: { kind: 'same' } },
      ...this.patchEmbed.stateEntries(`${prefix}patch_embed.`),
      ...this.blocks.flatMap((b, i) => b.stateEntries(`${prefix}blocks.${i}.`)),
    ];
  }

  /** The layer config plus the trunk's: `imgSize`, `patchSize`, `inChans`, `embedDim` (the patch embedding's), `depth`, `numHeads`, `mlpRatio`, `layerNormEps`, `recompute`. */
  override getConfig(): serialization.ConfigDict {
    const { imgSize, patchSize, inChans, embedDim } = this.patchEmbed.getConfig();
    return {
      ...super.getConfig(),
      imgSize,
      patchSize,
      inChans,
      embedDim,
      depth: this.depth,
      numHeads: this.numHeads,
      mlpRatio: this.mlpRatio,
      layerNormEps: this.layerNormEps,
      recompute: this.recompute,
    };
  }
}

/** The MAE encoder: a ViT that sees only the visible patches (official `forward_encoder`). */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { divisible, maskRatio as checkRatio, optionalSeed } from '../util/validate';
import type { StateEntry } from '../nn/MAELayer';
import { LayerNorm } from '../nn/LayerNorm';
import { initWeight, zeros } from '../nn/init';
import { sincosTable } from '../patch/posEmbed';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import type { MaskingOptions, MaskingStrategy, MaskSample } from '../mask/strategy';
import { createMasking, maskingConfigOf, type MaskingSpec } from '../mask/registry';
import { maskSampleFromIdsKeep } from '../mask/idsKeep';
import { gatherTokens } from '../nn/ops';
import { patchify } from '../patch/patchify';
import { ViTBackbone, type ViTBackboneArgs } from './ViTBackbone';

/** Arguments of {@link ViTEncoder}; the names are the official constructor's, in camelCase. */
export interface ViTEncoderArgs extends ViTBackboneArgs {
  /** Token width D; divisible by `numHeads` and by 4 (sin-cos table). Defaults to `1024`. */
  embedDim?: number;
  /** Number of transformer blocks (0 allowed). Defaults to `24`. */
  depth?: number;
  /** Attention heads. Defaults to `16`. */
  numHeads?: number;
  /** Default mask ratio, `0 ≤ r < 1`. Defaults to `0.75`. */
  maskRatio?: number;
  /**
   * Which patches are removed: `'random'` (per-sample random, the MAE
   * default), `'block'` (BEiT block-wise), `'grid'` (keep one of every k×k),
   * a config `{ type, ...args }` or any `MaskingStrategy`. Survives
   * `getConfig` / `fromConfig` as `{ type, ...args }`. Defaults to `'random'`.
   */
  masking?: MaskingSpec;
}

/** Per-call options of {@link ViTEncoder.forward}. */
export interface EncoderOptions extends MaskingOptions {
  /**
   * `[N, K]` int32: keep exactly these patches (distinct, in `[0, L)`, any
   * order) instead of sampling; `maskRatio`, `noise`, `seed` and the masking
   * strategy are then not used. `idsRestore` is `argsort(idsKeep ++ the
   * remaining ids in patch order)`, computed on the device. Defaults to none.
   */
  idsKeep?: tf.Tensor;
  /** Return the output of every block (`[N, 1+lenKeep, D]` each). Defaults to `false`. */
  outputHiddenStates?: boolean;
  /** Return every block's attention maps (`[N, H, T, T]` each). Defaults to `false`. */
  outputAttentions?: boolean;
  /** Recompute each block in the backward pass (see {@link ViTBackboneArgs.recompute}). Defaults to the encoder's `recompute`. */
  recompute?: boolean;
}

/** What the encoder returns. The caller owns (and disposes) every tensor. */
export interface EncoderOutput extends MaskSample {
  /** `[N, 1 + lenKeep, D]`: the cls token, then the kept patches in `idsKeep` order, after the final norm. */
  latent: tf.Tensor3D;
  /** `depth` block outputs `[N, 1 + lenKeep, D]` (before the final norm), when `outputHiddenStates` was set. */
  hiddenStates?: tf.Tensor3D[];
  /** `depth` attention maps `[N, H, 1 + lenKeep, 1 + lenKeep]` (softmax rows), when `outputAttentions` was set. */
  attentions?: tf.Tensor4D[];
}

/**
 * Patch embed → + fixed sin-cos position embedding → masking → prepend the
 * cls token (with its own position slot) → blocks → final norm.
 * `[N, H, W, C]` → `latent [N, 1 + lenKeep, D]`.
 *
 * Official names: `cls_token`, `pos_embed` (frozen), `patch_embed.proj.*`,
 * `blocks.<i>.*`, `norm.*`.
 */
export class ViTEncoder extends ViTBackbone {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAEViTEncoder';
  /** Default mask ratio r of `forward` calls that do not pass one. */
  readonly maskRatio: number;
  /** The masking strategy (from `args.masking`). */
  readonly masking: MaskingStrategy;
  /** Final LayerNorm (official `norm`). */
  readonly norm: LayerNorm;

  constructor(args: ViTEncoderArgs = {}) {
    super(args, { embedDim: 1024, depth: 24, numHeads: 16, allowNoBlocks: true });
    this.maskRatio = checkRatio('maskRatio', args.maskRatio ?? 0.75);
    divisible('embedDim', this.embedDim, 4, 'the 2-D sin-cos position table');
    this.masking = createMasking(args.masking ?? 'random');
    // Fail early on a ratio the strategy cannot realise for this grid.
    this.masking.lenKeep(this.gridSize, this.maskRatio);
    this.norm = this.track(new LayerNorm({ deferBuild: true, dim: this.embedDim, eps: this.layerNormEps }));
    this.buildUnlessDeferred(args);
  }

  /** `cls_token`, then `pos_embed` as the fixed (not trained) 2-D sin-cos table. */
  protected override createWeights(): void {
    this.createTrunkWeights(zeros(), false);
    const [h, w] = this.gridSize;
    const d = this.embedDim;
    initWeight(this.posEmbed, () => tf.tensor(sincosTable(d, h, w, true), [1, 1 + h * w, d]));
  }

  /**
   * Runs the blocks and the final norm on `[N, T, D]` tokens (cls first):
   * `latent [N, T, D]`, plus per-block `hiddenStates` / `attentions` on request.
   */
  encodeTokens(tokens: tf.Tensor3D, options: EncoderOptions = {}): Pick<EncoderOutput, 'latent' | 'hiddenStates' | 'attentions'> {
    const hiddenStates: tf.Tensor3D[] = [];
    const attentions: tf.Tensor4D[] = [];
    const recompute = options.recompute ?? this.recompute;
    let latent: tf.Tensor3D;
    try {
      latent = tf.tidy(() => {
        let x: tf.Tensor = tokens;
        for (const block of this.blocks) {
          x = block.call(x, { recompute, ...(options.outputAttentions ? { attnOut: attentions } : {}) });
          if (options.outputHiddenStates) hiddenStates.push(tf.keep(x) as tf.Tensor3D);
        }
        return this.norm.call(x) as tf.Tensor3D;
      });
    } catch (err) {
      tf.dispose([...hiddenStates, ...attentions]); // kept outside the tidy
      throw err;
    }
    return {
      latent,
      ...(options.outputHiddenStates ? { hiddenStates } : {}),
      ...(options.outputAttentions ? { attentions } : {}),
    };
  }

  /**
   * Chooses the kept patches: `options.idsKeep` when given, otherwise the
   * masking strategy with `options.maskRatio ?? this.maskRatio`.
   *
   * @param n batch size N
   * @returns `idsKeep [N, lenKeep]`, `idsRestore [N, L]`, `mask [N, L]`
   */
  sampleMask(n: number, options: EncoderOptions = {}): MaskSample {
    if (options.idsKeep !== undefined) {
      if (options.noise !== undefined) {
        throw new MAEConfigError('pass either idsKeep or noise, not both: idsKeep already chooses the kept patches');
      }
      const ids = options.idsKeep;
      if (ids instanceof tf.Tensor && ids.rank === 2 && ids.shape[0] !== n) {
        throw new MAEInputError(`idsKeep must have N = ${n} rows (the batch), got shape ${describe(ids.shape)}`);
      }
      return maskSampleFromIdsKeep(ids, this.numPatches);
    }
    const { idsKeep: _unused, ...rest } = options;
    void _unused;
    return this.masking.sample(n, this.gridSize, { ...rest, maskRatio: options.maskRatio ?? this.maskRatio });
  }

  /**
   * The masked forward pass.
   *
   * @param imgs `[N, H, W, C]` float32
   * @param options `maskRatio` (0 = no masking), `noise` / `seed`, or explicit `idsKeep`;
   *   `outputHiddenStates`, `outputAttentions`
   * @returns `latent [N, 1 + lenKeep, D]`, `mask [N, L]`, `idsRestore [N, L]`, `idsKeep [N, lenKeep]`
   */
  forward(imgs: tf.Tensor, options: EncoderOptions = {}): EncoderOutput {
    this.ensureBuilt();
    const x = this.patchEmbed.checkImages(imgs); // [N, H, W, C]
    optionalSeed('seed', options.seed);
    const sample = this.sampleMask(x.shape[0], options);
    try {
      const visible = this.embedKept(x, sample); // [N, lenKeep, D]
      const withCls = this.prependCls(visible); // [N, 1 + lenKeep, D]
      visible.dispose();
      try {
        return { ...this.encodeTokens(withCls, options), ...sample };
      } finally {
        withCls.dispose();
      }
    } catch (err) {
      tf.dispose([sample.idsKeep, sample.idsRestore, sample.mask]);
      throw err;
    }
  }

  /**
   * The kept patches' tokens: `[N, H, W, C]` → `[N, lenKeep, D]`, the rows
   * `idsKeep` of {@link ViTBackbone.embedPatches}. The patches are taken
   * before the projection, so only the kept ones are embedded (the official
   * code embeds all L and then drops 75 %). `pos_embed` is frozen here, so
   * its rows are taken without a gradient.
   */
  private embedKept(imgs: tf.Tensor4D, sample: MaskSample): tf.Tensor3D {
    return tf.tidy(() => {
      const [l, d] = [this.numPatches, this.embedDim];
      const patches = gatherTokens(patchify(imgs, this.patchSize), sample.idsKeep, sample.idsRestore); // [N, K, p·p·C]
      const table = tf.reshape(tf.slice(this.posEmbed.read(), [0, 1, 0], [1, l, d]), [l, d]);
      const pos = tf.gatherND(table, tf.expandDims(sample.idsKeep, -1)); // [N, K, D]
      return tf.add(this.patchEmbed.embed(patches), pos) as tf.Tensor3D;
    });
  }

  /**
   * All patches, no masking, patch order: `[N, H, W, C]` → `[N, 1 + L, D]`
   * (the official `forward_features` of a pre-trained encoder).
   */
  forwardFeatures(imgs: tf.Tensor): tf.Tensor3D {
    const out = this.forward(imgs, { maskRatio: 0 });
    tf.dispose([out.mask, out.idsRestore, out.idsKeep]);
    return out.latent;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: EncoderOptions = {}): tf.Tensor[] {
    const out = this.forward(Array.isArray(inputs) ? inputs[0] : inputs, kwargs);
    return [out.latent, out.mask, out.idsRestore, out.idsKeep];
  }

  stateEntries(prefix = ''): StateEntry[] {
    return [...this.trunkEntries(prefix), ...this.norm.stateEntries(`${prefix}norm.`)];
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      maskRatio: this.maskRatio,
      masking: maskingConfigOf(this.masking),
      seed: this.seed ?? null,
    };
  }
}
serialization.registerClass(ViTEncoder);

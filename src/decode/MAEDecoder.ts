/** The lightweight MAE decoder (official `forward_decoder`). */
import * as tf from '@tensorflow/tfjs-core';
import { repeatToken } from '../nn/tokens';
import { serialization } from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { MAEInputError, describe } from '../errors';
import { divisible, flag, nonNegativeInt, pair, positiveInt, positiveNumber, tensorOfRank, optionalSeed } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from '../nn/MAELayer';
import { LayerNorm } from '../nn/LayerNorm';
import { Linear } from '../nn/Linear';
import { TransformerBlock, type BlockCallArgs } from '../nn/TransformerBlock';
import { childSeed, initWeight, normal, zeros } from '../nn/init';
import { argsortRows, gatherTokens } from '../nn/ops';
import type { TokenRows } from '../nn/tokens';
import { sincosTable } from '../patch/posEmbed';

/** Arguments of {@link MAEDecoder}. */
export interface MAEDecoderArgs extends BaseLayerArgs {
  /** The patch grid `[h, w]` (or `n` for n×n). Required. */
  gridSize: number | [number, number];
  /** Patch side p (the head predicts p·p·C values per patch). Required. */
  patchSize: number;
  /** Image channels C. Defaults to `3`. */
  inChans?: number;
  /** Width D of the encoder output. Required. */
  embedDim: number;
  /** Decoder width Dd; divisible by `decoderNumHeads` and by 4. Defaults to `512`. */
  decoderEmbedDim?: number;
  /** Decoder blocks. Defaults to `8`. */
  decoderDepth?: number;
  /** Decoder attention heads. Defaults to `16`. */
  decoderNumHeads?: number;
  /** MLP hidden width = `Math.trunc(Dd · mlpRatio)`. Defaults to `4`. */
  mlpRatio?: number;
  /** LayerNorm epsilon. Defaults to `1e-6`. */
  layerNormEps?: number;
  /** Seed of the weight init. Defaults to a random init. */
  seed?: number;
  /**
   * Recompute each decoder block in the backward pass (activation
   * checkpointing, `TransformerBlock`'s `recompute`): the gradient tape keeps
   * one `[N, 1 + L, Dd]` tensor per block instead of all its activations,
   * for one more forward pass of the blocks per step. Same values and
   * gradients. A call's own `recompute` option overrides it. Defaults to `false`.
   */
  recompute?: boolean;
}

/** Per-call options of {@link MAEDecoder.forwardMasked}. */
export interface RecomputeOption {
  /** Recompute each block in the backward pass (see {@link MAEDecoderArgs.recompute}). Defaults to the decoder's `recompute`. */
  recompute?: boolean;
}

/** Per-call options of {@link MAEDecoder.forward}. */
export interface DecoderOptions extends RecomputeOption {
  /** Return each block's output (`[N, 1+L, Dd]`). Defaults to `false`. */
  outputHiddenStates?: boolean;
  /** Return each block's attention maps (`[N, H, 1+L, 1+L]`). Defaults to `false`. */
  outputAttentions?: boolean;
}

/** What the decoder returns. The caller owns every tensor. */
export interface DecoderOutput {
  /** `[N, L, p·p·C]`: predicted pixels per patch, patch order, cls row dropped. */
  pred: tf.Tensor3D;
  /** `decoderDepth` block outputs `[N, 1 + L, Dd]` (before the final norm), when `outputHiddenStates` was set. */
  hiddenStates?: tf.Tensor3D[];
  /** `decoderDepth` attention maps `[N, Hd, 1 + L, 1 + L]` (softmax rows), when `outputAttentions` was set. */
  attentions?: tf.Tensor4D[];
}

/** What {@link removedPatchRows} returns. */
export interface RemovedPatchRows {
  /** `ids [N, L − K]` (the removed patches' rows, +1 for the cls row) and `inverse [N, 1 + L]`. */
  rows: TokenRows;
  /** `[N, L − K]` int32: the patch index of each row, `idsShuffle[:, K:]`. */
  idsMasked: tf.Tensor2D;
}

/** What {@link MAEDecoder.forwardMasked} returns. */
export interface MaskedPrediction {
  /** `[N, L − lenKeep, p·p·C]`: the pixels predicted for the removed patches, row j for patch `idsMasked[n, j]`. */
  pred: tf.Tensor3D;
  /** `[N, L − lenKeep]` int32: the removed patches in shuffle order (`idsShuffle[:, lenKeep:]`). */
  idsMasked: tf.Tensor2D;
}

/**
 * The rows of a decoder sequence `[N, 1 + L, ·]` (cls first, patches in
 * patch order) that hold the removed patches, as the {@link TokenRows} that
 * `TransformerBlock`'s `queryRows` takes.
 *
 * @param idsRestore `[N, L]` int32, from the masking
 * @param lenKeep K, the kept patches per sample (`K < L`)
 * @returns `rows` (`ids [N, L − K]`, `inverse [N, 1 + L]`) and `idsMasked [N, L − K]`,
 *   the patch index of each row: the removed patches in shuffle order (`idsShuffle[:, K:]`)
 */
export function removedPatchRows(idsRestore: tf.Tensor2D, lenKeep: number): RemovedPatchRows {
  return tf.tidy(() => {
    const [n, l] = idsRestore.shape;
    const idsShuffle = argsortRows(idsRestore); // [N, L]
    const idsMasked = tf.slice(idsShuffle, [0, lenKeep], [n, l - lenKeep]);
    // the removed patches first, then cls and the kept ones; +1 skips the cls row
    const one = tf.scalar(1, 'int32');
    const order = tf.concat(
      [tf.add(idsMasked, one), tf.zeros([n, 1], 'int32'), tf.add(tf.slice(idsShuffle, [0, 0], [n, lenKeep]), one)],
      1,
    ) as tf.Tensor2D;
    return { rows: { ids: tf.slice(order, [0, 0], [n, l - lenKeep]), inverse: argsortRows(order) }, idsMasked };
  });
}

/**
 * Embeds the encoder output to Dd, appends one `mask_token` per removed
 * patch, unshuffles with `idsRestore`, adds the fixed sin-cos decoder position
 * embedding, runs its blocks, a norm and a linear head to p·p·C, and drops the
 * cls row.
 *
 * Takes any encoder output `[N, 1 + lenKeep, D]` (cls first) with its
 * `idsRestore [N, L]`.
 *
 * Official names: `mask_token`, `decoder_pos_embed` (frozen),
 * `decoder_embed.*`, `decoder_blocks.<i>.*`, `decoder_norm.*`, `decoder_pred.*`.
 */
export class MAEDecoder extends MAELayer {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAEDecoder';
  /** The patch grid `[h, w]`; L = h·w. */
  readonly gridSize: [number, number];
  /** Patch side p. */
  readonly patchSize: number;
  /** Image channels C. */
  readonly inChans: number;
  /** Width D of the encoder output. */
  readonly embedDim: number;
  /** Decoder width Dd. */
  readonly decoderEmbedDim: number;
  /** Decoder blocks. */
  readonly decoderDepth: number;
  /** Decoder attention heads. */
  readonly decoderNumHeads: number;
  /** MLP hidden width ratio of the decoder blocks. */
  readonly mlpRatio: number;
  /** LayerNorm epsilon. */
  readonly layerNormEps: number;
  /** Seed of the weight init; `undefined` for a random init. */
  readonly seed?: number;
  /** Whether calls recompute each block in the backward pass unless they say otherwise. */
  readonly recompute: boolean;
  /** D → Dd (official `decoder_embed`). */
  readonly decoderEmbed: Linear;
  /** The decoder blocks (official `decoder_blocks.i`). */
  readonly decoderBlocks: TransformerBlock[];
  /** Final LayerNorm (official `decoder_norm`). */
  readonly decoderNorm: LayerNorm;
  /** Dd → p·p·C, the pixel head (official `decoder_pred`). */
  readonly decoderPred: Linear;
  /** `[1, 1, Dd]` learned token put in place of every removed patch (official `mask_token`); created on build. */
  maskToken!: LayerVariable;
  /** `[1, 1 + L, Dd]` fixed 2-D sin-cos table, cls row first (official `decoder_pos_embed`, not trained); created on build. */
  decoderPosEmbed!: LayerVariable;

  constructor(args: MAEDecoderArgs) {
    super(args);
    this.gridSize = pair('gridSize', args.gridSize);
    this.patchSize = positiveInt('patchSize', args.patchSize);
    this.inChans = positiveInt('inChans', args.inChans ?? 3);
    this.embedDim = positiveInt('embedDim', args.embedDim);
    this.decoderEmbedDim = positiveInt('decoderEmbedDim', args.decoderEmbedDim ?? 512);
    this.decoderDepth = nonNegativeInt('decoderDepth', args.decoderDepth ?? 8);
    this.decoderNumHeads = positiveInt('decoderNumHeads', args.decoderNumHeads ?? 16);
    this.mlpRatio = positiveNumber('mlpRatio', args.mlpRatio ?? 4);
    this.layerNormEps = positiveNumber('layerNormEps', args.layerNormEps ?? 1e-6);
    this.seed = optionalSeed('seed', args.seed);
    this.recompute = flag('recompute', args.recompute ?? false);
    const dd = this.decoderEmbedDim;
    divisible('decoderEmbedDim', dd, this.decoderNumHeads, 'decoderNumHeads must split it evenly');
    divisible('decoderEmbedDim', dd, 4, 'the 2-D sin-cos position table');
    this.decoderEmbed = this.track(new Linear({ deferBuild: true, inFeatures: this.embedDim, units: dd, seed: childSeed(this.seed, 0) }));
    this.decoderBlocks = Array.from({ length: this.decoderDepth }, (_, i) =>
      this.track(
        new TransformerBlock({
        deferBuild: true,
          dim: dd,
          numHeads: this.decoderNumHeads,
          mlpRatio: this.mlpRatio,
          layerNormEps: this.layerNormEps,
          seed: childSeed(this.seed, 10 + i),
        }),
      ),
    );
    this.decoderNorm = this.track(new LayerNorm({ deferBuild: true, dim: dd, eps: this.layerNormEps }));
    const out = this.patchSize * this.patchSize * this.inChans;
    this.decoderPred = this.track(new Linear({ deferBuild: true, inFeatures: dd, units: out, seed: childSeed(this.seed, 1) }));
    this.buildUnlessDeferred(args);
  }

  /** L, the number of patches. */
  get numPatches(): number {
    return this.gridSize[0] * this.gridSize[1];
  }

  protected override createWeights(): void {
    const [h, w] = this.gridSize;
    const dd = this.decoderEmbedDim;
    this.maskToken = this.weight('mask_token', [1, 1, dd], normal(0.02, childSeed(this.seed, 2)));
    this.decoderPosEmbed = this.weight('decoder_pos_embed', [1, 1 + h * w, dd], zeros(), false);
    initWeight(this.decoderPosEmbed, () => tf.tensor(sincosTable(dd, h, w, true), [1, 1 + h * w, dd]));
  }

  /**
   * `[N, 1 + K, Dd]` → `[N, 1 + L, Dd]`: appends `L − K` mask tokens after the
   * kept tokens and puts the patches back in patch order (cls stays first).
   */
  insertMaskTokens(y: tf.Tensor3D, idsRestore: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, t, dd] = y.shape;
      const l = this.numPatches;
      const k = t - 1;
      const cls = tf.slice(y, [0, 0, 0], [n, 1, dd]);
      const kept = tf.slice(y, [0, 1, 0], [n, k, dd]);
      const shuffled = k < l ? tf.concat([kept, repeatToken(this.maskToken.read(), n, l - k)], 1) : kept;
      const idsShuffle = argsortRows(idsRestore);
      const unshuffled = gatherTokens(shuffled as tf.Tensor3D, idsRestore, idsShuffle); // [N, L, Dd]
      return tf.concat([cls, unshuffled], 1) as tf.Tensor3D;
    });
  }

  /**
   * @param latent `[N, 1 + lenKeep, D]` encoder output, cls first
   * @param idsRestore `[N, L]` int32
   * @returns `pred [N, L, p·p·C]`
   */
  forward(latent: tf.Tensor, idsRestore: tf.Tensor, options: DecoderOptions = {}): DecoderOutput {
    this.ensureBuilt();
    this.checkInputs(latent, idsRestore);
    const hiddenStates: tf.Tensor3D[] = [];
    const attentions: tf.Tensor4D[] = [];
    const callArgs: BlockCallArgs = { recompute: options.recompute ?? this.recompute, ...(options.outputAttentions ? { attnOut: attentions } : {}) };
    let pred: tf.Tensor3D;
    try {
      pred = tf.tidy(() => {
        let x: tf.Tensor = this.embedSequence(latent as tf.Tensor3D, idsRestore as tf.Tensor2D); // [N, 1 + L, Dd]
        for (const block of this.decoderBlocks) {
          x = block.call(x, callArgs);
          if (options.outputHiddenStates) hiddenStates.push(tf.keep(x) as tf.Tensor3D);
        }
        const out = this.decoderPred.call(this.decoderNorm.call(x)) as tf.Tensor3D; // [N, 1 + L, p·p·C]
        const [n, t, f] = out.shape;
        return tf.slice(out, [0, 1, 0], [n, t - 1, f]) as tf.Tensor3D; // drop cls
      });
    } catch (err) {
      tf.dispose([...hiddenStates, ...attentions]); // kept outside the tidy
      throw err;
    }
    return {
      pred,
      ...(options.outputHiddenStates ? { hiddenStates } : {}),
      ...(options.outputAttentions ? { attentions } : {}),
    };
  }

  /**
   * The prediction of the removed patches only: what the MAE loss reads.
   * The same numbers as the rows `idsMasked` of {@link MAEDecoder.forward}'s
   * `pred`, for less work: the last block computes its output for those rows
   * only (every row is still a key and a value of its attention), and so do
   * the final norm and the pixel head. At 75 % masking that skips a quarter
   * of the last block's projections and MLP.
   *
   * @param latent `[N, 1 + lenKeep, D]` encoder output, cls first
   * @param idsRestore `[N, L]` int32
   * @param options `recompute`
   * @returns `pred [N, L − lenKeep, p·p·C]` and `idsMasked [N, L − lenKeep]`
   *   int32, the patch index of each row (the removed patches in shuffle order)
   */
  forwardMasked(latent: tf.Tensor, idsRestore: tf.Tensor, options: RecomputeOption = {}): MaskedPrediction {
    this.ensureBuilt();
    this.checkInputs(latent, idsRestore);
    const l = this.numPatches;
    const k = (latent.shape[1] as number) - 1;
    if (k === l) {
      throw new MAEInputError(`latent keeps all ${l} patches (lenKeep = L), so there is no removed patch to predict`);
    }
    const recompute = options.recompute ?? this.recompute;
    return tf.tidy(() => {
      const { rows, idsMasked } = removedPatchRows(idsRestore as tf.Tensor2D, k);
      let x = this.embedSequence(latent as tf.Tensor3D, idsRestore as tf.Tensor2D); // [N, 1 + L, Dd]
      const blocks = this.decoderBlocks;
      blocks.slice(0, -1).forEach((block) => (x = block.call(x, { recompute }) as tf.Tensor3D));
      x = blocks.length > 0 ? (blocks[blocks.length - 1].call(x, { queryRows: rows, recompute }) as tf.Tensor3D) : gatherTokens(x, rows.ids, rows.inverse);
      const pred = this.decoderPred.call(this.decoderNorm.call(x)) as tf.Tensor3D; // [N, L − K, p·p·C]
      return { pred, idsMasked };
    });
  }

  /** The decoder's input sequence: `decoder_embed`, mask tokens, unshuffle, `+ decoder_pos_embed` → `[N, 1 + L, Dd]`. */
  private embedSequence(latent: tf.Tensor3D, idsRestore: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const y = this.decoderEmbed.call(latent) as tf.Tensor3D; // [N, 1 + K, Dd]
      return tf.add(this.insertMaskTokens(y, idsRestore), this.decoderPosEmbed.read()) as tf.Tensor3D;
    });
  }

  private checkInputs(latent: tf.Tensor, idsRestore: tf.Tensor): void {
    const l = this.numPatches;
    tensorOfRank('latent', latent, 3, '[N, 1 + lenKeep, D]');
    tensorOfRank('idsRestore', idsRestore, 2, '[N, L]');
    const [n, t, d] = latent.shape;
    if (d !== this.embedDim || t < 2 || t > l + 1) {
      throw new MAEInputError(`latent must have shape [N, 1 + lenKeep, ${this.embedDim}] with 1 ≤ lenKeep ≤ ${l}, got ${describe(latent.shape)}`);
    }
    if (idsRestore.shape[0] !== n || idsRestore.shape[1] !== l || idsRestore.dtype !== 'int32') {
      throw new MAEInputError(`idsRestore must be int32 [${n}, ${l}] ([N, L]), got ${idsRestore.dtype} ${describe(idsRestore.shape)}`);
    }
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new MAEInputError('MAEDecoder.apply expects [latent, idsRestore]');
    }
    return this.forward(inputs[0], inputs[1]).pred;
  }

  stateEntries(prefix = ''): StateEntry[] {
    this.ensureBuilt();
    return [
      { name: `${prefix}mask_token`, variable: this.maskToken, layout: { kind: 'same' } },
      { name: `${prefix}decoder_pos_embed`, variable: this.decoderPosEmbed, layout: { kind: 'same' } },
      ...this.decoderEmbed.stateEntries(`${prefix}decoder_embed.`),
      ...this.decoderBlocks.flatMap((b, i) => b.stateEntries(`${prefix}decoder_blocks.${i}.`)),
      ...this.decoderNorm.stateEntries(`${prefix}decoder_norm.`),
      ...this.decoderPred.stateEntries(`${prefix}decoder_pred.`),
    ];
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      gridSize: [...this.gridSize],
      patchSize: this.patchSize,
      inChans: this.inChans,
      embedDim: this.embedDim,
      decoderEmbedDim: this.decoderEmbedDim,
      decoderDepth: this.decoderDepth,
      decoderNumHeads: this.decoderNumHeads,
      mlpRatio: this.mlpRatio,
      layerNormEps: this.layerNormEps,
      seed: this.seed ?? null,
      recompute: this.recompute,
    };
  }
}
serialization.registerClass(MAEDecoder);

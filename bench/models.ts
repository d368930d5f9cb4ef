/**
 * The two benchmarked variants behind one small interface:
 *
 * - `mae`: the library's `MaskedAutoencoder` (encoder on the visible 25 %).
 * - `mask_tokens`: the paper's "encoder w/ [M]" baseline as
 *   `torch_ref/mae_ref.py` defines it (`encoder_mask_tokens=True`): the
 *   encoder runs on all L patches, the removed ones with their patch
 *   embedding replaced by a learned `encoder_mask_token` before the position
 *   embedding is added; the decoder gets the full sequence
 *   (decoder_embed → + decoder_pos_embed → blocks → norm → pred), with no
 *   decoder mask token and no unshuffle. Built here from the library's
 *   public layers only.
 *
 * Both compute the loss as `MaskedAutoencoder.loss` does: the last decoder
 * block, the norm and the pixel head run on the removed patches' rows only
 * (the rows the loss reads), so the two variants do the same decoder work.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  LayerNorm,
  Linear,
  MaskedAutoencoder,
  PatchEmbed,
  RandomMasking,
  TransformerBlock,
  maskedMSE,
  removedPatchRows,
  takeRows,
  patchTargets,
  sincosPosEmbed2d,
  trainableParams,
  type StateEntry,
} from '../src';
import type { NamedParam } from '../src/train/types';
import type { BenchConfig } from './configs';

/** The variants the benchmark compares. */
export type Variant = 'mae' | 'mask_tokens';

/** What a training step needs from a model. */
export interface TrainModel {
  /** Trainable parameters under their official names. */
  params: NamedParam[];
  /** Scalar loss of a batch `[N, H, W, C]` with a fresh random mask (ratio `maskRatio`). */
  loss(imgs: tf.Tensor4D): tf.Scalar;
  /** Releases every weight. */
  dispose(): void;
}

/** The library's MAE with the config's shapes. */
export function buildMae(cfg: BenchConfig, maskRatio: number, seed = 0, recompute = false): TrainModel & { model: MaskedAutoencoder } {
  const model = new MaskedAutoencoder({ ...cfg, maskRatio, seed, recompute });
  model.ensureBuilt();
  return {
    model,
    params: trainableParams(model.stateEntries()),
    loss: (imgs) => model.loss(imgs),
    dispose: () => void model.dispose(),
  };
}

/** The "encoder w/ [M]" baseline (see the file comment). `[N, H, W, C]` → scalar loss. */
export class MaskTokensMAE implements TrainModel {
  readonly params: NamedParam[];
  private readonly cfg: BenchConfig;
  private readonly maskRatio: number;
  /** Recompute every block in the backward pass. */
  private readonly recompute: boolean;
  private readonly patchEmbed: PatchEmbed;
  private readonly masking: RandomMasking;
  private readonly blocks: TransformerBlock[];
  private readonly norm: LayerNorm;
  private readonly decoderEmbed: Linear;
  private readonly decoderBlocks: TransformerBlock[];
  private readonly decoderNorm: LayerNorm;
  private readonly decoderPred: Linear;
  /** `[1, 1, D]` */
  private readonly clsToken: tf.Variable;
  /** `[1, 1, D]`, replaces the embedding of every removed patch. */
  private readonly encoderMaskToken: tf.Variable;
  /** `[1, 1 + L, D]`, frozen sin-cos, zero cls row. */
  private readonly posEmbed: tf.Tensor3D;
  /** `[1, 1 + L, Dd]`, frozen sin-cos, zero cls row. */
  private readonly decoderPosEmbed: tf.Tensor3D;

  constructor(cfg: BenchConfig, maskRatio: number, seed = 0, recompute = false) {
    this.cfg = cfg;
    this.maskRatio = maskRatio;
    this.recompute = recompute;
    const { imgSize, patchSize, inChans, embedDim: d, decoderEmbedDim: dd, mlpRatio } = cfg;
    const grid = imgSize / patchSize;
    const block = (dim: number, numHeads: number, i: number) =>
      new TransformerBlock({ dim, numHeads, mlpRatio, layerNormEps: 1e-6, seed: seed * 1000 + i });
    this.patchEmbed = new PatchEmbed({ imgSize, patchSize, inChans, embedDim: d, seed });
    this.masking = new RandomMasking({ maskRatio });
    this.blocks = Array.from({ length: cfg.depth }, (_, i) => block(d, cfg.numHeads, 10 + i));
    this.norm = new LayerNorm({ dim: d });
    this.decoderEmbed = new Linear({ inFeatures: d, units: dd, seed: seed + 1 });
    this.decoderBlocks = Array.from({ length: cfg.decoderDepth }, (_, i) => block(dd, cfg.decoderNumHeads, 100 + i));
    this.decoderNorm = new LayerNorm({ dim: dd });
    this.decoderPred = new Linear({ inFeatures: dd, units: patchSize * patchSize * inChans, seed: seed + 2 });
    this.clsToken = tf.tidy(() => tf.variable(tf.randomNormal([1, 1, d], 0, 0.02, 'float32', seed + 3)));
    this.encoderMaskToken = tf.tidy(() => tf.variable(tf.randomNormal([1, 1, d], 0, 0.02, 'float32', seed + 4)));
    this.posEmbed = tf.tidy(() => tf.expandDims(sincosPosEmbed2d(d, grid, grid, { clsToken: true }), 0));
    this.decoderPosEmbed = tf.tidy(() => tf.expandDims(sincosPosEmbed2d(dd, grid, grid, { clsToken: true }), 0));
    for (const layer of this.layers()) layer.ensureBuilt();
    const entries: StateEntry[] = [
      ...this.patchEmbed.stateEntries('patch_embed.'),
      ...this.blocks.flatMap((b, i) => b.stateEntries(`blocks.${i}.`)),
      ...this.norm.stateEntries('norm.'),
      ...this.decoderEmbed.stateEntries('decoder_embed.'),
      ...this.decoderBlocks.flatMap((b, i) => b.stateEntries(`decoder_blocks.${i}.`)),
      ...this.decoderNorm.stateEntries('decoder_norm.'),
      ...this.decoderPred.stateEntries('decoder_pred.'),
    ];
    this.params = [
      { name: 'cls_token', variable: this.clsToken },
      { name: 'encoder_mask_token', variable: this.encoderMaskToken },
      ...trainableParams(entries),
    ];
  }

  private layers() {
    return [
      this.patchEmbed, this.masking, ...this.blocks, this.norm,
      this.decoderEmbed, ...this.decoderBlocks, this.decoderNorm, this.decoderPred,
    ];
  }

  loss(imgs: tf.Tensor4D): tf.Scalar {
    return tf.tidy(() => {
      const n = imgs.shape[0];
      const d = this.cfg.embedDim;
      const l = this.patchEmbed.numPatches;
      const { mask, idsRestore, idsKeep } = this.masking.sample(n, l, { maskRatio: this.maskRatio }); // mask [N, L], 1 = removed
      const lenKeep = idsKeep.shape[1];
      const m = tf.expandDims(mask, -1); // [N, L, 1]
      // encoder on all L tokens: removed patches → encoder_mask_token, then + pos_embed
      let x: tf.Tensor = this.patchEmbed.call(imgs); // [N, L, D]
      x = tf.add(tf.mul(x, tf.sub(1, m)), tf.mul(this.encoderMaskToken, m));
      x = tf.add(x, tf.slice(this.posEmbed, [0, 1, 0], [1, l, d]));
      const cls = tf.add(this.clsToken, tf.slice(this.posEmbed, [0, 0, 0], [1, 1, d]));
      x = tf.concat([tf.broadcastTo(cls, [n, 1, d]), x], 1); // [N, 1 + L, D]
      const recompute = this.recompute;
      for (const b of this.blocks) x = b.call(x, { recompute });
      x = this.norm.call(x);
      // decoder on the full sequence; as in MaskedAutoencoder.loss, the last
      // block (and the norm and pixel head) computes the removed patches' rows only
      x = tf.add(this.decoderEmbed.call(x), this.decoderPosEmbed); // [N, 1 + L, Dd]
      const { rows, idsMasked } = removedPatchRows(idsRestore, lenKeep);
      this.decoderBlocks.forEach((b, i) => (x = b.call(x, i === this.decoderBlocks.length - 1 ? { queryRows: rows, recompute } : { recompute })));
      const pred = this.decoderPred.call(this.decoderNorm.call(x)); // [N, L − K, p·p·C]
      return maskedMSE(pred, takeRows(patchTargets(imgs, this.cfg.patchSize), idsMasked));
    });
  }

  dispose(): void {
    for (const layer of this.layers()) layer.dispose();
    tf.dispose([this.clsToken, this.encoderMaskToken, this.posEmbed, this.decoderPosEmbed]);
  }
}

/** Builds either variant; `recompute`: every block recomputed in the backward pass. */
export function buildVariant(variant: Variant, cfg: BenchConfig, maskRatio: number, seed = 0, recompute = false): TrainModel {
  return variant === 'mae' ? buildMae(cfg, maskRatio, seed, recompute) : new MaskTokensMAE(cfg, maskRatio, seed, recompute);
}

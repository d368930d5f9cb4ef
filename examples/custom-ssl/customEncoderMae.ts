/**
 * An MAE whose encoder is the user's own, assembled from tfjs-mae's public
 * blocks: a patchify + MLP stem instead of the ViT patch embedding, our
 * `TransformerBlock`s, any masking strategy (random or block), our
 * `MAEDecoder` and `maskedMSE`. Only public interfaces are used: the decoder
 * needs nothing from the encoder but its output `[N, 1 + lenKeep, D]` and
 * `idsRestore`.
 *
 *   imgs [N, H, W, C]
 *   → patchify                        [N, L, p·p·C]
 *   → stem: Linear · GELU · Linear    [N, L, D]
 *   → + sin-cos position              [N, L, D]
 *   → masking.sample                  idsKeep [N, K], idsRestore [N, L], mask [N, L]
 *   → gatherTokens(x, idsKeep)        [N, K, D]   (the visible patches)
 *   → prepend own cls token           [N, 1 + K, D]
 *   → TransformerBlocks, LayerNorm    latent [N, 1 + K, D]
 *   → MAEDecoder(latent, idsRestore)  pred [N, L, p·p·C]
 *   → maskedMSE(pred, patchTargets(imgs), mask)
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  LayerNorm,
  Linear,
  MAEDecoder,
  RandomMasking,
  TransformerBlock,
  gatherTokens,
  gelu,
  maskedMSE,
  patchTargets,
  patchify,
  sincosPosEmbed2d,
  type MaskingStrategy,
} from '../../src';

/** Arguments of {@link StemEncoder}. */
export interface StemEncoderArgs {
  /** Image side. Defaults to 16. */
  imgSize?: number;
  /** Patch side p. Defaults to 4. */
  patchSize?: number;
  /** Channels C. Defaults to 1. */
  inChans?: number;
  /** Token width D. Defaults to 32. */
  embedDim?: number;
  /** Hidden width of the stem MLP. Defaults to 64. */
  stemHidden?: number;
  /** Transformer blocks. Defaults to 2. */
  depth?: number;
  /** Attention heads. Defaults to 2. */
  numHeads?: number;
  /** Weight-init seed. Defaults to 0. */
  seed?: number;
}

/** What the encoder returns: the decoder's whole contract plus the mask. The caller disposes it. */
export interface StemEncoderOutput {
  /** `[N, 1 + K, D]`: cls first, then the kept patches in `idsKeep` order. */
  latent: tf.Tensor3D;
  /** `[N, L]` int32. */
  idsRestore: tf.Tensor2D;
  /** `[N, L]` float32, 1 = removed. */
  mask: tf.Tensor2D;
}

/** The user's own encoder: patchify + MLP stem, then our transformer blocks. */
export class StemEncoder {
  readonly patchSize: number;
  readonly gridSize: [number, number];
  readonly embedDim: number;
  readonly stem1: Linear;
  readonly stem2: Linear;
  readonly blocks: TransformerBlock[];
  readonly norm: LayerNorm;
  readonly clsToken: tf.Variable;
  private readonly pos: tf.Tensor3D;

  constructor(args: StemEncoderArgs = {}) {
    const size = args.imgSize ?? 16;
    this.patchSize = args.patchSize ?? 4;
    const g = size / this.patchSize;
    this.gridSize = [g, g];
    const d = (this.embedDim = args.embedDim ?? 32);
    const c = args.inChans ?? 1;
    const seed = args.seed ?? 0;
    const hidden = args.stemHidden ?? 64;
    this.stem1 = new Linear({ inFeatures: this.patchSize * this.patchSize * c, units: hidden, seed });
    this.stem2 = new Linear({ inFeatures: hidden, units: d, seed: seed + 1 });
    this.blocks = Array.from({ length: args.depth ?? 2 }, (_, i) => new TransformerBlock({ dim: d, numHeads: args.numHeads ?? 2, seed: seed + 10 + i }));
    this.norm = new LayerNorm({ dim: d });
    this.clsToken = tf.variable(tf.randomNormal([1, 1, d], 0, 0.02, 'float32', seed + 2), true);
    this.pos = tf.tidy(() => tf.expandDims(sincosPosEmbed2d(d, g, g), 0) as tf.Tensor3D);
    // tfjs-mae layers create their weights lazily: build now so `variables` lists them all
    [this.stem1, this.stem2, ...this.blocks, this.norm].forEach((l) => l.ensureBuilt());
  }

  get variables(): tf.Variable[] {
    const layers = [this.stem1, this.stem2, ...this.blocks, this.norm];
    return [...layers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable)), this.clsToken];
  }

  /**
   * @param imgs `[N, H, W, C]`
   * @param masking any strategy; `maskRatio` and `seed` are passed to it
   */
  forward(imgs: tf.Tensor4D, masking: MaskingStrategy, maskRatio: number, seed: number): StemEncoderOutput {
    const n = imgs.shape[0];
    const sample = masking.sample(n, this.gridSize, { maskRatio, seed });
    const latent = tf.tidy(() => {
      const patches = patchify(imgs, this.patchSize); // [N, L, p·p·C]
      const x = tf.add(this.stem2.apply(gelu(this.stem1.apply(patches) as tf.Tensor)) as tf.Tensor, this.pos) as tf.Tensor3D; // [N, L, D]
      const visible = gatherTokens(x, sample.idsKeep, sample.idsRestore); // [N, K, D]
      let h: tf.Tensor = tf.concat([tf.broadcastTo(this.clsToken, [n, 1, this.embedDim]), visible], 1); // [N, 1 + K, D]
      for (const block of this.blocks) h = block.apply(h) as tf.Tensor;
      return this.norm.apply(h) as tf.Tensor3D;
    });
    sample.idsKeep.dispose();
    return { latent, idsRestore: sample.idsRestore, mask: sample.mask };
  }

  dispose(): void {
    [this.stem1, this.stem2, ...this.blocks, this.norm].forEach((l) => l.dispose());
    tf.dispose([this.clsToken, this.pos]);
  }
}

/** Arguments of {@link CustomEncoderMAE}. */
export interface CustomEncoderMAEArgs extends StemEncoderArgs {
  /** Decoder width. Defaults to 32. */
  decoderEmbedDim?: number;
  /** Decoder blocks. Defaults to 1. */
  decoderDepth?: number;
  /** Fraction of patches removed. Defaults to 0.75 (random) — use 0.5 for block masking as in the paper. */
  maskRatio?: number;
  /** Which patches are removed. Defaults to `new RandomMasking()`. */
  masking?: MaskingStrategy;
}

/** The user's encoder + our decoder and loss. */
export class CustomEncoderMAE {
  readonly encoder: StemEncoder;
  readonly decoder: MAEDecoder;
  readonly masking: MaskingStrategy;
  readonly maskRatio: number;
  private readonly inChans: number;

  constructor(args: CustomEncoderMAEArgs = {}) {
    this.encoder = new StemEncoder(args);
    this.inChans = args.inChans ?? 1;
    const seed = args.seed ?? 0;
    this.decoder = new MAEDecoder({
      gridSize: this.encoder.gridSize,
      patchSize: this.encoder.patchSize,
      inChans: this.inChans,
      embedDim: this.encoder.embedDim,
      decoderEmbedDim: args.decoderEmbedDim ?? 32,
      decoderDepth: args.decoderDepth ?? 1,
      decoderNumHeads: 2,
      seed: seed + 100,
    });
    this.decoder.ensureBuilt();
    this.masking = args.masking ?? new RandomMasking();
    this.maskRatio = args.maskRatio ?? 0.75;
  }

  get variables(): tf.Variable[] {
    return [...this.encoder.variables, ...this.decoder.trainableWeights.map((w) => w.read() as tf.Variable)];
  }

  /** The loss on the removed patches, and the mask that chose them. The caller disposes both. */
  forward(imgs: tf.Tensor4D, seed: number): { loss: tf.Scalar; mask: tf.Tensor2D } {
    const enc = this.encoder.forward(imgs, this.masking, this.maskRatio, seed);
    try {
      const loss = tf.tidy(() => {
        const { pred } = this.decoder.forward(enc.latent, enc.idsRestore); // [N, L, p·p·C]
        return maskedMSE(pred, patchTargets(imgs, this.encoder.patchSize), enc.mask);
      });
      return { loss, mask: enc.mask };
    } finally {
      tf.dispose([enc.latent, enc.idsRestore]);
    }
  }

  loss(imgs: tf.Tensor4D, seed: number): tf.Scalar {
    const { loss, mask } = this.forward(imgs, seed);
    mask.dispose();
    return loss;
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
  }
}

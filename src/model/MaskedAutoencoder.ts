/** The whole MAE: encoder, decoder and loss (official `MaskedAutoencoderViT`). */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { pair, knownKeys, optionalSeed } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from '../nn/MAELayer';
import { childSeed } from '../nn/init';
import { ViTEncoder, type EncoderOptions, type ViTEncoderArgs } from '../encode/ViTEncoder';
import { MAEDecoder } from '../decode/MAEDecoder';
import { maskedMSE, patchTargets } from '../loss/loss';
import { argsortRows, gatherTokens } from '../nn/ops';
import type { MaskingConfig, MaskingStrategy } from '../mask/strategy';
import { maskingConfigOf } from '../mask/registry';
import { loadStateDict, stateDict, type LoadOptions, type LoadReport, type StateDictOptions } from '../io/stateDict';
import { loadPretrainedModel, type FromPretrainedOptions } from '../io/pretrainedModel';
import type { PretrainedSource } from '../io/source';

/**
 * Configuration of {@link MaskedAutoencoder}: the official constructor's arguments in camelCase.
 * The encoder's fields (`imgSize`, `patchSize`, `inChans`, `embedDim`, `depth`,
 * `numHeads`, `maskRatio`, `masking`) mean and default as in {@link ViTEncoderArgs}
 * (ViT-Large: D = 1024, 24 blocks, 16 heads; mask ratio 0.75, random masking).
 */
export interface MaskedAutoencoderArgs
  extends BaseLayerArgs,
    Pick<ViTEncoderArgs, 'imgSize' | 'patchSize' | 'inChans' | 'embedDim' | 'depth' | 'numHeads' | 'maskRatio' | 'masking'> {
  /** Decoder width. Defaults to `512`. */
  decoderEmbedDim?: number;
  /** Decoder blocks. Defaults to `8`. */
  decoderDepth?: number;
  /** Decoder heads. Defaults to `16`. */
  decoderNumHeads?: number;
  /** MLP hidden width ratio (encoder and decoder). Defaults to `4`. */
  mlpRatio?: number;
  /** Per-patch normalised targets (unbiased variance, eps 1e-6). Defaults to `false`. */
  normPixLoss?: boolean;
  /** LayerNorm epsilon everywhere. Defaults to `1e-6` (the official factories). */
  layerNormEps?: number;
  /** Seed of the weight init: the same seed gives the same weights. Defaults to a random init. */
  seed?: number;
  /**
   * Recompute each encoder and decoder block in the backward pass (activation
   * checkpointing): the gradient tape keeps each block's input only, and the
   * backward pass runs the block again. Same loss and gradients, about one
   * more forward pass per step, much less memory (ViT-B/16 trains at batch
   * 16 inside wasm's 4 GB heap). A call's own `recompute` option overrides
   * it. Defaults to `false`.
   */
  recompute?: boolean;
}

/** The resolved configuration of a {@link MaskedAutoencoder}: {@link MaskedAutoencoderArgs} with every default filled in. */
export interface MAEConfig {
  /** `[H, W]`, the image size. */
  imgSize: [number, number];
  /** Patch side p. */
  patchSize: number;
  /** Image channels C. */
  inChans: number;
  /** Encoder width D. */
  embedDim: number;
  /** Encoder blocks. */
  depth: number;
  /** Encoder heads. */
  numHeads: number;
  /** Decoder width Dd. */
  decoderEmbedDim: number;
  /** Decoder blocks. */
  decoderDepth: number;
  /** Decoder heads. */
  decoderNumHeads: number;
  /** MLP hidden width ratio (encoder and decoder). */
  mlpRatio: number;
  /** Whether the loss targets are per-patch normalised (then `pred` is in those units). */
  normPixLoss: boolean;
  /** LayerNorm epsilon everywhere. */
  layerNormEps: number;
  /** Default mask ratio r. */
  maskRatio: number;
  /** The masking strategy as `{ type, ...args }`, or the strategy object itself when it has no `toConfig` (then `getConfig` throws). */
  masking: MaskingConfig | MaskingStrategy;
  /** Seed of the weight init; `undefined` for a random init. */
  seed?: number;
  /** Whether the blocks are recomputed in the backward pass unless a call says otherwise. */
  recompute: boolean;
}

/** The configuration keys of {@link MaskedAutoencoderArgs}. */
const MAE_KEYS = [
  'imgSize', 'patchSize', 'inChans', 'embedDim', 'depth', 'numHeads', 'decoderEmbedDim', 'decoderDepth',
  'decoderNumHeads', 'mlpRatio', 'normPixLoss', 'layerNormEps', 'maskRatio', 'masking', 'seed', 'recompute',
];

/** Per-call options of {@link MaskedAutoencoder.forward}. */
export type ForwardOptions = EncoderOptions;

/** What {@link MaskedAutoencoder.forward} returns. The caller owns (and disposes) every tensor. */
export interface MAEOutput {
  /** Scalar: mean squared error over the removed patches. */
  loss: tf.Scalar;
  /** `[N, L, p·p·C]`: the decoder's prediction for every patch, patch order. */
  pred: tf.Tensor3D;
  /** `[N, L]` float32, 1 = removed. */
  mask: tf.Tensor2D;
  /** `[N, L]` int32. */
  idsRestore: tf.Tensor2D;
  /** `[N, lenKeep]` int32, in the strategy's order (increasing noise for random masking). */
  idsKeep: tf.Tensor2D;
  /** `[N, 1 + lenKeep, D]`: the encoder output. */
  latent: tf.Tensor3D;
  /** Encoder block outputs `[N, 1 + lenKeep, D]`, when `outputHiddenStates` was set. */
  hiddenStates?: tf.Tensor3D[];
  /** Encoder attention maps `[N, H, 1 + lenKeep, 1 + lenKeep]`, when `outputAttentions` was set. */
  attentions?: tf.Tensor4D[];
  /** Decoder block outputs `[N, 1 + L, Dd]`, when `outputHiddenStates` was set. */
  decoderHiddenStates?: tf.Tensor3D[];
  /** Decoder attention maps `[N, Hd, 1 + L, 1 + L]`, when `outputAttentions` was set. */
  decoderAttentions?: tf.Tensor4D[];
}

/** Every tensor of a (partial) {@link MAEOutput}, e.g. to dispose them all. */
export function outputTensors(o: Partial<MAEOutput>): tf.Tensor[] {
  const lists: tf.Tensor[] = [o.hiddenStates, o.attentions, o.decoderHiddenStates, o.decoderAttentions].flatMap((l): tf.Tensor[] => l ?? []);
  return [o.loss, o.pred, o.mask, o.idsRestore, o.idsKeep, o.latent, ...lists].filter((t): t is tf.Tensor => t !== undefined);
}

/**
 * A masked autoencoder with a ViT encoder and a lightweight decoder.
 *
 * ```ts
 * const mae = new MaskedAutoencoder({ imgSize: 32, patchSize: 4, embedDim: 192, depth: 6, numHeads: 3,
 *   decoderEmbedDim: 128, decoderDepth: 2, decoderNumHeads: 4 });
 * const { loss, pred, mask } = mae.forward(imgs, { seed: 0 }); // imgs [N, 32, 32, 3]
 * ```
 *
 * The constructor creates and initialises every weight, so a fresh model
 * trains at once: `tf.train.adam(1e-3).minimize(() => mae.loss(imgs))` or
 * `tf.variableGrads(() => mae.loss(imgs))` (pass `deferBuild: true` to leave
 * the weights to the first forward pass instead).
 */
export class MaskedAutoencoder extends MAELayer {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MaskedAutoencoder';
  /** The resolved configuration (every default filled in). */
  readonly config: MAEConfig;
  /** The ViT encoder: patch embedding, masking, blocks, norm (official `patch_embed`, `cls_token`, `pos_embed`, `blocks`, `norm`). */
  readonly encoder: ViTEncoder;
  /** The lightweight decoder (official `decoder_*`, `mask_token`). */
  readonly decoder: MAEDecoder;

  constructor(args: MaskedAutoencoderArgs = {}) {
    super(args);
    knownKeys('MaskedAutoencoder', args, MAE_KEYS);
    const seed = optionalSeed('seed', args.seed);
    this.encoder = this.track(
      new ViTEncoder({
        deferBuild: true,
        imgSize: args.imgSize,
        patchSize: args.patchSize,
        inChans: args.inChans,
        embedDim: args.embedDim,
        depth: args.depth,
        numHeads: args.numHeads,
        mlpRatio: args.mlpRatio,
        layerNormEps: args.layerNormEps,
        maskRatio: args.maskRatio,
        masking: args.masking,
        seed: childSeed(seed, 0),
        recompute: args.recompute,
      }),
    );
    const e = this.encoder;
    this.decoder = this.track(
      new MAEDecoder({
        deferBuild: true,
        gridSize: e.gridSize,
        patchSize: e.patchSize,
        inChans: e.inChans,
        embedDim: e.embedDim,
        decoderEmbedDim: args.decoderEmbedDim,
        decoderDepth: args.decoderDepth,
        decoderNumHeads: args.decoderNumHeads,
        mlpRatio: args.mlpRatio,
        layerNormEps: args.layerNormEps,
        seed: childSeed(seed, 1),
        recompute: args.recompute,
      }),
    );
    const d = this.decoder;
    this.config = {
      imgSize: pair('imgSize', e.imgSize),
      patchSize: e.patchSize,
      inChans: e.inChans,
      embedDim: e.embedDim,
      depth: e.depth,
      numHeads: e.numHeads,
      decoderEmbedDim: d.decoderEmbedDim,
      decoderDepth: d.decoderDepth,
      decoderNumHeads: d.decoderNumHeads,
      mlpRatio: e.mlpRatio,
      normPixLoss: args.normPixLoss ?? false,
      layerNormEps: e.layerNormEps,
      maskRatio: e.maskRatio,
      masking: typeof e.masking.toConfig === 'function' ? maskingConfigOf(e.masking) : e.masking,
      seed,
      recompute: e.recompute,
    };
    // (the encoder has already checked that its masking can realise maskRatio on this grid)
    this.buildUnlessDeferred(args);
  }

  /**
   * A model built from the config its weights carry, with those weights
   * (HuggingFace's `from_pretrained`). The config comes from the file's
   * metadata (files we write), else an HF `config.json` beside the weights,
   * else the names and shapes with the official presets' head counts (official
   * `.pth` releases); what none of these tell must be given in `options.hints`.
   * An encoder-only file (`mae_pretrain_vit_*.pth`) gets a fresh official decoder.
   *
   * ```ts
   * const mae = await MaskedAutoencoder.fromPretrained('examples/weights/mae-fmnist-tiny.safetensors'); // Node path
   * const hf = await MaskedAutoencoder.fromPretrained('https://example.org/models/vit-mae-base');     // HF folder URL
   * const pth = await MaskedAutoencoder.fromPretrained(file, { hints: { normPixLoss: true } });        // a dropped File
   * ```
   *
   * @param source a local path or folder (Node), an http(s) URL of a file or an HF folder, a `Blob`/`File`, bytes, or `{ weights, config }`
   * @param options `hints`, `strict`, `sourceGridSize`, `fetch`; for the config and the load report use `loadPretrainedModel`
   * @throws CheckpointError naming the file for unreadable files, undecidable config fields (and the hint to pass), or weights that do not fit
   */
  static async fromPretrained(source: PretrainedSource, options: FromPretrainedOptions = {}): Promise<MaskedAutoencoder> {
    return (await loadPretrainedModel(source, options, 'MaskedAutoencoder')).model as MaskedAutoencoder;
  }

  /** `[h, w]`, the patch grid. */
  get gridSize(): [number, number] {
    return this.encoder.gridSize;
  }

  /** L, the number of patches. */
  get numPatches(): number {
    return this.encoder.numPatches;
  }

  /**
   * The full pre-training forward pass.
   *
   * @param imgs `[N, H, W, C]` float32, NHWC
   * @param options `maskRatio`, injected `noise [N, L]` or a `seed`
   */
  forward(imgs: tf.Tensor, options: ForwardOptions = {}): MAEOutput {
    const enc = this.encoder.forward(imgs, options); // latent [N, 1 + lenKeep, D]
    try {
      return tf.tidy(() => {
        const dec = this.decoder.forward(enc.latent, enc.idsRestore, options); // pred [N, L, p·p·C]
        const target = patchTargets(imgs, this.config.patchSize, { normPixLoss: this.config.normPixLoss });
        const loss = maskedMSE(dec.pred, target, enc.mask);
        return {
          ...enc,
          loss,
          pred: dec.pred,
          ...(dec.hiddenStates ? { decoderHiddenStates: dec.hiddenStates } : {}),
          ...(dec.attentions ? { decoderAttentions: dec.attentions } : {}),
        };
      });
    } catch (err) {
      tf.dispose(outputTensors(enc));
      throw err;
    }
  }

  /**
   * Only the scalar loss of {@link MaskedAutoencoder.forward} (for
   * `tf.variableGrads` / `optimizer.minimize`), computed with less work: the
   * decoder predicts the removed patches only ({@link MAEDecoder.forwardMasked}),
   * which is all the loss reads. Same value and gradients as `forward(...).loss`
   * up to float rounding. (With `outputHiddenStates`/`outputAttentions`, or no
   * removed patch, it runs the full `forward`.)
   */
  loss(imgs: tf.Tensor, options: ForwardOptions = {}): tf.Scalar {
    if (options.outputHiddenStates || options.outputAttentions) return this.fullLoss(imgs, options);
    const enc = this.encoder.forward(imgs, options); // latent [N, 1 + lenKeep, D]
    try {
      return tf.tidy(() => {
        const target = patchTargets(imgs, this.config.patchSize, { normPixLoss: this.config.normPixLoss }); // [N, L, p·p·C]
        if (enc.latent.shape[1] - 1 === this.numPatches) {
          // nothing removed (maskRatio 0): the loss is 0, as from forward
          return maskedMSE(this.decoder.forward(enc.latent, enc.idsRestore, { recompute: options.recompute }).pred, target, enc.mask);
        }
        const { pred, idsMasked } = this.decoder.forwardMasked(enc.latent, enc.idsRestore, options); // [N, L − lenKeep, p·p·C]
        // the same rows of the targets (differentiable, for gradients with respect to the images)
        const order = argsortRows(tf.concat([idsMasked, enc.idsKeep], 1) as tf.Tensor2D);
        return maskedMSE(pred, gatherTokens(target, idsMasked, order));
      });
    } finally {
      tf.dispose(outputTensors(enc));
    }
  }

  private fullLoss(imgs: tf.Tensor, options: ForwardOptions): tf.Scalar {
    const out = this.forward(imgs, options);
    tf.dispose(outputTensors(out).filter((t) => t !== out.loss));
    return out.loss;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: ForwardOptions = {}): tf.Tensor[] {
    const o = this.forward(Array.isArray(inputs) ? inputs[0] : inputs, kwargs);
    return [o.loss, o.pred, o.mask, o.idsRestore, o.idsKeep, o.latent];
  }

  /** Every weight under its official state-dict name, in the official order. */
  stateEntries(prefix = ''): StateEntry[] {
    const all = [...this.encoder.stateEntries(prefix), ...this.decoder.stateEntries(prefix)];
    // torch lists a module's own parameters before its sub-modules'.
    const own = all.filter((e) => !e.name.slice(prefix.length).includes('.'));
    return [...own, ...all.filter((e) => !own.includes(e))];
  }

  /**
   * The weights as a state dict (new tensors, torch layouts).
   * `naming: 'official'` (default) or `'hf'` (HuggingFace `ViTMAEForPreTraining`).
   */
  stateDict(options: StateDictOptions = {}): Record<string, tf.Tensor> {
    return stateDict(this.stateEntries(), options);
  }

  /**
   * Loads official- or HF-named weights (torch layouts). With `strict` (the
   * default) every missing, unexpected or mis-shaped name is reported in one
   * error; otherwise the report lists them and nothing is thrown.
   */
  loadStateDict(tensors: Record<string, tf.Tensor>, options: LoadOptions = {}): LoadReport {
    return loadStateDict(this.stateEntries(), tensors, options);
  }

  override getConfig(): serialization.ConfigDict {
    const { seed, imgSize, ...rest } = this.config;
    return { ...super.getConfig(), ...rest, imgSize: [...imgSize], masking: maskingConfigOf(this.encoder.masking), seed: seed ?? null };
  }
}
serialization.registerClass(MaskedAutoencoder);

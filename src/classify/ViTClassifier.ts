/**
 * The fine-tuning classifier of the official code (`models_vit.VisionTransformer`,
 * a timm 0.3.2 ViT with optional global pooling).
 */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { CheckpointError, MAEConfigError, describe } from '../errors';
import { optionalSeed, positiveInt, positiveNumber } from '../util/validate';
import type { MAELayer, StateEntry } from '../nn/MAELayer';
import { LayerNorm } from '../nn/LayerNorm';
import { Linear } from '../nn/Linear';
import { childSeed, normal } from '../nn/init';
import { dropRate as checkRate } from '../nn/stochastic';
import { ViTBackbone, type ViTBackboneArgs } from '../encode/ViTBackbone';
import { ViTEncoder } from '../encode/ViTEncoder';
import { MaskedAutoencoder } from '../model/MaskedAutoencoder';
import { loadStateDict, stateDict, type LoadOptions, type LoadReport, type StateDictOptions } from '../io/stateDict';
import { LinearProbeHead } from './LinearProbeHead';
import { loadPretrainedModelAs, type FromPretrainedOptions } from '../io/pretrainedModel';
import type { ResolvedConfig } from '../io/modelConfig';
import type { PretrainedSource } from '../io/source';
import { reinitLinear } from './init';

/** Which head a {@link ViTClassifier} has. */
export type ClassifierHead =
  /** One Linear `D → numClasses` (`main_finetune.py`); names `head.weight`, `head.bias`. */
  | 'linear'
  /** A {@link LinearProbeHead}, batch norm without affine then Linear (`main_linprobe.py`); names `head.0.*`, `head.1.*`. */
  | 'linprobe';

/** Arguments of {@link ViTClassifier}: the official constructor's, in camelCase. */
export interface ViTClassifierArgs extends ViTBackboneArgs {
  /** Number of classes. Defaults to `1000`. */
  numClasses?: number;
  /** Token width D; divisible by `numHeads`. Defaults to `768` (timm's ViT-Base default). */
  embedDim?: number;
  /** Transformer blocks. Defaults to `12`. */
  depth?: number;
  /** Attention heads. Defaults to `12`. */
  numHeads?: number;
  /** Bias in the qkv projections. Defaults to `true`. */
  qkvBias?: boolean;
  /**
   * `true`: mean of the patch tokens (cls excluded), then `fcNorm`.
   * `false`: the final `norm`, then the cls token. Defaults to `true`
   * (`main_finetune.py` and the released fine-tuned checkpoints; the
   * `models_vit` constructor itself defaults to `False`).
   */
  globalPool?: boolean;
  /**
   * With `globalPool`: the final `norm` on the tokens, then the mean of the
   * patch tokens, and no `fcNorm` (timm's `fc_norm=False`; the features of
   * `extractFeatures` with `pool: 'mean'`, so a linear probe trained on them
   * becomes a classifier). Defaults to `false` (`fcNorm` after the mean).
   */
  normBeforePool?: boolean;
  /** The head. Defaults to `'linear'`. */
  head?: ClassifierHead;
  /**
   * Stochastic depth rate of the last block (timm `drop_path_rate`); block i
   * gets `dropPath · i / (depth − 1)`. In `[0, 1)`; only with `training: true`.
   * Defaults to `0` (the official fine-tuning uses 0.1 / 0.2 / 0.3 for B / L / H).
   */
  dropPath?: number;
  /**
   * Dropout (timm `drop_rate`) after the position embedding and on each
   * residual branch's output, in `[0, 1)`; only with `training: true`.
   * Defaults to `0` (as the official fine-tuning).
   */
  dropRate?: number;
}

/** Per-call options of {@link ViTClassifier.forward}. */
export interface ClassifierOptions {
  /** Training mode: drop path, dropout and the probe head's batch statistics act. Defaults to `false`. */
  training?: boolean;
  /** Seed of this call's training noise. Defaults to a random draw. */
  seed?: number;
  /** Also return every block's output `[N, 1 + L, D]`. Defaults to `false`. */
  outputHiddenStates?: boolean;
  /** Recompute each block in the backward pass (see {@link ViTBackboneArgs.recompute}). Defaults to the classifier's `recompute`. */
  recompute?: boolean;
}

/** What {@link ViTClassifier.forward} returns. The caller owns (and disposes) every tensor. */
export interface ClassifierOutput {
  /** `[N, numClasses]`, before softmax. */
  logits: tf.Tensor2D;
  /** `[N, D]`: the pooled and normalised features the head sees. */
  features: tf.Tensor2D;
  /** Block outputs, when `outputHiddenStates` was set. */
  hiddenStates?: tf.Tensor3D[];
}

/** Options of {@link ViTClassifier.fromMAE}. */
export interface FromMAEOptions {
  /** Number of classes. Required. */
  numClasses: number;
  /** See {@link ViTClassifierArgs.globalPool}. Defaults to `true`. */
  globalPool?: boolean;
  /** See {@link ViTClassifierArgs.normBeforePool}. Defaults to `false`. */
  normBeforePool?: boolean;
  /** See {@link ViTClassifierArgs.head}. Defaults to `'linear'`. */
  head?: ClassifierHead;
  /** See {@link ViTClassifierArgs.dropPath}. Defaults to `0`. */
  dropPath?: number;
  /** See {@link ViTClassifierArgs.dropRate}. Defaults to `0`. */
  dropRate?: number;
  /**
   * Std of the `N(0, std²)` head weight init. Defaults to `2e-5` for a
   * `'linear'` head (`main_finetune.py`) and `0.01` for `'linprobe'` (`main_linprobe.py`).
   */
  headInitStd?: number;
  /** Seed of the fresh weights (head, `fcNorm`). Defaults to a random init. */
  seed?: number;
  /** See {@link ViTBackboneArgs.recompute}. Defaults to the source encoder's `recompute`. */
  recompute?: boolean;
}

/** The encoder arguments a classifier takes over from an MAE's or encoder's config. */
const ENCODER_KEYS = ['imgSize', 'patchSize', 'inChans', 'embedDim', 'depth', 'numHeads', 'mlpRatio', 'qkvBias', 'layerNormEps', 'recompute'] as const;

/** The classifier `fromMAE` makes of an encoder with these arguments (config or `getConfig()` of an MAE or encoder). */
function classifierArgs(encoder: Record<string, unknown>, options: FromMAEOptions): ViTClassifierArgs {
  const kept = Object.fromEntries(ENCODER_KEYS.filter((k) => encoder[k] !== undefined && encoder[k] !== null).map((k) => [k, encoder[k]]));
  return {
    ...kept,
    numClasses: options.numClasses,
    globalPool: options.globalPool,
    normBeforePool: options.normBeforePool,
    head: options.head ?? 'linear',
    dropPath: options.dropPath,
    dropRate: options.dropRate,
    seed: options.seed,
    recompute: options.recompute ?? (encoder.recompute as boolean | undefined),
  };
}

/** The fresh head of `fromMAE`: `N(0, std²)` weights (`main_finetune.py` / `main_linprobe.py`), zero bias. */
function initHead(clf: ViTClassifier, options: FromMAEOptions): void {
  const std = options.headInitStd ?? ((options.head ?? 'linear') === 'linear' ? 2e-5 : 0.01);
  const linear = clf.head instanceof LinearProbeHead ? clf.head.linear : clf.head;
  reinitLinear(linear, positiveNumber('headInitStd', std), childSeed(options.seed ?? undefined, 3));
}

/**
 * A ViT classifier: patch embed → prepend cls → + learned position embedding
 * (on the cls token too) → blocks → pool → head. `[N, H, W, C]` → `logits [N, numClasses]`.
 *
 * Initialised as timm 0.3.2: `cls_token`, `pos_embed` and every Linear
 * weight `N(0, .02²)`, biases 0. {@link ViTClassifier.fromMAE} starts from a
 * pre-trained encoder instead (the sin-cos table becomes the learned init).
 *
 * Official names: `cls_token`, `pos_embed`, `patch_embed.proj.*`,
 * `blocks.<i>.*`, then `norm.*` (`globalPool: false`), `head.*`, then
 * `fc_norm.*` (`globalPool: true`).
 *
 * ```ts
 * const clf = ViTClassifier.fromMAE(mae, { numClasses: 10, dropPath: 0.1 });
 * const { logits } = clf.forward(imgs, { training: true }); // imgs [N, H, W, C]
 * ```
 */
export class ViTClassifier extends ViTBackbone {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAEViTClassifier';
  /** Number of classes (width of the logits). */
  readonly numClasses: number;
  /** Whether the qkv projections have a bias. */
  readonly qkvBias: boolean;
  /** `true`: mean of the patch tokens then `fcNorm` (or `norm` then the mean, {@link normBeforePool}); `false`: `norm` then the cls token. */
  readonly globalPool: boolean;
  /** With `globalPool`: `norm` on the tokens before the mean, instead of `fcNorm` after it. */
  readonly normBeforePool: boolean;
  /** Which head: `'linear'` or `'linprobe'`. */
  readonly headKind: ClassifierHead;
  /** Stochastic depth rate of the last block (block i gets `dropPath · i / (depth − 1)`). */
  readonly dropPath: number;
  /** Dropout rate after the position embedding and on each residual branch (training calls only). */
  readonly dropRate: number;
  /** The final norm before the cls token (`globalPool: false`), else `null`. */
  readonly norm: LayerNorm | null;
  /** The norm after pooling (`globalPool: true`), else `null`. */
  readonly fcNorm: LayerNorm | null;
  /** The head, `[N, D]` → `[N, numClasses]` (official `head`). */
  readonly head: Linear | LinearProbeHead;

  constructor(args: ViTClassifierArgs = {}) {
    // The blocks (built by the trunk) need these first.
    const qkvBias = args.qkvBias ?? true;
    const dropPath = checkRate('dropPath', args.dropPath ?? 0);
    const dropRate = checkRate('dropRate', args.dropRate ?? 0);
    super(args, {
      embedDim: 768,
      depth: 12,
      numHeads: 12,
      allowNoBlocks: false,
      blockArgs: (i, depth) => ({ qkvBias, dropPath: depth > 1 ? (dropPath * i) / (depth - 1) : 0, dropRate }),
    });
    this.qkvBias = qkvBias;
    this.dropPath = dropPath;
    this.dropRate = dropRate;
    this.numClasses = positiveInt('numClasses', args.numClasses ?? 1000);
    this.globalPool = args.globalPool ?? true;
    this.normBeforePool = args.normBeforePool ?? false;
    if (typeof this.normBeforePool !== 'boolean' || (this.normBeforePool && !this.globalPool)) {
      throw new MAEConfigError(`normBeforePool must be a boolean, and true only with globalPool: true; got ${describe(args.normBeforePool)} with globalPool ${describe(this.globalPool)}`);
    }
    this.headKind = args.head ?? 'linear';
    if (this.headKind !== 'linear' && this.headKind !== 'linprobe') {
      throw new MAEConfigError(`head must be 'linear' or 'linprobe', got ${describe(this.headKind)}`);
    }
    const d = this.embedDim;
    const eps = this.layerNormEps;
    // Registration order = state-dict order: (patch embed, blocks,) norm (unless fc_norm), head, then fc_norm.
    const fcNorm = this.globalPool && !this.normBeforePool;
    this.norm = fcNorm ? null : this.track(new LayerNorm({ deferBuild: true, dim: d, eps }));
    this.head = this.track(
      this.headKind === 'linprobe'
        ? new LinearProbeHead({ deferBuild: true, inFeatures: d, numClasses: this.numClasses, seed: childSeed(this.seed, 2) })
        : new Linear({ deferBuild: true, inFeatures: d, units: this.numClasses, seed: childSeed(this.seed, 2) }),
    );
    this.fcNorm = fcNorm ? this.track(new LayerNorm({ deferBuild: true, dim: d, eps })) : null;
    this.buildUnlessDeferred(args);
  }

  /**
   * A classifier with `source`'s encoder weights (patch embed, cls token,
   * position table as the learned init, blocks; the final `norm` when the
   * classifier has one), a fresh head and `fcNorm`, as `main_finetune.py` /
   * `main_linprobe.py` start from a pre-trained checkpoint.
   *
   * @param source a {@link MaskedAutoencoder} or its {@link ViTEncoder}; not modified
   */
  static fromMAE(source: MaskedAutoencoder | ViTEncoder, options: FromMAEOptions): ViTClassifier {
    const enc = source instanceof MaskedAutoencoder ? source.encoder : source;
    if (!(enc instanceof ViTEncoder)) {
      throw new MAEConfigError(`fromMAE: source must be a MaskedAutoencoder or a ViTEncoder, got ${describe(source)}`);
    }
    if (options === null || typeof options !== 'object') {
      throw new MAEConfigError(`fromMAE: options must be an object with numClasses, got ${describe(options)}`);
    }
    const clf = new ViTClassifier(classifierArgs({ ...enc.getConfig(), qkvBias: enc.blocks[0]?.qkvBias ?? true }, options));
    try {
      const own = new Map(clf.stateEntries().map((e) => [e.name, e]));
      for (const src of enc.stateEntries()) {
        const dst = own.get(src.name);
        if (dst) tf.tidy(() => void dst.variable.write(tf.clone(src.variable.read())));
      }
      initHead(clf, options);
      return clf;
    } catch (e) {
      clf.dispose();
      throw e;
    }
  }

  /**
   * A classifier from pretrained weights (HuggingFace's `from_pretrained`): a
   * classifier file (ours, or an official `mae_finetuned_*.pth`) as it is; an
   * MAE or encoder file (ours, official `.pth`, an HF `ViTMAE` folder) through
   * {@link ViTClassifier.fromMAE}, which needs `numClasses` (the head starts fresh).
   * See `MaskedAutoencoder.fromPretrained` for the sources and how the config is decided.
   *
   * ```ts
   * const clf = await ViTClassifier.fromPretrained('mae_finetuned_vit_base.pth');
   * const probe = await ViTClassifier.fromPretrained('https://example.org/vit-mae-base', { numClasses: 10 });
   * ```
   *
   * @throws CheckpointError as `MaskedAutoencoder.fromPretrained`; also for an MAE file without `numClasses`, or a `numClasses` other than a classifier file's
   */
  static async fromPretrained(
    source: PretrainedSource,
    options: FromPretrainedOptions & Partial<FromMAEOptions> = {},
  ): Promise<ViTClassifier> {
    const { numClasses, globalPool, normBeforePool, head, dropPath, dropRate, headInitStd, seed, recompute, ...loadOptions } = options;
    let fresh: FromMAEOptions | undefined;
    // The classifier is built from the file's config and loaded straight from the file (one model in memory, even for ViT-H).
    const decide = (config: ResolvedConfig, file: string): ResolvedConfig => {
      if (config.className === 'MAEViTClassifier') {
        const classes = config.config.numClasses ?? 1000;
        if (numClasses !== undefined && numClasses !== classes) {
          throw new CheckpointError(`${file} holds a classifier of ${classes} classes, options.numClasses is ${numClasses} (start from an MAE file for a new head)`);
        }
        return config;
      }
      if (config.className !== 'MaskedAutoencoder' && config.className !== 'MAEViTEncoder') {
        throw new CheckpointError(`${file} holds a ${describe(config.className)}, not a classifier, an MAE or an encoder`);
      }
      if (numClasses === undefined) {
        throw new CheckpointError(`${file} holds a pre-trained ${config.className === 'MaskedAutoencoder' ? 'MAE' : 'encoder'}, not a classifier: pass options.numClasses for a new head`);
      }
      fresh = { numClasses, globalPool, normBeforePool, head, dropPath, dropRate, headInitStd, seed, recompute };
      const note = `a new ${head ?? 'linear'} head of ${numClasses} classes on the file's encoder (as fromMAE)`;
      return { ...config, className: 'MAEViTClassifier', config: { ...classifierArgs(config.config, fresh) }, notes: [...config.notes, note] };
    };
    // The new head (the file has none) is initialised as part of the build: drawn once, after the load.
    const onBuilt = (model: MAELayer): void => {
      if (fresh) initHead(model as ViTClassifier, fresh);
    };
    const { model } = await loadPretrainedModelAs(source, loadOptions, { decide, onBuilt });
    return model as ViTClassifier;
  }

  /** `cls_token`, then a learned `pos_embed`, both `N(0, .02²)`; then timm's Linear init. */
  protected override createWeights(): void {
    this.createTrunkWeights(normal(0.02, childSeed(this.seed, 3)), true);
    // timm's _init_weights: every Linear N(0, .02²) with zero bias (a probe head keeps its own 0.01).
    this.blocks.forEach((b, i) => {
      [b.attn.qkv, b.attn.proj, b.mlp.fc1, b.mlp.fc2].forEach((l, j) => reinitLinear(l, 0.02, childSeed(this.seed, 100 + 4 * i + j)));
    });
    if (this.head instanceof Linear) reinitLinear(this.head, 0.02, childSeed(this.seed, 4));
  }

  /**
   * `[N, H, W, C]` → `[N, D]` features (before the head), and the block outputs on request.
   */
  forwardFeatures(
    imgs: tf.Tensor,
    options: ClassifierOptions = {},
  ): {
    /** `[N, D]`: the pooled and normalised features the head sees. */
    features: tf.Tensor2D;
    /** Block outputs `[N, 1 + L, D]`, when `outputHiddenStates` was set. */
    hiddenStates?: tf.Tensor3D[];
  } {
    this.ensureBuilt();
    const x0 = this.patchEmbed.checkImages(imgs);
    optionalSeed('seed', options.seed);
    const training = options.training === true;
    const recompute = options.recompute ?? this.recompute;
    const hiddenStates: tf.Tensor3D[] = [];
    const features = tf.tidy(() => {
      let x: tf.Tensor = this.prependCls(this.embedPatches(x0)); // [N, 1 + L, D], position added to cls and patches
      const [n, , d] = x.shape;
      if (training && this.dropRate > 0) x = tf.dropout(x, this.dropRate, undefined, childSeed(options.seed, 0));
      this.blocks.forEach((block, i) => {
        x = block.call(x, { training, seed: childSeed(options.seed, 10 + i), recompute });
        if (options.outputHiddenStates) hiddenStates.push(tf.keep(x) as tf.Tensor3D);
      });
      if (this.fcNorm) {
        const patches = tf.slice(x, [0, 1, 0], [n, this.numPatches, d]);
        return this.fcNorm.call(tf.mean(patches, 1)) as tf.Tensor2D; // [N, D]
      }
      const normed = this.norm!.call(x);
      if (this.globalPool) return tf.mean(tf.slice(normed, [0, 1, 0], [n, this.numPatches, d]), 1) as tf.Tensor2D; // [N, D]
      return tf.reshape(tf.slice(normed, [0, 0, 0], [n, 1, d]), [n, d]) as tf.Tensor2D;
    });
    return { features, ...(options.outputHiddenStates ? { hiddenStates } : {}) };
  }

  /**
   * The classifier's forward pass.
   *
   * @param imgs `[N, H, W, C]` float32, NHWC
   * @returns `logits [N, numClasses]`, `features [N, D]` (and `hiddenStates` on request)
   */
  forward(imgs: tf.Tensor, options: ClassifierOptions = {}): ClassifierOutput {
    const out = this.forwardFeatures(imgs, options);
    try {
      const head: MAELayer = this.head;
      const logits = tf.tidy(() => head.call(out.features, { training: options.training === true }) as tf.Tensor2D);
      return { logits, ...out };
    } catch (e) {
      tf.dispose([out.features, ...(out.hiddenStates ?? [])]);
      throw e;
    }
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: ClassifierOptions = {}): tf.Tensor[] {
    const out = this.forward(Array.isArray(inputs) ? inputs[0] : inputs, { ...kwargs, outputHiddenStates: false });
    return [out.logits, out.features];
  }

  override computeOutputShape(inputShape: (number | null)[]): (number | null)[][] {
    return [
      [inputShape[0], this.numClasses],
      [inputShape[0], this.embedDim],
    ];
  }

  stateEntries(prefix = ''): StateEntry[] {
    return [
      ...this.trunkEntries(prefix),
      ...(this.norm ? this.norm.stateEntries(`${prefix}norm.`) : []),
      ...this.head.stateEntries(`${prefix}head.`),
      ...(this.fcNorm ? this.fcNorm.stateEntries(`${prefix}fc_norm.`) : []),
    ];
  }

  /**
   * The weights as a state dict of new tensors (torch layouts, official
   * names; `naming: 'hf'` renames the ViT part as HuggingFace does and keeps
   * `head.*` / `fc_norm.*`).
   */
  stateDict(options: StateDictOptions = {}): Record<string, tf.Tensor> {
    return stateDict(this.stateEntries(), options);
  }

  /** Loads official-named weights (torch layouts); see `MaskedAutoencoder.loadStateDict`. */
  loadStateDict(tensors: Record<string, tf.Tensor>, options: LoadOptions = {}): LoadReport {
    return loadStateDict(this.stateEntries(), tensors, options);
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numClasses: this.numClasses,
      qkvBias: this.qkvBias,
      globalPool: this.globalPool,
      normBeforePool: this.normBeforePool,
      head: this.headKind,
      dropPath: this.dropPath,
      dropRate: this.dropRate,
      seed: this.seed ?? null,
    };
  }
}
serialization.registerClass(ViTClassifier);

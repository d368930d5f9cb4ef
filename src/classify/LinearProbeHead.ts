/**
 * The linear-probing head of the official `main_linprobe.py`:
 * `Sequential(BatchNorm1d(D, affine=False, eps=1e-6), Linear(D, numClasses))`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { MAEInputError, describe } from '../errors';
import { positiveInt, positiveNumber, tensorOfRank, optionalSeed } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from '../nn/MAELayer';
import { Linear } from '../nn/Linear';
import { childSeed, ones, zeros } from '../nn/init';
import { dropRate as checkRate } from '../nn/stochastic';
import { reinitLinear } from './init';

/** Arguments of {@link LinearProbeHead}. */
export interface LinearProbeHeadArgs extends BaseLayerArgs {
  /** Feature width D (input `[N, D]`). Required. */
  inFeatures: number;
  /** Number of classes (output `[N, numClasses]`). Required. */
  numClasses: number;
  /** Added to the variance in the batch norm. Defaults to `1e-6` (`main_linprobe.py`). */
  eps?: number;
  /** Weight of the current batch in the running statistics (torch `momentum`). Defaults to `0.1`. */
  momentum?: number;
  /** Standard deviation of the `N(0, std²)` init of the Linear weight (bias 0). Defaults to `0.01` (`main_linprobe.py`, after MoCo v3). */
  initStd?: number;
  /** Seed of the weight init. Defaults to a random init. */
  seed?: number;
}

/** Per-call options of {@link LinearProbeHead}. */
export interface ProbeCallArgs {
  /**
   * Normalise with the batch statistics and update the running ones (torch
   * `train()` mode); otherwise use the running statistics. Defaults to `false`.
   */
  training?: boolean;
}

/**
 * Batch norm without affine parameters, then a Linear: `[N, D]` → `[N, numClasses]`.
 *
 * In training the batch is normalised with its mean and **biased** variance,
 * and the running statistics move by `momentum` towards the batch mean and
 * the **unbiased** variance (torch `BatchNorm1d`); `num_batches_tracked`
 * counts the updates. At inference the running statistics are used.
 *
 * Official names (under the classifier's `head.`): `0.running_mean`,
 * `0.running_var`, `0.num_batches_tracked` (int), `1.weight`, `1.bias`.
 */
export class LinearProbeHead extends MAELayer {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAELinearProbeHead';
  /** Feature width D of the input `[N, D]`. */
  readonly inFeatures: number;
  /** Number of classes of the output `[N, numClasses]`. */
  readonly numClasses: number;
  /** Added to the variance in the batch norm. */
  readonly eps: number;
  /** Weight of the current batch in the running statistics (torch `momentum`). */
  readonly momentum: number;
  /** Standard deviation of the `N(0, std²)` init of the Linear weight. */
  readonly initStd: number;
  /** Seed of the weight init; `undefined` for a random init. */
  readonly seed?: number;
  /** The Linear `D → numClasses` (official `head.1`). */
  readonly linear: Linear;
  /** `[D]` running mean of the batch norm (official `head.0.running_mean`, not trained); created on build. */
  runningMean!: LayerVariable;
  /** `[D]` running unbiased variance (official `head.0.running_var`, not trained); created on build. */
  runningVar!: LayerVariable;
  /** `[]` number of running-statistics updates (official `head.0.num_batches_tracked`); created on build. */
  numBatchesTracked!: LayerVariable;

  constructor(args: LinearProbeHeadArgs) {
    super(args);
    this.inFeatures = positiveInt('LinearProbeHead.inFeatures', args.inFeatures);
    this.numClasses = positiveInt('LinearProbeHead.numClasses', args.numClasses);
    this.eps = positiveNumber('LinearProbeHead.eps', args.eps ?? 1e-6);
    this.momentum = checkRate('LinearProbeHead.momentum', args.momentum ?? 0.1);
    this.initStd = positiveNumber('LinearProbeHead.initStd', args.initStd ?? 0.01);
    this.seed = optionalSeed('seed', args.seed);
    this.linear = this.track(new Linear({ deferBuild: true, inFeatures: this.inFeatures, units: this.numClasses, seed: childSeed(this.seed, 0) }));
    this.buildUnlessDeferred(args);
  }

  protected override createWeights(): void {
    const d = this.inFeatures;
    this.runningMean = this.weight('running_mean', [d], zeros(), false);
    this.runningVar = this.weight('running_var', [d], ones(), false);
    this.numBatchesTracked = this.addWeight('num_batches_tracked', [], 'int32', zeros(), undefined, false);
    reinitLinear(this.linear, this.initStd, childSeed(this.seed, 1));
  }

  /**
   * `features [N, D]` → `logits [N, numClasses]`.
   * With `training: true`, N must be at least 2 (as torch requires).
   */
  forward(features: tf.Tensor, options: ProbeCallArgs = {}): tf.Tensor2D {
    this.ensureBuilt();
    const x = tensorOfRank('features', features, 2, '[N, D]');
    if (x.shape[1] !== this.inFeatures) {
      throw new MAEInputError(`features must have D = ${this.inFeatures} (axis 1), got shape ${describe(x.shape)}`);
    }
    if (options.training && x.shape[0] < 2) {
      throw new MAEInputError(`features must hold at least 2 samples to train the batch norm, got shape ${describe(x.shape)}`);
    }
    return tf.tidy(() => {
      const normed = options.training ? this.normaliseBatch(x) : this.normaliseRunning(x);
      return this.linear.call(normed) as tf.Tensor2D;
    });
  }

  /** Batch statistics (biased variance), and the running-statistics update. */
  private normaliseBatch(x: tf.Tensor): tf.Tensor {
    const n = x.shape[0];
    const mean = tf.mean(x, 0);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), 0);
    const m = this.momentum;
    // Buffers, not parameters: the loss never depends on them, so no gradient reaches them.
    this.runningMean.write(tf.add(tf.mul(this.runningMean.read(), 1 - m), tf.mul(mean, m)));
    this.runningVar.write(tf.add(tf.mul(this.runningVar.read(), 1 - m), tf.mul(variance, (m * n) / (n - 1))));
    this.numBatchesTracked.write(tf.add(this.numBatchesTracked.read(), tf.scalar(1, 'int32')));
    return tf.mul(xc, tf.rsqrt(tf.add(variance, this.eps)));
  }

  private normaliseRunning(x: tf.Tensor): tf.Tensor {
    return tf.mul(tf.sub(x, this.runningMean.read()), tf.rsqrt(tf.add(this.runningVar.read(), this.eps)));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: ProbeCallArgs = {}): tf.Tensor {
    return this.forward(Array.isArray(inputs) ? inputs[0] : inputs, kwargs);
  }

  override computeOutputShape(inputShape: (number | null)[]): (number | null)[] {
    return [inputShape[0], this.numClasses];
  }

  stateEntries(prefix = ''): StateEntry[] {
    this.ensureBuilt();
    return [
      { name: `${prefix}0.running_mean`, variable: this.runningMean, layout: { kind: 'same' } },
      { name: `${prefix}0.running_var`, variable: this.runningVar, layout: { kind: 'same' } },
      { name: `${prefix}0.num_batches_tracked`, variable: this.numBatchesTracked, layout: { kind: 'same' } },
      ...this.linear.stateEntries(`${prefix}1.`),
    ];
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      inFeatures: this.inFeatures,
      numClasses: this.numClasses,
      eps: this.eps,
      momentum: this.momentum,
      initStd: this.initStd,
      seed: this.seed ?? null,
    };
  }
}
serialization.registerClass(LinearProbeHead);

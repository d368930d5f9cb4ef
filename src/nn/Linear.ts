/** A fully connected layer whose backward pass is fast on every backend. */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { positiveInt, optionalSeed } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from './MAELayer';
import { linear } from './ops';
import { xavierUniform, zeros } from './init';

/** Arguments of {@link Linear}. */
export interface LinearArgs extends BaseLayerArgs {
  /** Input features (last axis of the input). Required. */
  inFeatures: number;
  /** Output features. Required. */
  units: number;
  /** Whether to add a bias. Defaults to `true`. */
  useBias?: boolean;
  /** Seed of the xavier-uniform kernel init. Defaults to a random init. */
  seed?: number;
}

/**
 * `y = x · kernel + bias` on the last axis: `[..., inFeatures]` → `[..., units]`.
 * The kernel is `[inFeatures, units]` (torch's `nn.Linear.weight` transposed),
 * initialised xavier-uniform with a zero bias, as the official MAE does.
 */
export class Linear extends MAELayer {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAELinear';
  /** Input features (last axis of the input). */
  readonly inFeatures: number;
  /** Output features. */
  readonly units: number;
  /** Whether a bias is added. */
  readonly useBias: boolean;
  /** Seed of the kernel init; `undefined` for a random init. */
  readonly seed?: number;
  /** `[inFeatures, units]` (torch `weight` transposed); created on build. */
  kernel!: LayerVariable;
  /** `[units]`, when `useBias`; created on build. */
  bias?: LayerVariable;

  constructor(args: LinearArgs) {
    super(args);
    this.inFeatures = positiveInt('Linear.inFeatures', args.inFeatures);
    this.units = positiveInt('Linear.units', args.units);
    this.useBias = args.useBias ?? true;
    this.seed = optionalSeed('seed', args.seed);
    this.buildUnlessDeferred(args);
  }

  protected override createWeights(): void {
    this.kernel = this.weight('kernel', [this.inFeatures, this.units], xavierUniform(this.seed));
    if (this.useBias) this.bias = this.weight('bias', [this.units], zeros());
  }

  /** `x`: `[..., inFeatures]` → `[..., units]`. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    this.ensureBuilt();
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => linear(x, this.kernel.read(), this.bias?.read()));
  }

  override computeOutputShape(inputShape: (number | null)[]): (number | null)[] {
    return [...inputShape.slice(0, -1), this.units];
  }

  stateEntries(prefix = ''): StateEntry[] {
    this.ensureBuilt();
    const out: StateEntry[] = [{ name: `${prefix}weight`, variable: this.kernel, layout: { kind: 'linear' } }];
    if (this.bias) out.push({ name: `${prefix}bias`, variable: this.bias, layout: { kind: 'same' } });
    return out;
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), inFeatures: this.inFeatures, units: this.units, useBias: this.useBias, seed: this.seed ?? null };
  }
}
serialization.registerClass(Linear);

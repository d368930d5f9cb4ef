/** Layer normalisation over the last axis, torch semantics. */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { positiveInt, positiveNumber } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from './MAELayer';
import { layerNorm } from './ops';
import { ones, zeros } from './init';

/** Arguments of {@link LayerNorm}. */
export interface LayerNormArgs extends BaseLayerArgs {
  /** Size of the normalised (last) axis. Required. */
  dim: number;
  /** Added to the variance. Defaults to `1e-6` (the official MAE factories; torch's own default is 1e-5). */
  eps?: number;
}

/**
 * `(x − mean) / √(var + eps) · gamma + beta` over the last axis, with the
 * biased variance (torch `nn.LayerNorm`). `[..., dim]` → `[..., dim]`.
 * Official names: `weight` (gamma, init 1), `bias` (beta, init 0).
 */
export class LayerNorm extends MAELayer {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAELayerNorm';
  /** Size of the normalised (last) axis. */
  readonly dim: number;
  /** Added to the variance. */
  readonly eps: number;
  /** `[dim]` scale (official `weight`, init 1); created on build. */
  gamma!: LayerVariable;
  /** `[dim]` shift (official `bias`, init 0); created on build. */
  beta!: LayerVariable;

  constructor(args: LayerNormArgs) {
    super(args);
    this.dim = positiveInt('LayerNorm.dim', args.dim);
    this.eps = positiveNumber('LayerNorm.eps', args.eps ?? 1e-6);
    this.buildUnlessDeferred(args);
  }

  protected override createWeights(): void {
    this.gamma = this.weight('gamma', [this.dim], ones());
    this.beta = this.weight('beta', [this.dim], zeros());
  }

  /** `x`: `[..., dim]` → `[..., dim]`. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    this.ensureBuilt();
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return layerNorm(x, this.gamma.read(), this.beta.read(), this.eps);
  }

  stateEntries(prefix = ''): StateEntry[] {
    this.ensureBuilt();
    return [
      { name: `${prefix}weight`, variable: this.gamma, layout: { kind: 'same' } },
      { name: `${prefix}bias`, variable: this.beta, layout: { kind: 'same' } },
    ];
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), dim: this.dim, eps: this.eps };
  }
}
serialization.registerClass(LayerNorm);

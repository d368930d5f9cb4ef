/** The transformer MLP: Linear → exact GELU → Linear (timm `Mlp`). */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { positiveInt, optionalSeed } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from './MAELayer';
import { Linear } from './Linear';
import { childSeed } from './init';
import { gelu } from './ops';

/** Arguments of {@link Mlp}. */
export interface MlpArgs extends BaseLayerArgs {
  /** Input and output width D. Required. */
  dim: number;
  /** Hidden width. Required (the blocks use `Math.trunc(D · mlpRatio)`). */
  hidden: number;
  /** Seed of the weight init. Defaults to a random init. */
  seed?: number;
}

/** `fc2(gelu(fc1(x)))`: `[..., D]` → `[..., D]`, with the exact erf GELU. */
export class Mlp extends MAELayer {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAEMlp';
  /** Input and output width D. */
  readonly dim: number;
  /** Hidden width. */
  readonly hidden: number;
  /** Seed of the weight init; `undefined` for a random init. */
  readonly seed?: number;
  /** D → hidden (official `mlp.fc1`). */
  readonly fc1: Linear;
  /** hidden → D (official `mlp.fc2`). */
  readonly fc2: Linear;

  constructor(args: MlpArgs) {
    super(args);
    this.dim = positiveInt('Mlp.dim', args.dim);
    this.hidden = positiveInt('Mlp.hidden', args.hidden);
    this.seed = optionalSeed('seed', args.seed);
    this.fc1 = this.track(new Linear({ deferBuild: true, inFeatures: this.dim, units: this.hidden, seed: childSeed(this.seed, 0) }));
    this.fc2 = this.track(new Linear({ deferBuild: true, inFeatures: this.hidden, units: this.dim, seed: childSeed(this.seed, 1) }));
    this.buildUnlessDeferred(args);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    this.ensureBuilt();
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => this.fc2.call(gelu(this.fc1.call(x))));
  }

  stateEntries(prefix = ''): StateEntry[] {
    return [...this.fc1.stateEntries(`${prefix}fc1.`), ...this.fc2.stateEntries(`${prefix}fc2.`)];
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), dim: this.dim, hidden: this.hidden, seed: this.seed ?? null };
  }
}
serialization.registerClass(Mlp);

/**
 * The base of every tfjs-mae layer: a tfjs-layers `Layer` that owns
 * sub-layers (tfjs-layers does not track nested layers itself) and knows the
 * official PyTorch name and layout of each of its weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import { layers, LayerVariable } from '@tensorflow/tfjs-layers';
import { MAEConfigError } from '../errors';
import { deferredInit, zeros, type Initializer } from './init';

/** How a weight is laid out in PyTorch relative to ours. */
export type TorchLayout =
  /** The same shape and order. */
  | {
      /** Discriminant. */
      kind: 'same';
    }
  /** A Linear weight: ours `[in, out]`, torch `[out, in]`. */
  | {
      /** Discriminant. */
      kind: 'linear';
    }
  /** The patch projection: ours `[p·p·C, D]` in patchify order, torch conv `[D, C, p, p]`. */
  | {
      /** Discriminant. */
      kind: 'patch';
      /** Patch side p. */
      patchSize: number;
      /** Image channels C. */
      inChans: number;
    };

/** One weight with its official (state-dict) name. */
export interface StateEntry {
  /** The official state-dict name, e.g. `blocks.0.attn.qkv.weight`. */
  name: string;
  /** The weight, in our layout. */
  variable: LayerVariable;
  /** How the PyTorch tensor of that name is laid out relative to `variable`. */
  layout: TorchLayout;
}

/** Arguments every tfjs-mae layer accepts (a subset of tfjs-layers' own `LayerArgs`). */
export interface BaseLayerArgs {
  /** Layer name, unique in the engine. Defaults to a generated one. */
  name?: string;
  /** Whether the weights are updated by training. Defaults to `true`. */
  trainable?: boolean;
  /**
   * Leave the weights to the first forward pass (or `ensureBuilt()`) instead
   * of creating them in the constructor. Defaults to `false`: a new layer has
   * all its weights, initialised, so `optimizer.minimize(() => mae.loss(x))`,
   * `tf.variableGrads` and `trainableWeights` work at once (tfjs only
   * differentiates variables that exist when they are called). Set it for a
   * layer you only read the configuration of (a ViT-H preset's weights take
   * 2.5 GB). (Loading a file with `fromPretrained` / `loadPretrainedModelFrom`
   * skips the random init of every weight the file provides on its own.)
   * Not part of `getConfig`.
   */
  deferBuild?: boolean;
}

/** A layer with tracked sub-layers and official weight names. */
export abstract class MAELayer extends layers.Layer {
  private readonly tracked: layers.Layer[] = [];

  /** Registers a sub-layer: its weights become this layer's weights. */
  protected track<T extends layers.Layer>(layer: T): T {
    this.tracked.push(layer);
    return layer;
  }

  /** This layer's trainable weights followed by those of its tracked sub-layers (none when `trainable` is false). */
  override get trainableWeights(): LayerVariable[] {
    const own = super.trainableWeights;
    if (!this.trainable) return own;
    return own.concat(...this.tracked.map((l) => l.trainableWeights));
  }

  /** Sets this layer's own trainable weights (as tfjs-layers' `Layer`). */
  override set trainableWeights(weights: LayerVariable[]) {
    super.trainableWeights = weights;
  }

  /** This layer's non-trainable weights followed by its sub-layers' (all of theirs when `trainable` is false). */
  override get nonTrainableWeights(): LayerVariable[] {
    const own = super.nonTrainableWeights;
    const children = this.tracked.map((l) => (this.trainable ? l.nonTrainableWeights : l.weights));
    return own.concat(...children);
  }

  /** Sets this layer's own non-trainable weights (as tfjs-layers' `Layer`). */
  override set nonTrainableWeights(weights: LayerVariable[]) {
    super.nonTrainableWeights = weights;
  }

  /** Builds this layer and its sub-layers (all shapes come from the config). */
  override build(inputShape: tf.serialization.ConfigDictValue | number[] | (number | null)[] = []): void {
    for (const l of this.tracked) {
      if (l instanceof MAELayer) l.ensureBuilt();
    }
    this.createWeights();
    void inputShape;
    this.built = true;
  }

  /** Creates this layer's own weights (not its sub-layers'). */
  protected createWeights(): void {}

  /**
   * The last line of a concrete layer's constructor: creates the weights
   * unless `args.deferBuild`. Sub-layers are constructed with `deferBuild: true`
   * (their parent's `build` builds them). A subclass whose `createWeights`
   * reads its own fields passes `deferBuild: true` to `super` and calls this
   * at the end of its own constructor.
   */
  protected buildUnlessDeferred(args: BaseLayerArgs): void {
    if (args.deferBuild !== true) this.ensureBuilt();
  }

  /** Creates the weights now if they do not exist yet; safe to call repeatedly. */
  ensureBuilt(): void {
    if (!this.built) {
      checkBackendRegistered(this.getClassName());
      this.build([]);
    }
    if (this._refCount === null) this._refCount = 1;
  }

  /**
   * This layer's weights under their official PyTorch names (`prefix` +
   * relative name), in state-dict order.
   */
  abstract stateEntries(prefix?: string): StateEntry[];

  /**
   * Creates a weight named `<layer name>/<name>`, initialised by
   * `initializer` (inside `deferInit`: zeros now, `initializer` drawn after
   * a load if the file does not provide the weight).
   */
  protected weight(
    name: string,
    shape: number[],
    initializer: Initializer,
    trainable = true,
  ): LayerVariable {
    const pending = deferredInit();
    if (pending === undefined) return this.addWeight(name, shape, 'float32', initializer, undefined, trainable);
    const variable = this.addWeight(name, shape, 'float32', zeros(), undefined, trainable);
    pending.set(variable, () => initializer.apply(shape, 'float32'));
    return variable;
  }

  /** Releases this layer's weights (and its sub-layers'). A layer that was never built has none. */
  override dispose(): {
    /** The layer's reference count after this call (0: its weights were released). */
    refCountAfterDispose: number;
    /** How many weight variables were disposed. */
    numDisposedVariables: number;
  } {
    if (!this.built) {
      // Sub-layers can be built on their own (a forward pass builds what it
      // uses): release theirs, then mark this layer disposed.
      let numDisposedVariables = 0;
      for (const l of this.tracked) {
        if (l instanceof MAELayer || l.built) numDisposedVariables += l.dispose().numDisposedVariables;
      }
      this._refCount = 0;
      return { refCountAfterDispose: 0, numDisposedVariables };
    }
    if (this._refCount === null) this._refCount = 1;
    return super.dispose();
  }
}

/**
 * tfjs-mae brings no backend (the application chooses one): without any
 * registered, creating the first weight failed inside tfjs-core with
 * `No backend found in registry.` and its stack.
 */
function checkBackendRegistered(className: string): void {
  if (tf.engine().backendNames().length > 0) return;
  throw new MAEConfigError(
    `${className}: no tfjs backend is registered, so its weights cannot be created. tfjs-mae brings none: import one before building a model, ` +
      `e.g. import '@tensorflow/tfjs-backend-wasm' then await tf.setBackend('wasm') (or @tensorflow/tfjs-backend-cpu, @tensorflow/tfjs-node)`,
  );
}

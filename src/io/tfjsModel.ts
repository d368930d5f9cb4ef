/**
 * Saving and restoring our models in the tfjs world, through any `tf.io`
 * IOHandler: `indexeddb://` / `localstorage://` / `downloads://` URLs in the
 * browser, `tf.io.withSaveHandler` / `tf.io.fromMemory`, or a folder in Node
 * (`nodeFolderHandler` in `./nodeFolder`). No tfjs-node needed.
 *
 * The artifacts: `modelTopology = { className, config }` (the registered
 * class and its `getConfig()`), and every weight under its official name in
 * **our** layout (Linear kernels `[in, out]`, the patch projection
 * `[p·p·C, D]`), so a reload is bit-identical. For PyTorch, export a state
 * dict instead (`writeSafetensors(model.stateDict())`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { CheckpointError, describe } from '../errors';
import { MAELayer } from '../nn/MAELayer';
import { deferInit } from '../nn/init';
import { weightsMetadata } from './modelConfig';

/** The `format` field of the artifacts we write. */
export const TFJS_MAE_FORMAT = 'tfjs-mae';

/** Options of {@link saveModel}. */
export interface SaveModelOptions {
  /**
   * More metadata to keep with the model (e.g. the `recipe` of the
   * safetensors file it came from), stored in the artifacts'
   * `userDefinedMetadata` next to `config` (the model's, as in a safetensors
   * `__metadata__`). A `format` key is dropped. Defaults to none.
   */
  metadata?: Record<string, string>;
}

/** `modelTopology` of a saved model. */
export interface SavedTopology {
  /** The registered class name (`static className`), e.g. `'MaskedAutoencoder'`. */
  className: string;
  /** The model's `getConfig()`. */
  config: serialization.ConfigDict;
}

function saveHandlerFor(destination: string | tf.io.IOHandler): tf.io.IOHandler {
  if (typeof destination !== 'string') {
    if (destination === null || typeof destination !== 'object' || typeof destination.save !== 'function') {
      throw new CheckpointError(`destination must be a URL string or a tf.io.IOHandler with save(), got ${describe(destination)}`);
    }
    return destination;
  }
  const handlers = tf.io.getSaveHandlers(destination);
  if (handlers.length !== 1) {
    throw new CheckpointError(
      `destination ${describe(destination)} matches ${handlers.length} tf.io save handlers, expected 1 ` +
        `(browser: 'indexeddb://name', 'localstorage://name', 'downloads://name'; Node: pass nodeFolderHandler(dir))`,
    );
  }
  return handlers[0];
}

function loadHandlerFor(source: string | tf.io.IOHandler): tf.io.IOHandler {
  if (typeof source !== 'string') {
    if (source === null || typeof source !== 'object' || typeof source.load !== 'function') {
      throw new CheckpointError(`source must be a URL string or a tf.io.IOHandler with load(), got ${describe(source)}`);
    }
    return source;
  }
  const handlers = tf.io.getLoadHandlers(source);
  if (handlers.length !== 1) {
    throw new CheckpointError(
      `source ${describe(source)} matches ${handlers.length} tf.io load handlers, expected 1 ` +
        `(browser: 'indexeddb://name', 'localstorage://name', an http(s) URL of model.json; Node: pass nodeFolderHandler(dir))`,
    );
  }
  return handlers[0];
}

/** Every weight of `model` with its official name; refuses weights that have none. */
function namedWeights(model: MAELayer): Array<{ name: string; variable: tf.Variable }> {
  const entries = model.stateEntries();
  const covered = new Set(entries.map((e) => e.variable));
  const stray = model.weights.filter((w) => !covered.has(w));
  if (stray.length > 0) {
    throw new CheckpointError(`model weights without an official name cannot be saved: ${describe(stray.map((w) => w.name))}`);
  }
  return entries.map((e) => ({ name: e.name, variable: e.variable.read() as tf.Variable }));
}

/**
 * Saves a model (its class, config and weights) through a tf.io handler or URL.
 *
 * ```ts
 * await saveModel(mae, 'indexeddb://my-mae');            // browser
 * await saveModel(mae, nodeFolderHandler('out/my-mae')); // Node: model.json + weights.bin
 * ```
 *
 * @param model a `MaskedAutoencoder`, `ViTEncoder`, `ViTClassifier` or any registered `MAELayer`
 * @param destination a URL with a registered tf.io save router, or an IOHandler
 * @param options metadata to keep with the model (`userDefinedMetadata`)
 * @returns the handler's `SaveResult`
 */
export async function saveModel(model: MAELayer, destination: string | tf.io.IOHandler, options: SaveModelOptions = {}): Promise<tf.io.SaveResult> {
  const handler = saveHandlerFor(destination);
  const { artifacts, weights } = modelArtifacts(model, options);
  const { data, specs } = await tf.io.encodeWeights(weights.map((w) => ({ name: w.name, tensor: w.variable })));
  return handler.save!({ ...artifacts, weightSpecs: specs, weightData: data });
}

/** What {@link modelArtifacts} returns. */
export interface ModelArtifactsParts {
  /** The artifacts without `weightSpecs` and `weightData`: topology, format, `userDefinedMetadata`. */
  artifacts: Omit<tf.io.ModelArtifacts, 'weightData' | 'weightSpecs'>;
  /** The weights in the order their bytes follow each other. */
  weights: Array<{
    /** The official name (the weight's name in the folder). */
    name: string;
    /** The weight, in our layout. */
    variable: tf.Variable;
  }>;
}

/**
 * What {@link saveModel} writes, except the weight bytes: the artifacts
 * (topology, format, `userDefinedMetadata`) and the weights in the order
 * their bytes follow each other (official names, our layout). For writers
 * that stream the weights one at a time (`writeTfjsFolder` in `tfjs-mae/node`).
 *
 * @throws CheckpointError for a layer that is not ours or not registered, or weights without an official name
 */
export function modelArtifacts(model: MAELayer, options: SaveModelOptions = {}): ModelArtifactsParts {
  if (!(model instanceof MAELayer)) throw new CheckpointError(`model must be a tfjs-mae layer, got ${describe(model)}`);
  const className = (model.constructor as { className?: string }).className;
  if (typeof className !== 'string' || !(className in serialization.SerializationMap.getMap().classNameMap)) {
    throw new CheckpointError(`model class ${describe(className)} is not registered with serialization.registerClass`);
  }
  const weights = namedWeights(model);
  const topology: SavedTopology = { className, config: model.getConfig() };
  const { format: _format, ...userDefinedMetadata } = weightsMetadata(model, options.metadata);
  const artifacts = { userDefinedMetadata, modelTopology: topology, format: TFJS_MAE_FORMAT, generatedBy: TFJS_MAE_FORMAT, convertedBy: null };
  return { artifacts, weights };
}

function readTopology(topology: unknown): SavedTopology {
  const t = topology as Partial<SavedTopology> | undefined;
  if (!t || typeof t !== 'object' || typeof t.className !== 'string' || !t.config || typeof t.config !== 'object') {
    throw new CheckpointError(
      `modelTopology must be { className, config } as saveModel writes it, got ${describe(topology instanceof ArrayBuffer ? 'an ArrayBuffer' : topology)}`,
    );
  }
  return t as SavedTopology;
}

/**
 * Rebuilds a model saved by {@link saveModel}: the class from its registered
 * name, `fromConfig(config)`, then every weight. The output is bit-identical
 * to the saved model's.
 *
 * @param source a URL with a registered tf.io load router, or an IOHandler (e.g. `tf.io.fromMemory(artifacts)`)
 * @throws CheckpointError for artifacts that are not ours, an unknown class, or missing / extra / mis-shaped weights (nothing leaks)
 */
export async function loadModel<T extends MAELayer = MAELayer>(source: string | tf.io.IOHandler): Promise<T> {
  const handler = loadHandlerFor(source);
  const artifacts = await handler.load!();
  const { className, config } = readTopology(artifacts.modelTopology);
  const registered = serialization.SerializationMap.getMap().classNameMap[className];
  if (!registered) throw new CheckpointError(`saved class ${describe(className)} is not registered (import the module that defines it)`);
  if (!artifacts.weightSpecs || !artifacts.weightData) throw new CheckpointError('the saved model has no weightSpecs / weightData');
  const [cls, fromConfig] = registered;
  // Every weight comes from the folder: built with zero placeholders, no random init.
  const [built, pending] = deferInit(() => fromConfig(cls, config));
  if (!(built instanceof MAELayer)) {
    throw new CheckpointError(`saved class ${describe(className)} is not a tfjs-mae layer`);
  }
  const model = built as T;
  const tensors = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
  try {
    const weights = namedWeights(model);
    const problems: string[] = [];
    for (const { name, variable } of weights) {
      const t = tensors[name];
      if (!t) problems.push(`missing ${name}`);
      else if (!tf.util.arraysEqual(t.shape, variable.shape) || t.dtype !== variable.dtype) {
        problems.push(`${name} is ${t.dtype} ${describe(t.shape)}, expected ${variable.dtype} ${describe(variable.shape)}`);
      }
    }
    const known = new Set(weights.map((w) => w.name));
    for (const name of Object.keys(tensors)) if (!known.has(name)) problems.push(`unexpected ${name}`);
    if (problems.length > 0) {
      const shown = problems.length > 6 ? `${problems.slice(0, 6).join('; ')}; … (${problems.length} in all)` : problems.join('; ');
      throw new CheckpointError(`saved weights do not match the ${className} rebuilt from its config: ${shown}`);
    }
    for (const { name, variable } of weights) variable.assign(tensors[name]);
    pending.initialize(); // draws nothing: every weight was assigned
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/**
 * Shared vocabulary of the training toolkit: named parameters, parameter
 * groups and named gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEInputError } from '../errors';

/**
 * One trainable parameter under its official PyTorch `state_dict` name
 * (`cls_token`, `blocks.3.attn.qkv.weight`, ...). The name, not the tfjs
 * variable name, is what parameter groups and optimiser state refer to.
 */
export interface NamedParam {
  /** The official `state_dict` name, e.g. `patch_embed.proj.weight`. */
  name: string;
  /** The tfjs variable holding the value; updated in place with `assign`. */
  variable: tf.Variable;
}

/**
 * Parameters that share a weight decay and a learning-rate scale, as a
 * torch optimiser `param_group` (see `paramGroups`).
 */
export interface ParamGroup {
  /** The parameters of this group. */
  params: NamedParam[];
  /** Decoupled weight decay of this group. Defaults to the optimiser's `weightDecay`. */
  weightDecay?: number;
  /** Multiplies the optimiser's learning rate for this group (layer-wise lr decay). Defaults to 1. */
  lrScale?: number;
  /** A label such as `layer_0_no_decay`, for logs only. Defaults to none. */
  name?: string;
}

/** Tensors by name: a `Map` or a plain record such as `tf.NamedTensorMap`. */
export type NamedTensors = Map<string, tf.Tensor> | Record<string, tf.Tensor | null>;

/**
 * The `[name, tensor]` pairs of a `NamedTensors`, skipping `null` entries
 * (`tf.variableGrads` reports non-trainable variables as `null`).
 */
export function namedEntries(tensors: NamedTensors, argName: string): [string, tf.Tensor][] {
  if (tensors == null || typeof tensors !== 'object') {
    throw new MAEInputError(`${argName}: expected a Map or record of tensors, got ${String(tensors)}`);
  }
  const entries: [string, tf.Tensor | null][] =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const out: [string, tf.Tensor][] = [];
  for (const [name, t] of entries) {
    if (t == null) continue;
    if (!(t instanceof tf.Tensor)) {
      throw new MAEInputError(`${argName}[${JSON.stringify(name)}]: expected a tf.Tensor, got ${typeof t}`);
    }
    out.push([name, t]);
  }
  return out;
}

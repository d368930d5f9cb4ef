/**
 * Parameter groups with the official MAE semantics: which parameters get
 * weight decay, and the layer-wise learning-rate decay of fine-tuning
 * (official `util/lr_decay.py`, `param_groups_lrd` and `get_layer_id_for_vit`).
 * Names are the official `state_dict` names.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, describe } from '../errors';
import { NamedParam, ParamGroup } from './types';

/**
 * Names never decayed by default: the class and mask tokens and the position
 * tables (`[1, 1, D]` and `[1, 1 + L, D]`, so not caught by the 1-D rule).
 */
export const NO_WEIGHT_DECAY_NAMES: readonly string[] = ['cls_token', 'mask_token', 'pos_embed', 'decoder_pos_embed'];

/** Options of `paramGroups`. */
export interface ParamGroupsArgs {
  /** Weight decay of the decayed parameters (weights with ≥ 2 dimensions). Required; MAE uses 0.05. */
  weightDecay: number;
  /**
   * Layer-wise lr decay: layer `id` gets `lrScale = layerDecay^(numLayers − id)`.
   * Defaults to none: two groups (`decay`, `no_decay`) with `lrScale` 1.
   */
  layerDecay?: number;
  /**
   * The official `num_layers = len(model.blocks) + 1` (encoder depth + 1).
   * Defaults to (largest `blocks.i` index + 1) + 1 found in the names.
   */
  numLayers?: number;
  /**
   * Exact names never decayed, besides 1-D parameters and `*.bias`.
   * Defaults to `NO_WEIGHT_DECAY_NAMES`; a list given here replaces it
   * (pass `[]` for the official pre-training, which decays the tokens).
   */
  noWeightDecay?: readonly string[];
}

/**
 * The layer id of a parameter for layer-wise lr decay, as the official
 * `get_layer_id_for_vit`: 0 for `cls_token`, `pos_embed` and `patch_embed.*`;
 * `i + 1` for `blocks.i.*`; `numLayers` for everything else (`norm`,
 * `fc_norm`, `head`, `mask_token`, `decoder_*`).
 */
export function layerId(name: string, numLayers: number): number {
  if (name === 'cls_token' || name === 'pos_embed' || name.startsWith('patch_embed')) return 0;
  const block = blockIndex(name);
  return block === undefined ? numLayers : block + 1;
}

/** `i` of a `blocks.i.*` name (an encoder block), else undefined. */
function blockIndex(name: string): number | undefined {
  const match = /^blocks\.(\d+)\./.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * Splits parameters into groups for `AdamW` as the official MAE code does.
 *
 * Weight decay: none for parameters with fewer than 2 dimensions (biases,
 * LayerNorm; from `variable.shape.length`), names ending `.bias`, and names in
 * `noWeightDecay`; `weightDecay` for the rest.
 *
 * Without `layerDecay`: at most two groups, `decay` and `no_decay`, `lrScale` 1.
 * With it: one group per (layer id, decay or not), named `layer_<id>_decay` /
 * `layer_<id>_no_decay`, with `lrScale = layerDecay^(numLayers − layerId)`.
 * Groups appear in the order of their first parameter.
 */
export function paramGroups(params: NamedParam[], args: ParamGroupsArgs): ParamGroup[] {
  const { weightDecay, layerDecay, noWeightDecay = NO_WEIGHT_DECAY_NAMES } = args;
  if (!isFiniteNumber(weightDecay) || weightDecay < 0) {
    throw new MAEConfigError(`paramGroups weightDecay: expected a finite number >= 0, got ${describe(weightDecay)}`);
  }
  if (layerDecay !== undefined && (!isFiniteNumber(layerDecay) || layerDecay <= 0)) {
    throw new MAEConfigError(`paramGroups layerDecay: expected a finite number > 0 (e.g. 0.75), got ${describe(layerDecay)}`);
  }
  if (!Array.isArray(params) || !params.every((p) => typeof p?.name === 'string' && p.variable instanceof tf.Variable)) {
    throw new MAEConfigError(`paramGroups params: expected an array of { name: string, variable: tf.Variable }, got ${describe(params)}`);
  }
  const names = params.map((p) => p.name);
  const numLayers = args.numLayers ?? defaultNumLayers(names);
  if (!Number.isInteger(numLayers) || numLayers < 1) {
    throw new MAEConfigError(`paramGroups numLayers: expected an integer >= 1 (depth + 1), got ${describe(numLayers)}`);
  }
  const skip = new Set(noWeightDecay);
  const groups = new Map<string, ParamGroup>();
  const seen = new Set<string>();
  for (const p of params) {
    if (seen.has(p.name)) throw new MAEConfigError(`paramGroups params: expected unique names, got "${p.name}" twice`);
    seen.add(p.name);
    const decay = !(p.variable.shape.length < 2 || p.name.endsWith('.bias') || skip.has(p.name));
    const suffix = decay ? 'decay' : 'no_decay';
    let key = suffix;
    let lrScale = 1;
    if (layerDecay !== undefined) {
      const id = layerId(p.name, numLayers);
      if (id > numLayers) {
        throw new MAEConfigError(`paramGroups numLayers: expected >= ${id} for parameter "${p.name}", got ${numLayers}`);
      }
      key = `layer_${id}_${suffix}`;
      lrScale = layerDecay ** (numLayers - id);
    }
    let group = groups.get(key);
    if (group == null) {
      group = { name: key, params: [], weightDecay: decay ? weightDecay : 0, lrScale };
      groups.set(key, group);
    }
    group.params.push(p);
  }
  return [...groups.values()];
}

/** `len(blocks) + 1`, with the encoder depth read from the `blocks.i.` names. */
function defaultNumLayers(names: string[]): number {
  const depth = Math.max(0, ...names.map((n) => (blockIndex(n) ?? -1) + 1));
  return depth + 1;
}

function isFiniteNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/**
 * Training checkpoints: everything a run needs to continue exactly where it
 * stopped (weights, optimiser moments, step, seed), and a one-file encoding
 * of it as safetensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, describe } from '../errors';
import type { StateEntry } from '../nn/MAELayer';
import { encodeSafetensors, parseSafetensors, readSafetensors } from '../io/safetensors';
import { loadStateDict } from '../io/stateDict';
import type { HostTensors } from '../io/hostTensor';
import type { AdamWParamState, AdamWState } from './adamw';

/**
 * A snapshot of a training run, handed to the `save` callback of `pretrain`
 * and accepted back as its `resume` option.
 */
export interface TrainingCheckpoint {
  /** The model weights as a safetensors file: official names, torch layouts (loads in PyTorch as is). */
  weights: Uint8Array;
  /** The optimiser state (`AdamW.getState()`, or `LARS.getState()`: `m` = the momentum buffer, `v` empty): tfjs layouts, keyed by official names. */
  optimizer: AdamWState;
  /** Optimiser steps done, i.e. the global index (0-based) of the next step. */
  step: number;
  /** The epoch (0-based) the next step belongs to; equals the epochs completed when saved at an epoch end. */
  epoch: number;
  /** The run's seed (mask noise; the data order if the data source uses it too). */
  seed: number;
  /** Optimiser steps per epoch of the run that wrote it (a resumed run must have the same). */
  stepsPerEpoch: number;
  /** Micro-batches per optimiser step of the run that wrote it. */
  accumSteps: number;
}

const FORMAT = 'tfjs-mae/training-checkpoint@1';
const M = 'optimizer.m.';
const V = 'optimizer.v.';

/** Throws a `CheckpointError` unless `ckpt` has the shape of a {@link TrainingCheckpoint}. */
export function checkCheckpoint(ckpt: unknown, argName = 'resume'): TrainingCheckpoint {
  const c = ckpt as Partial<TrainingCheckpoint> | null;
  if (c == null || typeof c !== 'object') {
    throw new CheckpointError(`${argName}: expected a TrainingCheckpoint { weights, optimizer, step, epoch, seed, ... }, got ${describe(ckpt)}`);
  }
  if (!(c.weights instanceof Uint8Array)) {
    throw new CheckpointError(`${argName}.weights: expected the safetensors bytes (Uint8Array), got ${describe(c.weights)}`);
  }
  if (c.optimizer == null || typeof c.optimizer !== 'object') {
    throw new CheckpointError(`${argName}.optimizer: expected an AdamW state { step, params }, got ${describe(c.optimizer)}`);
  }
  for (const key of ['step', 'epoch', 'seed', 'stepsPerEpoch', 'accumSteps'] as const) {
    const v = c[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new CheckpointError(`${argName}.${key}: expected an integer >= 0, got ${describe(v)}`);
    }
  }
  return c as TrainingCheckpoint;
}

/**
 * Packs a checkpoint into one safetensors file: the model weights under their
 * official names (so the file also loads as a plain state dict, extra keys
 * aside), the moments as `optimizer.m.<name>` / `optimizer.v.<name>`, and the
 * counters in `__metadata__`.
 */
export function encodeCheckpoint(ckpt: TrainingCheckpoint): Uint8Array {
  const c = checkCheckpoint(ckpt, 'ckpt');
  const weights = parseSafetensors(c.weights);
  const host: HostTensors = new Map(weights.tensors);
  const paramSteps: Record<string, number> = {};
  for (const [name, p] of Object.entries(c.optimizer.params ?? {})) {
    host.set(`${M}${name}`, { dtype: 'float32', shape: [...p.shape], data: p.m, sourceDtype: 'F32' });
    if (p.v.length > 0) host.set(`${V}${name}`, { dtype: 'float32', shape: [...p.shape], data: p.v, sourceDtype: 'F32' }); // LARS has no v
    paramSteps[name] = p.step;
  }
  const meta = {
    step: c.step,
    epoch: c.epoch,
    seed: c.seed,
    stepsPerEpoch: c.stepsPerEpoch,
    accumSteps: c.accumSteps,
    optimizerStep: c.optimizer.step,
    paramSteps,
  };
  const { format: weightsFormat, ...otherMeta } = weights.metadata;
  return encodeSafetensors(host, {
    ...otherMeta,
    ...(weightsFormat === undefined ? {} : { weightsFormat }),
    format: FORMAT,
    training: JSON.stringify(meta),
  });
}

/** The inverse of {@link encodeCheckpoint}. Throws a `CheckpointError` for any other file. */
export function decodeCheckpoint(bytes: Uint8Array): TrainingCheckpoint {
  const parsed = parseSafetensors(bytes);
  if (parsed.metadata.format !== FORMAT || parsed.metadata.training === undefined) {
    throw new CheckpointError(
      `bytes: expected a training checkpoint (metadata format "${FORMAT}"), got format ${describe(parsed.metadata.format ?? null)}`,
    );
  }
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(parsed.metadata.training) as Record<string, unknown>;
  } catch {
    throw new CheckpointError('bytes: the "training" metadata is not valid JSON');
  }
  const weights: HostTensors = new Map();
  const params: Record<string, AdamWParamState> = {};
  const paramSteps = (meta.paramSteps ?? {}) as Record<string, number>;
  for (const [name, t] of parsed.tensors) {
    const isM = name.startsWith(M);
    if (!isM && !name.startsWith(V)) {
      weights.set(name, t);
      continue;
    }
    const key = name.slice(M.length); // M and V have the same length
    if (t.dtype !== 'float32') throw new CheckpointError(`bytes: optimizer tensor "${name}" must be float32, got ${t.dtype}`);
    const entry = (params[key] ??= { step: paramSteps[key] ?? 0, shape: t.shape, m: new Float32Array(0), v: new Float32Array(0) });
    if (isM) entry.m = t.data as Float32Array;
    else entry.v = t.data as Float32Array;
  }
  const { format: _f, training: _t, weightsFormat, ...others } = parsed.metadata;
  void _f;
  void _t;
  const rest = weightsFormat === undefined ? others : { ...others, format: weightsFormat };
  return checkCheckpoint(
    {
      weights: encodeSafetensors(weights, rest),
      optimizer: { step: meta.optimizerStep as number, params },
      step: meta.step as number,
      epoch: meta.epoch as number,
      seed: meta.seed as number,
      stepsPerEpoch: meta.stepsPerEpoch as number,
      accumSteps: meta.accumSteps as number,
    },
    'bytes',
  );
}

/** Loads a checkpoint's weights (`TrainingCheckpoint.weights`: official names, torch layouts) into `entries`; every entry must be there. */
export function loadCheckpointWeights(entries: StateEntry[], weights: Uint8Array): void {
  const tensors = readSafetensors(weights);
  try {
    loadStateDict(entries, tensors, { naming: 'official' });
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

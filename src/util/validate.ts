/** Argument checks shared by every layer; each throws a one-line typed error. */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';

/** `value` must be an integer ≥ 1. */
export function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new MAEConfigError(`${name} must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

/** `value` must be an integer ≥ 0 (e.g. a depth: 0 blocks is a valid ablation). */
export function nonNegativeInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new MAEConfigError(`${name} must be an integer ≥ 0, got ${describe(value)}`);
  }
  return value;
}

/** `value` must be a finite number > 0. */
export function positiveNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new MAEConfigError(`${name} must be a finite number > 0, got ${describe(value)}`);
  }
  return value;
}

/**
 * An optional seed: `undefined` (or `null`) draws at random, otherwise an
 * integer ≥ 0 (a fractional seed would silently give unrelated streams).
 */
export function optionalSeed(name: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  // Not only safe integers: seeds derived for sub-layers and sub-calls (childSeed) grow past 2^53.
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new MAEConfigError(`${name} must be an integer ≥ 0 (the same seed gives the same result), got ${describe(value)}`);
  }
  return value;
}

/** `value` must be `true` or `false` (a switch). */
export function flag(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new MAEConfigError(`${name} must be true or false, got ${describe(value)}`);
  return value;
}

/** A size given as `n` or `[h, w]`, returned as `[h, w]` of positive integers. */
export function pair(name: string, value: unknown): [number, number] {
  if (Array.isArray(value)) {
    if (value.length !== 2) {
      throw new MAEConfigError(`${name} must be a positive integer or [height, width], got ${describe(value)}`);
    }
    return [positiveInt(`${name}[0]`, value[0]), positiveInt(`${name}[1]`, value[1])];
  }
  const n = positiveInt(name, value);
  return [n, n];
}

/** `0 ≤ maskRatio < 1`. */
export function maskRatio(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1) {
    throw new MAEConfigError(`${name} must be a number in [0, 1), got ${describe(value)}`);
  }
  return value;
}

/** `dim` must be divisible by `divisor` (e.g. embedDim by numHeads). */
export function divisible(name: string, value: number, divisor: number, why: string): void {
  if (value % divisor !== 0) {
    throw new MAEConfigError(`${name} must be divisible by ${divisor} (${why}), got ${value}`);
  }
}

/** The tensor must be a tf.Tensor of the given rank. */
export function tensorOfRank(name: string, x: unknown, rank: number, layout: string): tf.Tensor {
  if (!(x instanceof tf.Tensor)) {
    throw new MAEInputError(`${name} must be a tf.Tensor of shape ${layout}, got ${describe(x)}`);
  }
  if (x.rank !== rank) {
    throw new MAEInputError(`${name} must have rank ${rank} (${layout}), got shape ${describe(x.shape)}`);
  }
  return x;
}

/** The tensor must be float32 (images, features); integers get a hint on how to convert. */
export function floatTensor(name: string, x: tf.Tensor): void {
  if (x.dtype !== 'float32') {
    throw new MAEInputError(
      `${name} must be float32, got ${x.dtype}; convert with tf.div(tf.cast(${name}, 'float32'), 255) ` +
        `(and normalise as your model expects)`,
    );
  }
}

/** Checks one dimension of a shape. */
export function dimEquals(name: string, x: tf.Tensor, axis: number, expected: number, what: string): void {
  if (x.shape[axis] !== expected) {
    throw new MAEInputError(
      `${name} must have ${what} = ${expected} (axis ${axis}), got shape ${describe(x.shape)}`,
    );
  }
}

/** Keys tfjs-layers itself puts in a layer config (kept by `getConfig`, accepted by every layer). */
const LAYER_KEYS = ['name', 'trainable', 'deferBuild', 'dtype', 'batchInputShape', 'inputShape', 'batchSize', 'inputDType', 'weights'];

const camel = (key: string): string => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Refuses configuration keys a layer does not know — a misspelt or
 * snake_case key (`img_size`) would otherwise be silently ignored.
 */
export function knownKeys(what: string, args: object, allowed: readonly string[]): void {
  const ok = new Set([...allowed, ...LAYER_KEYS]);
  for (const key of Object.keys(args)) {
    if (ok.has(key) || (args as Record<string, unknown>)[key] === undefined) continue;
    const hint = ok.has(camel(key)) ? `; did you mean ${camel(key)}?` : `; known keys: ${allowed.join(', ')}`;
    throw new MAEConfigError(`${what} has no config key ${JSON.stringify(key)}${hint}`);
  }
}

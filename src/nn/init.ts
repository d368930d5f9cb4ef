/**
 * The official MAE initialisers, as tfjs-layers initializers with optional
 * seeds; and the deferred initialisation a load builds its model under.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initializers, type LayerVariable } from '@tensorflow/tfjs-layers';

/** A tfjs-layers weight initializer. */
export type Initializer = ReturnType<typeof initializers.zeros>;

/** xavier-uniform (`torch.nn.init.xavier_uniform_`), the official init of every Linear weight. */
export function xavierUniform(seed?: number): Initializer {
  return initializers.glorotUniform({ seed });
}

/** `N(0, std²)`, the official init of `cls_token` and `mask_token` (std 0.02). */
export function normal(std: number, seed?: number): Initializer {
  return initializers.randomNormal({ mean: 0, stddev: std, seed: normalSeed(seed) });
}

/** `U(−bound, bound)`: PyTorch's default bias init `bound = 1/√fanIn` (the patch-embed conv bias). */
export function uniform(bound: number, seed?: number): Initializer {
  return initializers.randomUniform({ minval: -bound, maxval: bound, seed });
}

export const zeros = (): Initializer => initializers.zeros();
export const ones = (): Initializer => initializers.ones();

/**
 * Seeds for the sub-layers of a layer built with `seed`: `undefined` stays
 * random, otherwise each sub-layer gets its own reproducible seed.
 */
export function childSeed(seed: number | undefined, index: number): number | undefined {
  return seed === undefined ? undefined : seed * 1009 + index + 1;
}

/**
 * A seed for tfjs' normal draws (`tf.randomNormal`, `truncatedNormal`),
 * which treat a falsy seed as "no seed": seed 0 would draw differently on
 * every run. Integer seeds map to `seed + 0.5`, never 0 and never another
 * integer seed; `undefined` stays random.
 */
export function normalSeed(seed: number | undefined): number | undefined {
  return seed === undefined ? undefined : seed + 0.5;
}


/** A weight's initial value, drawn when called (a new tensor; the caller disposes it). */
export type Draw = () => tf.Tensor;

/**
 * The initial values {@link deferInit} left to draw: one per weight created
 * (or re-initialised) while it ran, each weight holding a zero placeholder
 * until then. Holds no tensors, only the draws.
 */
export class DeferredInit {
  private readonly draws = new Map<LayerVariable, { draw: Draw; placeholder: tf.Tensor['dataId'] }>();

  /** Records `draw` as the initial value of `variable` (replacing an earlier one). */
  set(variable: LayerVariable, draw: Draw): void {
    const placeholder = this.draws.get(variable)?.placeholder ?? variable.read().dataId;
    this.draws.set(variable, { draw, placeholder });
  }

  /** How many weights wait for their initial value. */
  get size(): number {
    return this.draws.size;
  }

  /**
   * Draws the initial value of every recorded weight that still holds its
   * placeholder (one written since, e.g. loaded from a file, is left as
   * is), in creation order. Returns how many were drawn.
   */
  initialize(): number {
    let drawn = 0;
    for (const [variable, { draw, placeholder }] of this.draws) {
      if (variable.read().dataId !== placeholder) continue;
      tf.tidy(() => void variable.write(draw()));
      drawn++;
    }
    this.draws.clear();
    return drawn;
  }
}

let active: DeferredInit | undefined;

/**
 * Runs `build` with weight initialisation deferred: every weight it creates
 * (through `MAELayer.weight` or {@link initWeight}) starts as zeros, and its
 * real initial value (same initialiser, same seed) is recorded instead of
 * drawn. A loader writes what the file holds, then calls
 * `initialize()` to draw only what the file did not provide, so a load
 * never pays for a random init the file overwrites. Seeded draws are
 * stateless in tfjs, so the values are those an immediate init gives.
 */
export function deferInit<T>(build: () => T): [T, DeferredInit] {
  const outer = active;
  const pending = new DeferredInit();
  active = pending;
  try {
    return [build(), pending];
  } finally {
    active = outer;
  }
}

/** The deferral in effect (inside {@link deferInit}), else `undefined`. */
export function deferredInit(): DeferredInit | undefined {
  return active;
}

/**
 * Sets a built weight's initial value: written now, or, inside
 * {@link deferInit}, recorded to be drawn after the load unless the file
 * provides the weight.
 */
export function initWeight(variable: LayerVariable, draw: Draw): void {
  if (active) active.set(variable, draw);
  else tf.tidy(() => void variable.write(draw()));
}

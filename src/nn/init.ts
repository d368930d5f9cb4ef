/** The official MAE initialisers, as tfjs-layers initializers with optional seeds. */
import { initializers } from '@tensorflow/tfjs-layers';

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


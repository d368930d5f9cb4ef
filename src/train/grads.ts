/**
 * Gradient utilities of a custom training loop: accumulation over
 * micro-batches (official `accum_iter`) and global-norm clipping (torch
 * `clip_grad_norm_`). Everything stays on the device.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { NamedTensors, namedEntries } from './types';

/**
 * Sums the gradients of several micro-batches, then hands back their mean,
 * which equals the gradient of the mean loss over the micro-batches (the
 * official code divides each loss by `accum_iter` instead).
 *
 * `add` copies what it needs: the caller still owns and disposes the
 * gradients it passes. The accumulator keeps one running sum per name; call
 * `dispose()` to drop a partial sum.
 *
 * @example
 * const acc = new GradAccumulator(4);
 * for (const micro of microBatches) {
 *   const { value, grads } = tf.variableGrads(() => loss(micro), opt.variables);
 *   acc.add(grads);
 *   tf.dispose([value, ...Object.values(grads)]);
 *   if (acc.ready) { const mean = acc.average(); opt.step(mean, lr); tf.dispose(Object.values(mean)); }
 * }
 */
export class GradAccumulator {
  /** Micro-batches per optimiser step (official `accum_iter`). */
  readonly microBatches: number;
  private sums: Map<string, tf.Tensor> | null = null;
  private added = 0;

  /** @param microBatches micro-batches per optimiser step, an integer ≥ 1. */
  constructor(microBatches: number) {
    if (!Number.isInteger(microBatches) || microBatches < 1) {
      throw new MAEConfigError(`GradAccumulator microBatches: expected an integer >= 1, got ${describe(microBatches)}`);
    }
    this.microBatches = microBatches;
  }

  /** Micro-batches summed since the last `average()`. */
  get count(): number {
    return this.added;
  }

  /** True once `microBatches` micro-batches have been added. */
  get ready(): boolean {
    return this.added === this.microBatches;
  }

  /**
   * Adds one micro-batch's gradients. Every micro-batch must have the same
   * names and shapes as the first one.
   */
  add(grads: NamedTensors): void {
    if (this.ready) {
      throw new MAEInputError(`GradAccumulator.add: expected average() after ${this.microBatches} micro-batches, got another add()`);
    }
    const entries = namedEntries(grads, 'GradAccumulator.add grads');
    const prev = this.sums;
    if (prev != null) checkSameNames(entries, prev);
    const next = tf.tidy(() => entries.map(([name, g]) => (prev ? tf.add(prev.get(name)!, g) : tf.clone(g))));
    if (prev != null) tf.dispose([...prev.values()]);
    this.sums = new Map(entries.map(([name], i) => [name, next[i]]));
    this.added += 1;
  }

  /**
   * The mean of the gradients added so far (sum / `count`), as new tensors the
   * caller owns; then starts over. Throws if nothing was added.
   */
  average(): Record<string, tf.Tensor> {
    const sums = this.sums;
    if (sums == null) throw new MAEInputError('GradAccumulator.average: expected at least one add() before, got none');
    const n = this.added;
    const mean = tf.tidy(() => {
      const out: Record<string, tf.Tensor> = {};
      for (const [name, sum] of sums) out[name] = tf.div(sum, n);
      return out;
    });
    this.dispose();
    return mean;
  }

  /** Drops the running sums (a partial accumulation); the accumulator can be reused. */
  dispose(): void {
    if (this.sums != null) tf.dispose([...this.sums.values()]);
    this.sums = null;
    this.added = 0;
  }
}

/** Result of `clipGradNorm`; the caller owns and disposes every tensor. */
export interface ClippedGrads {
  /** The gradients, scaled by `min(1, maxNorm / (totalNorm + 1e-6))`, by name. */
  grads: Record<string, tf.Tensor>;
  /** Global L2 norm of the gradients before clipping, a scalar. */
  totalNorm: tf.Scalar;
}

/**
 * Clips gradients by their global L2 norm as torch `clip_grad_norm_`:
 * `totalNorm = ‖(‖g₁‖, ‖g₂‖, …)‖`, then every gradient is multiplied by
 * `min(1, maxNorm / (totalNorm + 1e-6))`. Returns new tensors (the inputs
 * stay the caller's) and reads nothing back to the host.
 */
export function clipGradNorm(grads: NamedTensors, maxNorm: number): ClippedGrads {
  if (typeof maxNorm !== 'number' || !Number.isFinite(maxNorm) || maxNorm <= 0) {
    throw new MAEConfigError(`clipGradNorm maxNorm: expected a finite number > 0, got ${describe(maxNorm)}`);
  }
  const entries = namedEntries(grads, 'clipGradNorm grads');
  return tf.tidy(() => {
    const totalNorm =
      entries.length === 0 ? tf.scalar(0) : (tf.norm(tf.stack(entries.map(([, g]) => tf.norm(g)))) as tf.Scalar);
    const coef = tf.minimum(tf.div(maxNorm, tf.add(totalNorm, 1e-6)), 1);
    const clipped: Record<string, tf.Tensor> = {};
    for (const [name, g] of entries) clipped[name] = tf.mul(g, coef);
    return { grads: clipped, totalNorm };
  });
}

/** Throws unless `entries` has exactly the names and shapes of `sums`. */
function checkSameNames(entries: [string, tf.Tensor][], sums: Map<string, tf.Tensor>): void {
  const got = entries.map(([name]) => name);
  if (got.length !== sums.size || got.some((name) => !sums.has(name))) {
    throw new MAEInputError(
      `GradAccumulator.add grads: expected the names of the first micro-batch ${describe([...sums.keys()])}, got ${describe(got)}`,
    );
  }
  for (const [name, g] of entries) {
    const shape = sums.get(name)!.shape;
    if (!tf.util.arraysEqual(g.shape, shape)) {
      throw new MAEInputError(`GradAccumulator.add grads["${name}"]: expected shape ${describe(shape)}, got ${describe(g.shape)}`);
    }
  }
}

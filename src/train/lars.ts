/**
 * LARS (You et al., layer-wise adaptive rate scaling), update for update as
 * the official `util/lars.py` of facebookresearch/mae (used by
 * `main_linprobe.py`).
 *
 * For a parameter p with gradient g, group learning rate lr and weight decay wd:
 *
 *     if p has ≥ 2 dimensions:                 (not biases or norm weights)
 *         g ← g + wd·p
 *         q ← η·‖p‖ / ‖g‖   (1 when ‖p‖ = 0 or ‖g‖ = 0)    trust ratio, η = trustCoefficient
 *         g ← q·g
 *     μ ← momentum·μ + g                        (μ starts at 0)
 *     p ← p − lr·μ
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, MAEConfigError, MAEInputError, describe } from '../errors';
import type { AdamWState } from './adamw';
import type { NamedTensors, ParamGroup } from './types';
import { ParamSlots, nonNegative, type ParamSlot } from './paramSlots';

/** Options of {@link LARS}; the defaults are `util/lars.py`'s. */
export interface LARSArgs {
  /** Learning rate of `step` calls that do not pass one (before each group's `lrScale`). Defaults to 0. */
  lr?: number;
  /** Weight decay of groups that do not set their own (on ≥ 2-D parameters only). Defaults to 0. */
  weightDecay?: number;
  /** Momentum of the update buffer μ. Defaults to 0.9. */
  momentum?: number;
  /** η of the trust ratio `η·‖p‖/‖g‖`. Defaults to 0.001. */
  trustCoefficient?: number;
}

/**
 * Serialisable LARS state, from `getState` for `setState`, in the layout of
 * `AdamWState` so that a `TrainingCheckpoint` holds either: each parameter's
 * momentum buffer μ is its `m`, `v` is empty, `step` is the optimiser's step
 * count. Parameters that never received a gradient have no entry.
 */
export type LARSState = AdamWState;

interface Slot extends ParamSlot {
  mu?: tf.Variable;
}

/**
 * LARS over parameter groups (see `paramGroups`; a group's `lrScale`
 * multiplies the learning rate). Call `step(grads, lr)` after computing
 * gradients, e.g. those of `tf.variableGrads(f, opt.variables)`. A parameter
 * without a gradient is left untouched. Updates run on the device; no value
 * is read back. Call `dispose()` to free the momentum buffers.
 *
 * @example
 * const opt = new LARS([{ params }], { weightDecay: 0 });
 * const { value, grads } = tf.variableGrads(() => loss(batch), opt.variables);
 * opt.step(grads, 0.1 * batchSize / 256);
 */
export class LARS {
  /** Learning rate used by `step` when none is passed. */
  lr: number;
  /** Default weight decay of groups that do not set one. */
  readonly weightDecay: number;
  /** Momentum of the update buffer. */
  readonly momentum: number;
  /** η of the trust ratio. */
  readonly trustCoefficient: number;
  private readonly params: ParamSlots<Slot>;
  private stepCount = 0;
  private disposed = false;

  constructor(groups: ParamGroup[], args: LARSArgs = {}) {
    const { lr = 0, weightDecay = 0, momentum = 0.9, trustCoefficient = 0.001 } = args;
    this.lr = nonNegative(lr, 'LARS lr');
    this.weightDecay = nonNegative(weightDecay, 'LARS weightDecay');
    this.momentum = nonNegative(momentum, 'LARS momentum');
    this.trustCoefficient = nonNegative(trustCoefficient, 'LARS trustCoefficient');
    this.params = new ParamSlots<Slot>(groups, 'LARS', this.weightDecay, (slot) => slot);
  }

  /** The optimised variables in group order, e.g. the `varList` of `tf.variableGrads`. */
  get variables(): tf.Variable[] {
    return this.params.variables;
  }

  /** `step` calls so far. */
  get steps(): number {
    return this.stepCount;
  }

  /**
   * Applies one LARS update to every parameter that has a gradient.
   * @param grads gradients keyed by `NamedParam.name` or variable name; they stay the caller's
   * @param lr learning rate of this step, before each group's `lrScale`. Defaults to `this.lr`.
   */
  step(grads: NamedTensors, lr: number = this.lr): void {
    this.assertLive('step');
    nonNegative(lr, 'LARS.step lr', MAEInputError);
    const updates = this.params.match(grads);
    this.stepCount += 1;
    for (const [slot, grad] of updates) this.update(slot, grad, lr * slot.lrScale);
  }

  /** Copies the momentum buffers to the host (for checkpoints). */
  async getState(): Promise<LARSState> {
    this.assertLive('getState');
    const params: LARSState['params'] = {};
    for (const s of this.params.slots) {
      if (s.mu === undefined) continue;
      params[s.param.name] = { step: this.stepCount, shape: [...s.mu.shape], m: Float32Array.from(await s.mu.data()), v: new Float32Array(0) };
    }
    return { step: this.stepCount, params };
  }

  /**
   * Replaces the momentum buffers with those of `getState` (resume).
   * Parameters absent from `state.params` restart with μ = 0. Nothing changes
   * if the state does not match the parameters (a `CheckpointError` says why).
   */
  setState(state: LARSState): void {
    this.assertLive('setState');
    if (state == null || !Number.isSafeInteger(state.step) || state.step < 0 || state.params == null || typeof state.params !== 'object') {
      throw new CheckpointError(`LARS.setState state: expected { step, params } from getState(), got ${describe(state)}`);
    }
    const loads = Object.entries(state.params).map(([name, p]) => {
      const where = `LARS.setState state.params["${name}"]`;
      const slot = this.params.slots.find((s) => s.param.name === name);
      if (slot === undefined) throw new CheckpointError(`${where}: expected a parameter of the optimiser, got an unknown name`);
      const shape = slot.param.variable.shape;
      if (p == null || !Array.isArray(p.shape) || !tf.util.arraysEqual(p.shape, shape)) {
        throw new CheckpointError(`${where}: expected { shape: ${describe(shape)}, m }, got ${describe(p)}`);
      }
      if (!(p.m instanceof Float32Array) || p.m.length !== slot.param.variable.size) {
        throw new CheckpointError(`${where}.m: expected the momentum buffer, a Float32Array of ${slot.param.variable.size} values, got ${describe(p.m?.length)} values`);
      }
      return [slot, p.m] as const;
    });
    for (const s of this.params.slots) {
      s.mu?.dispose();
      s.mu = undefined;
    }
    for (const [slot, m] of loads) slot.mu = tf.tidy(() => tf.variable(tf.tensor(m, slot.param.variable.shape, 'float32'), false));
    this.stepCount = state.step;
  }

  /** Frees the momentum buffers. The optimiser cannot be used afterwards. */
  dispose(): void {
    for (const s of this.params.slots) {
      s.mu?.dispose();
      s.mu = undefined;
    }
    this.disposed = true;
  }

  private assertLive(method: string): void {
    if (this.disposed) throw new MAEConfigError(`LARS.${method}: expected a live optimiser, got one after dispose()`);
  }

  private update(slot: Slot, grad: tf.Tensor, lr: number): void {
    const p = slot.param.variable;
    const mu = (slot.mu ??= tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    tf.tidy(() => {
      let g = grad;
      if (p.rank > 1) g = this.trustScaled(p, tf.add(g, tf.mul(p, slot.weightDecay)));
      const muNew = tf.add(tf.mul(mu, this.momentum), g);
      mu.assign(muNew);
      p.assign(tf.sub(p, tf.mul(muNew, lr)));
    });
  }

  /** `g · η‖p‖/‖g‖`, or `g` when either norm is 0. */
  private trustScaled(p: tf.Tensor, g: tf.Tensor): tf.Tensor {
    const pNorm = tf.norm(p);
    const gNorm = tf.norm(g);
    const bothPositive = tf.logicalAnd(tf.greater(pNorm, 0), tf.greater(gNorm, 0));
    const safeG = tf.where(bothPositive, gNorm, tf.onesLike(gNorm));
    const q = tf.where(bothPositive, tf.div(tf.mul(pNorm, this.trustCoefficient), safeG), tf.onesLike(pNorm));
    return tf.mul(g, q);
  }
}

/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, update for
 * update as torch 1.13 `torch.optim.AdamW` (single-tensor path, no amsgrad).
 *
 * For step t of a parameter p with gradient g, group learning rate lr and
 * group weight decay wd:
 *
 *     p ← p · (1 − lr·wd)                          decoupled weight decay
 *     m ← β1·m + (1 − β1)·g                        first moment
 *     v ← β2·v + (1 − β2)·g²                       second moment
 *     p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, MAEConfigError, MAEInputError, describe } from '../errors';
import type { NamedTensors, ParamGroup } from './types';
import { ParamSlots, nonNegative, type ParamSlot } from './paramSlots';

/** Options of `AdamW`; defaults are torch's. */
export interface AdamWArgs {
  /** Learning rate of `step` calls that do not pass one (before each group's `lrScale`). Defaults to 1e-3. */
  lr?: number;
  /** [β1, β2], decay rates of the first and second moment estimates. Defaults to [0.9, 0.999]. */
  betas?: [number, number];
  /** Added to the bias-corrected √v in the denominator. Defaults to 1e-8. */
  eps?: number;
  /** Decoupled weight decay of every group that does not set its own. Defaults to 0.01. */
  weightDecay?: number;
}

/** Serialisable optimiser state of one parameter. */
export interface AdamWParamState {
  /** Updates applied to this parameter so far (torch counts per parameter). */
  step: number;
  /** The parameter's shape; `m` and `v` hold `prod(shape)` values in C order. */
  shape: number[];
  /** First moment estimate m. */
  m: Float32Array;
  /** Second moment estimate v. */
  v: Float32Array;
}

/**
 * Serialisable optimiser state, from `getState` for `setState`. Parameters
 * that never received a gradient have no entry (torch has no state for them either).
 */
export interface AdamWState {
  /** `step` calls so far. */
  step: number;
  /** Per-parameter state, keyed by `NamedParam.name`. */
  params: Record<string, AdamWParamState>;
}

/** One parameter with its group settings and moments (created at its first gradient). */
interface Slot extends ParamSlot {
  step: number;
  m?: tf.Variable;
  v?: tf.Variable;
}

/**
 * AdamW over parameter groups (see `paramGroups`). Call `step(grads)` after
 * computing gradients; each group's learning rate is `lr × lrScale`, and its
 * weight decay is applied as `p ← p(1 − lr·lrScale·wd)`.
 *
 * Gradients are keyed by `NamedParam.name` or by the tfjs variable name, so
 * the output of `tf.variableGrads(f, opt.variables)` can be passed as is.
 * A parameter without a gradient (absent or `null`) is left untouched, no
 * weight decay either, as in torch.
 *
 * Updates run on the device in `tf.tidy` and `Variable.assign`; no value is
 * read back to the host. The moments m and v are non-trainable variables the
 * optimiser owns: call `dispose()` when done.
 *
 * @example
 * const opt = new AdamW(paramGroups(params, { weightDecay: 0.05 }), { betas: [0.9, 0.95] });
 * const { value, grads } = tf.variableGrads(() => loss(batch), opt.variables);
 * opt.step(grads, schedule(step));
 * tf.dispose([value, ...Object.values(grads)]);
 */
export class AdamW {
  /** Learning rate used by `step` when none is passed. */
  lr: number;
  /** β1, decay rate of the first moment m. */
  readonly beta1: number;
  /** β2, decay rate of the second moment v. */
  readonly beta2: number;
  /** Added to the bias-corrected √v. */
  readonly eps: number;
  /** Default weight decay of groups that do not set one. */
  readonly weightDecay: number;
  private readonly params: ParamSlots<Slot>;
  private stepCount = 0;
  private disposed = false;

  constructor(groups: ParamGroup[], args: AdamWArgs = {}) {
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01 } = args;
    this.lr = nonNegative(lr, 'AdamW lr');
    if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => Number.isFinite(b) && b >= 0 && b < 1)) {
      throw new MAEConfigError(`AdamW betas: expected [beta1, beta2] each in [0, 1), got ${describe(betas)}`);
    }
    [this.beta1, this.beta2] = betas;
    this.eps = nonNegative(eps, 'AdamW eps');
    this.weightDecay = nonNegative(weightDecay, 'AdamW weightDecay');
    this.params = new ParamSlots(groups, 'AdamW', this.weightDecay, (slot) => ({ ...slot, step: 0 }));
  }

  private get slots(): Slot[] {
    return this.params.slots;
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
   * Applies one AdamW update to every parameter that has a gradient.
   * @param grads gradients shaped like their parameters, keyed by
   *   `NamedParam.name` or variable name. They stay owned by the caller.
   * @param lr learning rate of this step, before each group's `lrScale`.
   *   Defaults to `this.lr`.
   */
  step(grads: NamedTensors, lr: number = this.lr): void {
    this.assertLive('step');
    nonNegative(lr, 'AdamW.step lr', MAEInputError);
    const updates = this.params.match(grads);
    this.stepCount += 1;
    for (const [slot, grad] of updates) this.update(slot, grad, lr);
  }

  /** Copies the optimiser state to the host (for checkpoints). */
  async getState(): Promise<AdamWState> {
    this.assertLive('getState');
    const params: Record<string, AdamWParamState> = {};
    for (const s of this.slots) {
      if (s.m == null || s.v == null) continue;
      const [m, v] = await Promise.all([s.m.data(), s.v.data()]);
      params[s.param.name] = {
        step: s.step,
        shape: [...s.param.variable.shape],
        m: Float32Array.from(m),
        v: Float32Array.from(v),
      };
    }
    return { step: this.stepCount, params };
  }

  /**
   * Replaces the optimiser state with one from `getState` (resume). Parameters
   * absent from `state.params` restart with no moments. Nothing changes if
   * the state does not match the parameters (a `CheckpointError` says why).
   */
  setState(state: AdamWState): void {
    this.assertLive('setState');
    const entries = checkState(state, (name) => this.slots.find((s) => s.param.name === name));
    this.slots.forEach(resetSlot);
    for (const [slot, p] of entries) {
      slot.step = p.step;
      slot.m = momentVariable(p.m, p.shape);
      slot.v = momentVariable(p.v, p.shape);
    }
    this.stepCount = state.step;
  }

  /** Frees the moment variables. The optimiser cannot be used afterwards. */
  dispose(): void {
    this.slots.forEach(resetSlot);
    this.disposed = true;
  }

  private update(slot: Slot, grad: tf.Tensor, baseLr: number): void {
    const p = slot.param.variable;
    const m = (slot.m ??= momentVariable(null, p.shape));
    const v = (slot.v ??= momentVariable(null, p.shape));
    slot.step += 1;
    const lr = baseLr * slot.lrScale;
    const biasCorrection1 = 1 - this.beta1 ** slot.step;
    const biasCorrection2 = 1 - this.beta2 ** slot.step;
    tf.tidy(() => {
      const decayed = tf.mul(p, 1 - lr * slot.weightDecay);
      const mNew = tf.add(tf.mul(m, this.beta1), tf.mul(grad, 1 - this.beta1));
      const vNew = tf.add(tf.mul(v, this.beta2), tf.mul(tf.mul(grad, grad), 1 - this.beta2));
      const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(biasCorrection2)), this.eps);
      m.assign(mNew);
      v.assign(vNew);
      p.assign(tf.sub(decayed, tf.mul(tf.div(mNew, denom), lr / biasCorrection1)));
    });
  }

  private assertLive(method: string): void {
    if (this.disposed) throw new MAEConfigError(`AdamW.${method}: expected a live optimiser, got one after dispose()`);
  }
}

/** Validates `state` against the parameters; returns the (slot, state) pairs to load. */
function checkState(state: AdamWState, find: (name: string) => Slot | undefined): [Slot, AdamWParamState][] {
  if (state == null || !isCount(state.step) || state.params == null || typeof state.params !== 'object') {
    throw new CheckpointError(`AdamW.setState state: expected { step, params } from getState(), got ${describe(state)}`);
  }
  return Object.entries(state.params).map(([name, p]) => {
    const slot = find(name);
    const where = `AdamW.setState state.params["${name}"]`;
    if (slot == null) throw new CheckpointError(`${where}: expected a parameter of the optimiser, got an unknown name`);
    const shape = slot.param.variable.shape;
    if (p == null || !isCount(p.step) || !Array.isArray(p.shape) || !tf.util.arraysEqual(p.shape, shape)) {
      throw new CheckpointError(`${where}: expected { step, shape: ${describe(shape)}, m, v }, got ${describe(p)}`);
    }
    const size = tf.util.sizeFromShape(shape);
    for (const key of ['m', 'v'] as const) {
      if (!(p[key] instanceof Float32Array) || p[key].length !== size) {
        throw new CheckpointError(`${where}.${key}: expected a Float32Array of ${size} values, got ${describe(p[key]?.length)} values`);
      }
    }
    return [slot, p];
  });
}

/** A non-trainable float32 variable holding `data` (zeros when null). */
function momentVariable(data: Float32Array | null, shape: number[]): tf.Variable {
  return tf.tidy(() => tf.variable(data == null ? tf.zeros(shape) : tf.tensor(data, shape, 'float32'), false));
}

function resetSlot(slot: Slot): void {
  slot.m?.dispose();
  slot.v?.dispose();
  slot.m = slot.v = undefined;
  slot.step = 0;
}

function isCount(x: unknown): x is number {
  return Number.isInteger(x) && (x as number) >= 0;
}

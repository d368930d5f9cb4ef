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

/**
 * One parameter with its group settings and moments (created at its first
 * gradient). Its moments live either here or, while its group updates as a
 * whole, in the group's flat moments.
 */
interface Slot extends ParamSlot {
  step: number;
  group: Group;
  m?: tf.Variable;
  v?: tf.Variable;
}

/**
 * A run of consecutive parameters of one group, at most FLAT_RUN_MAX_VALUES
 * values. When every one of them has a gradient and the
 * same step count (the usual case), the run updates as one flat vector:
 * about 15 kernels for the whole group instead of 14 per parameter (kernel
 * dispatch, not arithmetic, is most of AdamW's time on wasm). Its moments are
 * then kept flat (`m`, `v`: the parameters' moments concatenated in order);
 * a step that updates only some of them moves the moments back to the slots.
 */
interface Group {
  slots: Slot[];
  /**
   * Width of the rows the flat vectors are cut into (the gcd of the
   * parameters' sizes), or 0 when too narrow to be worth it (< 16): the group
   * then always updates parameter by parameter.
   */
  rowWidth: number;
  m?: tf.Variable;
  v?: tf.Variable;
  /** Per slot, the row indices `[rows, 1]` of its part of the flat vectors (made with `m`, `v`). */
  rows?: tf.Tensor2D[];
}

/** The AdamW constants of one update of parameters that share a step, lr and weight decay. */
interface UpdateConstants {
  lr: number;
  weightDecay: number;
  /** 1 − β1^t */
  biasCorrection1: number;
  /** 1 − β2^t */
  biasCorrection2: number;
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
  private readonly groups: Group[];
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
    this.params = new ParamSlots(groups, 'AdamW', this.weightDecay, (slot) => ({ ...slot, step: 0 }) as Slot);
    // ParamSlots keeps group order: each group's slots are the next params.length ones
    let next = 0;
    this.groups = groups.flatMap((g) =>
      flatRuns(this.slots.slice(next, (next += g.params.length))).map((slots) => {
        const group: Group = { slots, rowWidth: 0 };
        for (const s of slots) {
          s.group = group;
          group.rowWidth = gcd(group.rowWidth, s.param.variable.size);
        }
        if (group.rowWidth < MIN_ROW_WIDTH) group.rowWidth = 0;
        return group;
      }),
    );
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
    const byGroup = new Map<Group, Map<Slot, tf.Tensor>>();
    for (const [slot, grad] of updates) {
      const got = byGroup.get(slot.group) ?? new Map<Slot, tf.Tensor>();
      byGroup.set(slot.group, got.set(slot, grad));
    }
    for (const [group, got] of byGroup) {
      const { slots } = group;
      if (group.rowWidth > 0 && got.size === slots.length && slots.every((s) => s.step === slots[0].step)) {
        this.updateGroup(group, got, lr);
      } else {
        unflatten(group);
        for (const [slot, grad] of got) this.update(slot, grad, lr);
      }
    }
  }

  /** Copies the optimiser state to the host (for checkpoints). */
  async getState(): Promise<AdamWState> {
    this.assertLive('getState');
    const params: Record<string, AdamWParamState> = {};
    for (const group of this.groups) {
      let offset = 0;
      const flat = group.m != null && group.v != null ? await Promise.all([group.m.data(), group.v.data()]) : undefined;
      for (const s of group.slots) {
        const size = s.param.variable.size;
        const at = offset;
        offset += size;
        const [m, v] = flat?.map((x) => x.subarray(at, at + size)) ?? (s.m != null && s.v != null ? await Promise.all([s.m.data(), s.v.data()]) : []);
        if (m == null || v == null) continue;
        params[s.param.name] = {
          step: s.step,
          shape: [...s.param.variable.shape],
          m: Float32Array.from(m),
          v: Float32Array.from(v),
        };
      }
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
    this.groups.forEach(resetGroup);
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
    this.groups.forEach(resetGroup);
    this.slots.forEach(resetSlot);
    this.disposed = true;
  }

  /** One parameter, its moments in its slot. */
  private update(slot: Slot, grad: tf.Tensor, baseLr: number): void {
    const p = slot.param.variable;
    const m = (slot.m ??= momentVariable(null, p.shape));
    const v = (slot.v ??= momentVariable(null, p.shape));
    slot.step += 1;
    const k = this.constants(slot, slot.step, baseLr);
    tf.tidy(() => {
      const next = this.moments(grad, m, v, k);
      m.assign(next.m);
      v.assign(next.v);
      p.assign(applyUpdate(p, next.update, k));
    });
  }

  /** Every parameter of a group at once, as one flat vector (see `Group`). */
  private updateGroup(group: Group, grads: Map<Slot, tf.Tensor>, baseLr: number): void {
    const { slots } = group;
    const [m, v] = flatten(group);
    const step = slots[0].step + 1;
    for (const s of slots) s.step = step;
    const k = this.constants(slots[0], step, baseLr);
    tf.tidy(() => {
      const grad = flatConcat(slots.map((s) => grads.get(s)!));
      const next = this.moments(grad, m, v, k);
      grad.dispose(); // each flat vector freed once used: the run's peak stays a few vectors
      m.assign(next.m);
      v.assign(next.v);
      // the last op per parameter, so its new value is a kernel's own output of its shape
      // (wasm keeps a shape per buffer, and its fused matMul reads a bias's rank from it)
      const updates = flatSplit(group, next.update);
      slots.forEach((s, i) => s.param.variable.assign(applyUpdate(s.param.variable, updates[i], k)));
    });
  }

  private constants(slot: Slot, step: number, baseLr: number): UpdateConstants {
    return {
      lr: baseLr * slot.lrScale,
      weightDecay: slot.weightDecay,
      biasCorrection1: 1 - this.beta1 ** step,
      biasCorrection2: 1 - this.beta2 ** step,
    };
  }

  /**
   * The moments' part of the class comment, elementwise (inside the caller's
   * tidy): new m and v, and `update` = lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps).
   */
  private moments(grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, k: UpdateConstants): { m: tf.Tensor; v: tf.Tensor; update: tf.Tensor } {
    // one tidy per line: its temporaries are freed before the next line allocates
    const mNew = tf.tidy(() => tf.add(tf.mul(m, this.beta1), tf.mul(grad, 1 - this.beta1)));
    const vNew = tf.tidy(() => tf.add(tf.mul(v, this.beta2), tf.mul(tf.mul(grad, grad), 1 - this.beta2)));
    const update = tf.tidy(() => {
      const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(k.biasCorrection2)), this.eps);
      return tf.mul(tf.div(mNew, denom), k.lr / k.biasCorrection1);
    });
    return { m: mNew, v: vNew, update };
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

/** p · (1 − lr·wd) − update: decoupled weight decay, then the Adam step. */
function applyUpdate(p: tf.Tensor, update: tf.Tensor, k: UpdateConstants): tf.Tensor {
  return tf.sub(tf.mul(p, 1 - k.lr * k.weightDecay), update);
}

/**
 * Most values one flat update covers (4 MiB per vector). A flat update holds
 * about nine vectors of its run's size at its peak (gradient, moments old and
 * new, update, temporaries); one flat vector for all of ViT-B's 112 M
 * parameters needed gigabytes on top of the model and overflowed wasm's 4 GiB
 * heap at batch 16 with recomputation, and runs of 4 M values still raised
 * small64's step peak with recomputation by 87 MiB. Runs of 1 M values keep
 * the update's own peak near 36 MiB for about 15 kernels per run (small64:
 * 13 runs, ViT-B: 112), against 14 per parameter one by one.
 */
export const FLAT_RUN_MAX_VALUES = 1 << 20;

/** A group's slots cut, in order, into runs of at most FLAT_RUN_MAX_VALUES values (a larger parameter is a run of its own). */
function flatRuns(slots: Slot[]): Slot[][] {
  const runs: Slot[][] = [];
  let size = 0;
  for (const s of slots) {
    const n = s.param.variable.size;
    if (runs.length === 0 || size + n > FLAT_RUN_MAX_VALUES) {
      runs.push([]);
      size = 0;
    }
    runs[runs.length - 1].push(s);
    size += n;
  }
  return runs;
}

/** Narrowest rows worth cutting a flat vector into (see `Group.rowWidth`). */
const MIN_ROW_WIDTH = 16;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * A group's flat vector cut back into its parameters' shapes. Row blocks by
 * `gatherND`, not `tf.split`: wasm's Slice copies its whole input out of the
 * heap for every piece.
 */
function flatSplit(group: Group, flat: tf.Tensor): tf.Tensor[] {
  const width = group.rowWidth;
  if (group.rows == null) {
    let row = 0;
    group.rows = group.slots.map((s) => {
      const n = s.param.variable.size / width;
      const ids = Int32Array.from({ length: n }, (_, i) => row + i);
      row += n;
      return tf.keep(tf.tensor2d(ids, [n, 1], 'int32')); // the group owns them (see resetGroup)
    });
  }
  const rows = tf.reshape(flat, [-1, width]);
  return group.slots.map((s, i) => tf.reshape(tf.gatherND(rows, group.rows![i]), s.param.variable.shape));
}

/** Tensors flattened and concatenated, in order: `[Σ size]`. */
function flatConcat(xs: tf.Tensor[]): tf.Tensor1D {
  return tf.concat(xs.map((x) => tf.reshape(x, [-1]))) as tf.Tensor1D;
}

/** Moves the slots' moments (zeros where none yet) into the group's flat moments; returns them. */
function flatten(group: Group): [tf.Variable, tf.Variable] {
  if (group.m == null || group.v == null) {
    const flat = (key: 'm' | 'v') =>
      tf.tidy(() => tf.variable(flatConcat(group.slots.map((s) => s[key] ?? tf.zeros([s.param.variable.size]))), false));
    group.m = flat('m');
    group.v = flat('v');
    for (const s of group.slots) {
      tf.dispose([s.m, s.v].filter((x): x is tf.Variable => x != null));
      s.m = s.v = undefined;
    }
  }
  return [group.m, group.v];
}

/** Moves a group's flat moments back to its slots. */
function unflatten(group: Group): void {
  if (group.m == null || group.v == null) return;
  for (const key of ['m', 'v'] as const) {
    // × 1: a kernel's own output of the parameter's shape (see updateGroup)
    const parts = tf.tidy(() => flatSplit(group, group[key]!).map((x) => tf.mul(x, 1)));
    group.slots.forEach((s, i) => (s[key] = tf.variable(parts[i], false)));
    tf.dispose(parts);
  }
  resetGroup(group);
}

function resetGroup(group: Group): void {
  const owned: tf.Tensor[] = [...(group.rows ?? [])];
  if (group.m) owned.push(group.m);
  if (group.v) owned.push(group.v);
  tf.dispose(owned);
  group.m = group.v = group.rows = undefined;
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

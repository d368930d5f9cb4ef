/**
 * The parameter bookkeeping every optimiser shares: parameter groups
 * resolved to one slot per variable (with its group's weight decay and lr
 * scale), and gradients matched to slots by name, checked before any update.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { NamedParam, NamedTensors, ParamGroup, namedEntries } from './types';

/** One parameter with its group settings. */
export interface ParamSlot {
  /** The parameter. */
  param: NamedParam;
  /** Its group's weight decay. */
  weightDecay: number;
  /** Its group's learning-rate scale. */
  lrScale: number;
}

/** The slots of an optimiser's parameters, findable by `NamedParam.name` or variable name. */
export class ParamSlots<S extends ParamSlot> {
  /** The slots in group order. */
  readonly slots: S[] = [];
  private readonly byKey = new Map<string, S>();

  /**
   * @param who the optimiser's name for messages, e.g. `'AdamW'`
   * @param defaultWeightDecay weight decay of groups that set none
   * @param make extends a slot with the optimiser's own per-parameter fields
   */
  constructor(
    groups: ParamGroup[],
    private readonly who: string,
    defaultWeightDecay: number,
    make: (slot: ParamSlot) => S,
  ) {
    if (!Array.isArray(groups)) {
      throw new MAEConfigError(`${who} groups: expected an array of parameter groups, got ${describe(groups)}`);
    }
    groups.forEach((group, gi) => {
      const where = `${who} groups[${gi}]`;
      if (group == null || !Array.isArray(group.params)) {
        throw new MAEConfigError(`${where}.params: expected an array of { name, variable }, got ${describe(group)}`);
      }
      const weightDecay = nonNegative(group.weightDecay ?? defaultWeightDecay, `${where}.weightDecay`);
      const lrScale = nonNegative(group.lrScale ?? 1, `${where}.lrScale`);
      for (const param of group.params) this.add(make({ param, weightDecay, lrScale }), where);
    });
  }

  private add(slot: S, where: string): void {
    const { param } = slot;
    const name = param?.name;
    if (typeof name !== 'string' || name === '' || !(param.variable instanceof tf.Variable)) {
      throw new MAEConfigError(`${where}.params: expected { name: string, variable: tf.Variable }, got ${describe(param)}`);
    }
    if (param.variable.dtype !== 'float32') {
      throw new MAEConfigError(`${where} parameter "${name}": expected a float32 variable, got ${param.variable.dtype}`);
    }
    if (this.slots.some((s) => s.param.variable === param.variable)) {
      throw new MAEConfigError(`${where} parameter "${name}": expected each variable once, got it a second time`);
    }
    for (const key of new Set([name, param.variable.name])) {
      if (this.byKey.has(key)) {
        throw new MAEConfigError(`${where} parameter "${name}": expected unique names, got "${key}" twice`);
      }
      this.byKey.set(key, slot);
    }
    this.slots.push(slot);
  }

  /** The optimised variables in group order. */
  get variables(): tf.Variable[] {
    return this.slots.map((s) => s.param.variable);
  }

  /** Pairs each gradient with its slot, checking every key and shape before any update. */
  match(grads: NamedTensors): [S, tf.Tensor][] {
    const where = `${this.who}.step grads`;
    const seen = new Map<S, tf.Tensor>();
    for (const [key, grad] of namedEntries(grads, where)) {
      const slot = this.byKey.get(key);
      if (slot == null) {
        throw new MAEInputError(`${where}: expected parameter or variable names of the optimiser, got unknown "${key}"`);
      }
      if (seen.has(slot)) {
        throw new MAEInputError(`${where}: expected one gradient per parameter, got two for "${slot.param.name}"`);
      }
      if (!tf.util.arraysEqual(grad.shape, slot.param.variable.shape)) {
        throw new MAEInputError(`${where}["${key}"]: expected shape ${describe(slot.param.variable.shape)}, got ${describe(grad.shape)}`);
      }
      seen.set(slot, grad);
    }
    return [...seen];
  }
}

/** `x` must be a finite number ≥ 0; `what` names it in the message. */
export function nonNegative(x: number, what: string, ErrorClass = MAEConfigError): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) {
    throw new ErrorClass(`${what}: expected a finite number >= 0, got ${describe(x)}`);
  }
  return x;
}

/**
 * The optimiser choice of `linearProbe`: AdamW (the Fashion-MNIST reference
 * recipe, the default) or LARS as the official `main_linprobe.py`.
 */
import { MAEConfigError, describe } from '../errors';
import { AdamW, type AdamWState } from '../train/adamw';
import { LARS } from '../train/lars';
import type { NamedParam, NamedTensors } from '../train/types';

/** Optimiser options of {@link linearProbe}. */
export interface LinearProbeOptimizerOptions {
  /**
   * `'adamw'` (constant lr 1e-3 by default), or `'lars'` as `main_linprobe.py`
   * (momentum 0.9, trust coefficient 0.001, lr `0.1 × batchSize / 256` by
   * default). Defaults to `'adamw'`.
   */
  optimizer?: 'adamw' | 'lars';
  /** LARS momentum. Defaults to 0.9. */
  larsMomentum?: number;
  /** LARS trust coefficient η. Defaults to 0.001. */
  trustCoefficient?: number;
  /**
   * Learning rate of each step `(step) → lr` (0-based over the whole run;
   * e.g. `warmupCosine`, as `main_linprobe.py` does per iteration); replaces
   * the constant `lr`. Defaults to none.
   */
  schedule?: (step: number) => number;
}

/**
 * The official linear-probing recipe (`main_linprobe.py`): LARS, no weight
 * decay, base lr 0.1 scaled by `batchSize / 256` (the default with LARS), a
 * batch norm without affine (eps 1e-6) before the Linear (always there), no
 * augmentation beyond the crop and flip. Spread into `linearProbe`'s options
 * (the official run also warms up for 10 of 90 epochs, then a half cosine:
 * pass `schedule: warmupCosine(...)`).
 */
export const LINPROBE_RECIPE: LinprobeRecipe = { optimizer: 'lars', weightDecay: 0, bnEps: 1e-6 };

/** The values of {@link LINPROBE_RECIPE}, each a `linearProbe` option. */
export interface LinprobeRecipe {
  /** `'lars'`. */
  readonly optimizer: 'lars';
  /** 0 (`--weight_decay`). */
  readonly weightDecay: number;
  /** 1e-6, the head's `BatchNorm1d` eps. */
  readonly bnEps: number;
}

/** What `linearProbe` needs of an optimiser. */
export interface ProbeOptimizer {
  /** The optimised variables. */
  readonly variables: import('@tensorflow/tfjs-core').Variable[];
  /** One update. */
  step(grads: NamedTensors, lr: number): void;
  /** The state for a checkpoint (LARS: the momentum buffers as `m`). */
  getState(): Promise<AdamWState>;
  /** Loads a state of `getState`. */
  setState(state: AdamWState): void;
  /** Frees the optimiser's state. */
  dispose(): void;
}

/** Checks the optimiser options; returns the default constant lr for this optimiser and batch size. */
export function checkProbeOptimizer(o: LinearProbeOptimizerOptions, batchSize: number): number {
  if (o.optimizer !== undefined && o.optimizer !== 'adamw' && o.optimizer !== 'lars') {
    throw new MAEConfigError(`linearProbe optimizer: expected 'adamw' or 'lars', got ${describe(o.optimizer)}`);
  }
  for (const name of ['larsMomentum', 'trustCoefficient'] as const) {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new MAEConfigError(`linearProbe ${name}: expected a finite number >= 0, got ${describe(v)}`);
    }
  }
  if (o.schedule !== undefined && typeof o.schedule !== 'function') {
    throw new MAEConfigError(`linearProbe schedule: expected a function (step) => lr, got ${describe(o.schedule)}`);
  }
  return o.optimizer === 'lars' ? (0.1 * batchSize) / 256 : 1e-3;
}

/** The probe's optimiser over `params`. */
export function probeOptimizer(
  params: NamedParam[],
  o: LinearProbeOptimizerOptions & { lr: number; betas: [number, number]; weightDecay: number },
): ProbeOptimizer {
  if (o.optimizer === 'lars') {
    return new LARS([{ params, weightDecay: o.weightDecay }], { lr: o.lr, momentum: o.larsMomentum, trustCoefficient: o.trustCoefficient });
  }
  return new AdamW([{ params, weightDecay: o.weightDecay }], { lr: o.lr, betas: o.betas, eps: 1e-8 });
}

/** The lr of step `step`: the schedule's (checked) or the constant. */
export function probeLr(o: { schedule?: (step: number) => number; lr: number }, step: number): number {
  if (o.schedule === undefined) return o.lr;
  const lr = o.schedule(step);
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
    throw new MAEConfigError(`linearProbe schedule: expected a finite lr >= 0 at step ${step}, got ${describe(lr)}`);
  }
  return lr;
}

/**
 * Learning-rate schedules of the MAE recipe (official `util/lr_sched.py` and
 * the `lr = blr × batch / 256` rule of `main_pretrain.py`).
 */
import { MAEConfigError, MAEInputError, describe } from '../errors';

/** Options of `warmupCosine`. */
export interface WarmupCosineArgs {
  /** Peak learning rate, reached at the end of the warmup. Required. */
  baseLr: number;
  /** Learning rate at the end of the cosine. Defaults to 0. */
  minLr?: number;
  /** Length of the linear warmup from 0; may be fractional (5 % of 936 = 46.8). Required, ≥ 0. */
  warmupSteps: number;
  /**
   * Length of the whole schedule, warmup included. Required, > 0. A warmup as
   * long as the schedule or longer never ends: the lr rises linearly to the
   * last step, as the official code does (e.g. `--epochs 1` with the default
   * `--warmup-epochs 5`).
   */
  totalSteps: number;
}

/** Options of `warmupCosineEpochs`: the official arguments in epochs. */
export interface WarmupCosineEpochsArgs {
  /** Peak learning rate (official `args.lr`). Required. */
  baseLr: number;
  /** Final learning rate (official `args.min_lr`). Defaults to 0. */
  minLr?: number;
  /** Warmup length in epochs (official `args.warmup_epochs`); may be fractional. Required. */
  warmupEpochs: number;
  /** Schedule length in epochs (official `args.epochs`). Required, > 0 (see `WarmupCosineArgs.totalSteps`). */
  epochs: number;
  /** Iterations per epoch (official `len(data_loader)`). Required. */
  stepsPerEpoch: number;
}

/**
 * Linear warmup then half-cycle cosine, evaluated per iteration as the
 * official `adjust_learning_rate`. For a (possibly fractional) step s:
 *
 *     s < W:  lr = baseLr · s / W
 *     else:   lr = minLr + (baseLr − minLr) · ½ (1 + cos(π (s − W) / (T − W)))
 *
 * so lr(0) = 0, lr(W) = baseLr and lr(T) = minLr; steps past T give lr(T).
 * With W ≥ T (a warmup that outlasts the schedule, which the official code
 * allows) every step is in the warmup.
 * The unit is free: pass steps, or fractional epochs as the official code.
 * A negative or non-finite step throws `MAEInputError`.
 */
export function warmupCosine(args: WarmupCosineArgs): (step: number) => number {
  const { baseLr, minLr = 0, warmupSteps: warmup, totalSteps: total } = args;
  checkNonNegative(baseLr, 'warmupCosine baseLr');
  checkNonNegative(minLr, 'warmupCosine minLr');
  checkNonNegative(warmup, 'warmupCosine warmupSteps');
  if (typeof total !== 'number' || !Number.isFinite(total) || total <= 0) {
    throw new MAEConfigError(`warmupCosine totalSteps: expected a finite number > 0, got ${describe(total)}`);
  }
  return (step: number): number => {
    if (typeof step !== 'number' || !Number.isFinite(step) || step < 0) {
      throw new MAEInputError(`warmupCosine step: expected a finite number >= 0, got ${describe(step)}`);
    }
    const s = Math.min(step, total);
    if (s < warmup || total <= warmup) return (baseLr * s) / warmup;
    const progress = s - warmup;
    return minLr + (baseLr - minLr) * 0.5 * (1 + Math.cos((Math.PI * progress) / (total - warmup)));
  };
}

/**
 * `warmupCosine` with the official epoch arguments, called per iteration:
 * iteration `step` (0-based, over all epochs) is epoch `step / stepsPerEpoch`,
 * as `data_iter_step / len(data_loader) + epoch` in the official loop.
 */
export function warmupCosineEpochs(args: WarmupCosineEpochsArgs): (step: number) => number {
  const { baseLr, minLr, warmupEpochs, epochs, stepsPerEpoch } = args;
  if (!Number.isInteger(stepsPerEpoch) || stepsPerEpoch < 1) {
    throw new MAEConfigError(`warmupCosineEpochs stepsPerEpoch: expected an integer >= 1, got ${describe(stepsPerEpoch)}`);
  }
  checkNonNegative(warmupEpochs, 'warmupCosineEpochs warmupEpochs');
  if (typeof epochs !== 'number' || !Number.isFinite(epochs) || epochs <= 0) {
    throw new MAEConfigError(`warmupCosineEpochs epochs: expected a finite number > 0, got ${describe(epochs)}`);
  }
  const byEpoch = warmupCosine({ baseLr, minLr, warmupSteps: warmupEpochs, totalSteps: epochs });
  return (step: number) => byEpoch(step / stepsPerEpoch);
}

/**
 * The linear scaling rule of MAE: `lr = blr × batchSize / 256`, where
 * `batchSize` is the effective batch (per-step batch × accumulation steps ×
 * workers) and `blr` the base learning rate (1.5e-4 for MAE pre-training).
 */
export function scaledLr(blr: number, batchSize: number): number {
  checkNonNegative(blr, 'scaledLr blr');
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new MAEConfigError(`scaledLr batchSize: expected an integer >= 1, got ${describe(batchSize)}`);
  }
  return (blr * batchSize) / 256;
}

function checkNonNegative(x: number, what: string): void {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) {
    throw new MAEConfigError(`${what}: expected a finite number >= 0, got ${describe(x)}`);
  }
}

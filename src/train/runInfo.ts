/**
 * What a training loop reports before its first step: the learning rate it
 * will use, where that number came from, and whether it is large enough to
 * move the weights at all.
 */

/** What a training loop reports once, before the first optimiser step of a call. */
export interface RunInfo {
  /** Optimiser steps of the whole run (all epochs). */
  totalSteps: number;
  /** Global index of the first step of this call (`resume.step`, or 0). */
  firstStep: number;
  /** Images per optimiser step: the first batch's size × `accumSteps`. */
  effectiveBatch: number;
  /** The peak lr: the default schedule's (the `lr` option or the official rule), or the largest step lr of a `schedule`. */
  peakLr: number;
  /** Where the lr comes from, e.g. `official rule blr × batch / 256 = 1.5e-4 × 16 / 256`. */
  lrRule: string;
  /**
   * The sum of the lr over every step of the run. AdamW moves each weight by
   * about the lr per step at most (its update is lr × m/√v, with |m/√v| ≲ 1),
   * so this bounds how far any weight can travel in the whole run.
   */
  lrSum: number;
  /** Set when `lrSum` is below {@link MIN_LR_SUM}: the run will barely change the weights. */
  warning?: string;
}

/**
 * Below this sum of learning rates over a run, training barely starts.
 * Measured on the Fashion-MNIST tiny model (`examples/fmnist/recipe.ts`),
 * batch 16, 50 steps, warmup 5 % + cosine, AdamW, wasm; the mean loss of
 * the first 5 steps is 2.70 at the smallest lr:
 *
 * | peak lr | sum over the run | mean loss of the last 5 steps |
 * |---|---|---|
 * | 9.4e-6 (official rule at batch 16) | 2.3e-4 | 1.82 |
 * | 3e-5 | 7.5e-4 | 1.20 |
 * | 1e-4 | 2.5e-3 | 0.99 |
 * | 1e-3 | 2.5e-2 | 0.77 |
 * | 3e-3 | 7.5e-2 | 0.68 |
 *
 * The threshold sits between the official rule's sum (which ends 2.4× above
 * what a peak of 1e-3 reaches in the same steps) and the smallest measured
 * sum that trains.
 */
export const MIN_LR_SUM = 5e-4;

/** Arguments of {@link runInfo}. */
export interface RunInfoArgs {
  /** The loop's name, e.g. `'pretrain'`. */
  label: string;
  /** The schedule the run uses, `step → lr`. */
  schedule: (step: number) => number;
  /** Optimiser steps of the whole run. */
  totalSteps: number;
  /** First step of this call. */
  firstStep: number;
  /** Images per optimiser step. */
  effectiveBatch: number;
  /** The base lr of the official rule (`blr`). */
  blr: number;
  /** How the schedule was chosen: the official rule, the `lr` option, or a user `schedule`. */
  source: 'rule' | 'lr' | 'schedule';
  /** The default schedule's peak (`lr`, or the rule's value); unused with a user `schedule`. */
  baseLr: number;
}

/** The {@link RunInfo} of a run: peak and sum of the schedule over all steps, the rule, and a warning when the sum is too small. */
export function runInfo(a: RunInfoArgs): RunInfo {
  let largest = 0;
  let lrSum = 0;
  for (let s = 0; s < a.totalSteps; s++) {
    const lr = a.schedule(s);
    if (Number.isFinite(lr)) {
      largest = Math.max(largest, lr);
      lrSum += lr;
    }
  }
  const peakLr = a.source === 'schedule' ? largest : a.baseLr;
  const lrRule =
    a.source === 'rule'
      ? `official rule blr × batch / 256 = ${a.blr} × ${a.effectiveBatch} / 256`
      : a.source === 'lr'
        ? 'the lr option'
        : 'the schedule option';
  const info: RunInfo = { totalSteps: a.totalSteps, firstStep: a.firstStep, effectiveBatch: a.effectiveBatch, peakLr, lrRule, lrSum };
  if (lrSum < MIN_LR_SUM) {
    const hint = a.source === 'rule' ? ` (the official rule is meant for batches of hundreds or thousands of images; pass lr: 1e-3 to 3e-3 trains small models at batches of 16 to 256, see docs/results.md)` : '';
    info.warning =
      `${a.label}: the learning rates of the ${a.totalSteps} steps sum to ${lrSum.toExponential(1)}, below ${MIN_LR_SUM}: ` +
      `AdamW moves a weight by about the lr per step, so this run will barely change the weights${hint}`;
  }
  return info;
}

/** The start line of a run, e.g. `50 steps of 16 images, peak lr 9.38e-6 (official rule blr × batch / 256 = 1.5e-4 × 16 / 256)`. */
export function formatRunInfo(info: RunInfo): string {
  const from = info.firstStep > 0 ? ` from step ${info.firstStep + 1}` : '';
  return `${info.totalSteps} steps of ${info.effectiveBatch} images${from}, peak lr ${info.peakLr.toExponential(2)} (${info.lrRule})`;
}

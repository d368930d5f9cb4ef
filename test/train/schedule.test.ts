import { describe, expect, it } from 'vitest';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { scaledLr, warmupCosine, warmupCosineEpochs } from '../../src/train/schedule';

/** |got − want| ≤ 1e-12·|want| (plus 1e-18 for the zeros): float64 agreement up to rounding order. */
function expectLr(got: number, want: number) {
  expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * Math.abs(want) + 1e-18);
}

/*
 * Expected values computed independently in float64 with Python, the formula
 * of the official util/lr_sched.py applied per iteration:
 *
 *   def lr_at(step, total, warmup, peak, min_lr=0.0):
 *       if step < warmup: return peak * step / warmup
 *       return min_lr + (peak - min_lr) * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / (total - warmup)))
 *   [repr(lr_at(s, 936, 46.8, 1.5e-3)) for s in STEPS]
 */
describe('warmupCosine', () => {
  it('matches the Fashion-MNIST reference schedule (peak 1.5e-3, W = 46.8, T = 936)', () => {
    const lr = warmupCosine({ baseLr: 1.5e-3, warmupSteps: 0.05 * 936, totalSteps: 936 });
    const table: [number, number][] = [
      [0, 0],
      [1, 3.205128205128205e-5],
      [10, 0.0003205128205128205], // 1.5e-3 · 10 / 46.8
      [46, 0.0014743589743589746],
      [46.8, 0.0015], // the peak
      [47, 0.0014999998127628257],
      [100, 0.0014867908030617486],
      [234, 0.0013418553820472954], // end of epoch 1
      [491.4, 0.0007500000000000002], // half-way through the cosine
      [700, 0.0002459504997559437],
      [935, 4.6809246830314955e-9], // the last step taken
      [936, 0],
    ];
    for (const [step, want] of table) expectLr(lr(step), want);
  });

  it('ends at minLr and stays there past totalSteps', () => {
    // [repr(lr_at(s, 200, 10, 1e-3, 1e-5)) for s in (0, 20, 100, 200)]
    const lr = warmupCosine({ baseLr: 1e-3, minLr: 1e-5, warmupSteps: 10, totalSteps: 200 });
    const table: [number, number][] = [[0, 0], [20, 0.0009932488451843476], [100, 0.0005458767760088046], [200, 1e-5]];
    for (const [step, want] of table) expectLr(lr(step), want);
    expect(lr(250)).toBe(1e-5);
  });

  it('without warmup starts at the peak', () => {
    expect(warmupCosine({ baseLr: 2e-3, warmupSteps: 0, totalSteps: 10 })(0)).toBe(2e-3);
  });

  it('a warmup that outlasts the schedule ramps to the last step, as the official code (epochs 1, warmup 5)', () => {
    // official lr_sched.adjust_learning_rate: epoch < warmup_epochs → lr · epoch / warmup_epochs
    const lr = warmupCosineEpochs({ baseLr: 1e-3, warmupEpochs: 5, epochs: 1, stepsPerEpoch: 4 });
    expect([0, 1, 2, 3].map(lr)).toEqual([0, 1, 2, 3].map((i) => (1e-3 * (i / 4)) / 5));
    expect(lr(100)).toBe((1e-3 * 1) / 5); // past the end: the last value
    const equal = warmupCosine({ baseLr: 1e-3, warmupSteps: 10, totalSteps: 10 });
    expect([equal(5), equal(10), equal(20)]).toEqual([5e-4, 1e-3, 1e-3]);
  });

  it('rejects bad arguments and steps with typed errors', () => {
    expect(() => warmupCosine({ baseLr: 1e-3, warmupSteps: 10, totalSteps: 0 })).toThrow(/totalSteps: expected a finite number > 0, got 0/);
    expect(() => warmupCosine({ baseLr: 1e-3, warmupSteps: 10, totalSteps: Number.POSITIVE_INFINITY })).toThrow(MAEConfigError);
    expect(() => warmupCosine({ baseLr: -1, warmupSteps: 1, totalSteps: 10 })).toThrow(MAEConfigError);
    expect(() => warmupCosine({ baseLr: 1e-3, warmupSteps: Number.NaN, totalSteps: 10 })).toThrow(/warmupSteps/);
    const lr = warmupCosine({ baseLr: 1e-3, warmupSteps: 1, totalSteps: 10 });
    expect(() => lr(-1)).toThrow(MAEInputError);
    expect(() => lr(Number.NaN)).toThrow(/warmupCosine step: expected a finite number >= 0, got NaN/);
  });
});

describe('warmupCosineEpochs (official arguments in epochs)', () => {
  it('matches the official per-iteration epoch fractions: 40 warmup of 800 epochs, 100 iterations each', () => {
    // official: lr_at(data_iter_step / 100 + epoch, 800, 40, 2.4e-3) for iteration = epoch·100 + data_iter_step
    const lr = warmupCosineEpochs({ baseLr: scaledLr(1.5e-4, 4096), warmupEpochs: 40, epochs: 800, stepsPerEpoch: 100 });
    const table: [number, number][] = [
      [0, 0],
      [50, 2.9999999999999997e-5],
      [3999, 0.0023994],
      [4000, 0.0024],
      [4001, 0.002399999998974764],
      [42000, 0.0012],
      [80000, 0],
    ];
    for (const [step, want] of table) expectLr(lr(step), want);
  });

  it('rejects bad epoch arguments naming them', () => {
    expect(() => warmupCosineEpochs({ baseLr: 1e-3, warmupEpochs: 5, epochs: 0, stepsPerEpoch: 10 })).toThrow(/warmupCosineEpochs epochs: expected a finite number > 0, got 0/);
    expect(() => warmupCosineEpochs({ baseLr: 1e-3, warmupEpochs: 1, epochs: 4, stepsPerEpoch: 0 })).toThrow(/stepsPerEpoch/);
  });
});

describe('scaledLr', () => {
  it('is blr × batch / 256', () => {
    expect(scaledLr(1.5e-4, 4096)).toBe(2.4e-3);
    expect(scaledLr(1.5e-3, 256)).toBe(1.5e-3);
    expect(scaledLr(1e-3, 64)).toBe(2.5e-4);
    expect(() => scaledLr(1e-3, 0)).toThrow(/scaledLr batchSize: expected an integer >= 1, got 0/);
    expect(() => scaledLr(-1, 8)).toThrow(/scaledLr blr/);
  });
});

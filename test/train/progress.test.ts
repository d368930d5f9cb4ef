import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatDuration, formatStep, progressPrinter, type StepInfo } from '../../src/train/progress';

const info = (over: Partial<StepInfo> = {}): StepInfo => ({
  step: 299, epoch: 1, stepInEpoch: 65, stepsPerEpoch: 234, totalSteps: 936, epochs: 4,
  loss: 0.30123, lr: 1.4567e-3, imagesPerSec: 312.4, etaSec: 312, ...over,
});

afterEach(() => vi.restoreAllMocks());

describe('progress', () => {
  it('formats a step line and durations', () => {
    expect(formatStep(info())).toBe('epoch 2/4 step 300/936 loss 0.3012 lr 1.46e-3 312 img/s eta 5:12');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(59.6)).toBe('1:00');
    expect(formatDuration(NaN)).toBe('?');
  });

  it('prints a line every tenth of an epoch to a log file, and an epoch summary', () => {
    const out: string[] = [];
    const stdout = process.stdout as unknown as { isTTY?: boolean };
    const tty = stdout.isTTY;
    stdout.isTTY = false;
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
    try {
      const p = progressPrinter({ label: '[x]' });
      for (let s = 0; s < 234; s++) p.onStep(info({ step: s, epoch: 0, stepInEpoch: s }));
      p.onEpoch({ epoch: 0, epochs: 4, meanLoss: 0.59191, steps: 234, seconds: 87.06 });
    } finally {
      stdout.isTTY = tty;
    }
    expect(out).toHaveLength(1 + 10 + 1); // step 0, every 23 steps (10 times), summary
    expect(out[0]).toMatch(/^\[x\] epoch 1\/4 step {3}1\/936 loss/);
    expect(out.at(-1)).toBe('[x] epoch 1/4 loss 0.5919 (87.1 s)\n');
  });

  it('rewrites one line on a terminal', () => {
    const out: string[] = [];
    const stdout = process.stdout as unknown as { isTTY?: boolean };
    const tty = stdout.isTTY;
    stdout.isTTY = true;
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
    try {
      const p = progressPrinter();
      p.onStep(info());
      p.onEpoch({ epoch: 1, epochs: 4, meanLoss: 0.3, steps: 234, seconds: 80 });
    } finally {
      stdout.isTTY = tty;
    }
    expect(out[0].startsWith('\r[pretrain] epoch 2/4')).toBe(true);
    expect(out[1]).toBe('\n');
  });
});

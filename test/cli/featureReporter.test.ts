import { describe, expect, it } from 'vitest';
import { featureReporter } from '../../src/cli/progress';

describe('featureReporter', () => {
  it('prints one line per tenth of the images, none at the end, with the count', () => {
    const lines: string[] = [];
    const report = featureReporter({ out: (l: string) => lines.push(l), err: () => undefined } as never, 'features of train', 100);
    for (let done = 8; done <= 100; done += 8) report(done);
    report(100);
    expect(lines.length).toBe(9); // 16, 24, 32, 40, 56, 64, 72, 80, 96: the first count past each tenth
    expect(lines[0]).toMatch(/^\[features of train\] 16\/100 images, \d+ img\/s, eta \d+ s$/);
    expect(lines.at(-1)).toMatch(/^\[features of train\] 96\/100 images/);
  });
});

import { describe, expect, it } from 'vitest';
import { bytesSource, countingSource } from '../../src';

describe('countingSource', () => {
  it('passes reads through and reports the bytes read so far against the size', async () => {
    const data = Uint8Array.from({ length: 100 }, (_, i) => i);
    const seen: [number, number][] = [];
    const source = countingSource(bytesSource(data, 'w.bin'), (loaded, total) => seen.push([loaded, total]));
    expect(source.name).toBe('w.bin');
    expect(source.size).toBe(100);
    expect(Array.from(await source.read(10, 5))).toEqual([10, 11, 12, 13, 14]);
    expect(Array.from(await source.read(90, 10))).toEqual(Array.from(data.subarray(90)));
    expect(seen).toEqual([
      [5, 100],
      [15, 100],
    ]);
  });

  it('never reports more than the size when ranges are read again', async () => {
    const seen: number[] = [];
    const source = countingSource(bytesSource(new Uint8Array(8), 'w.bin'), (loaded) => seen.push(loaded));
    for (let i = 0; i < 3; i++) await source.read(0, 8);
    expect(seen).toEqual([8, 8, 8]);
  });
});

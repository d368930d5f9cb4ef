/** The contract every masking strategy's sample must meet, checked on the host. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import type { MaskSample } from '../../src/mask/strategy';

/** Reads a sample, checks dtypes, shapes and consistency, and returns the host values. */
export async function checkSample(s: MaskSample, n: number, l: number, lenKeep: number): Promise<{ keep: number[][]; restore: number[][]; mask: number[][] }> {
  expect(s.idsKeep.dtype).toBe('int32');
  expect(s.idsRestore.dtype).toBe('int32');
  expect(s.mask.dtype).toBe('float32');
  expect(s.idsKeep.shape).toEqual([n, lenKeep]);
  expect(s.idsRestore.shape).toEqual([n, l]);
  expect(s.mask.shape).toEqual([n, l]);
  const keep = (await s.idsKeep.array()) as number[][];
  const restore = (await s.idsRestore.array()) as number[][];
  const mask = (await s.mask.array()) as number[][];
  for (let i = 0; i < n; i++) {
    expect([...restore[i]].sort((a, b) => a - b)).toEqual(Array.from({ length: l }, (_, j) => j)); // a permutation
    keep[i].forEach((id, k) => expect(restore[i][id]).toBe(k)); // idsRestore[idsKeep[k]] = k
    expect(mask[i]).toEqual(restore[i].map((r) => (r >= lenKeep ? 1 : 0))); // 1 = removed
  }
  return { keep, restore, mask };
}

export function disposeSample(s: MaskSample): void {
  tf.dispose([s.idsKeep, s.idsRestore, s.mask]);
}

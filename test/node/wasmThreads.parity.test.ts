/**
 * Parity with the official PyTorch MAE on wasm at 2 threads: the same
 * fixtures and tolerances as test/parity.test.ts (1 thread).
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, type MaskedAutoencoder } from '../../src';
import { useWasmThreads } from '../../src/node/wasmThreads';
import { maeCases, readBytes } from '../helpers/fixtures';
import { expectForwardMatches, expectGradsMatch, officialModel } from '../helpers/parity';

const cases = maeCases();

describe('wasm, 2 threads', () => {
  beforeAll(async () => {
    const warnings: string[] = [];
    const setup = await useWasmThreads(2, { warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    expect(setup).toEqual({ threads: 2, requested: 2, fallbackReason: undefined });
    expect(tf.getBackend()).toBe('wasm');
    expect(getThreadsCount()).toBe(2);
  });
  afterAll(() => tf.removeBackend('wasm')); // terminates the worker threads

  it('finds fixture cases', () => expect(cases.length).toBeGreaterThan(0));

  for (const c of cases) {
    describe(c.name, () => {
      let ref: Record<string, tf.Tensor>;
      let model: MaskedAutoencoder;
      beforeAll(() => {
        ref = readSafetensors(readBytes(c.safetensors));
        model = officialModel(c, ref);
      });
      afterAll(() => {
        model.dispose();
        tf.dispose(Object.values(ref));
      });

      it(`${c.name} forward [wasm, 2 threads]`, () => expectForwardMatches(model, ref));
      it(`${c.name} grads [wasm, 2 threads]`, () => expectGradsMatch(model, ref));
    });
  }
});
